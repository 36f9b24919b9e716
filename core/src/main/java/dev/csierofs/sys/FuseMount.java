package dev.csierofs.sys;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.regex.Pattern;

/**
 * A FUSE filesystem mounted with mount(2) for a {@link FuseDevice}, without libfuse or
 * fusermount: type {@code fuse.<subtype>}, read-only, nosuid, nodev, {@code allow_other} (so pods
 * running as any uid can read it), {@code max_read=1048576}, a directory as root, and the
 * caller's effective uid/gid as the mount's owner.
 *
 * <p>mount(2) returns before the daemon has answered INIT; the kernel queues requests (INIT
 * first) on the device until the daemon reads them. {@link #unmount()} is lazy (MNT_DETACH):
 * the mount disappears at once, the connection ends when its last user is gone, and reads on the
 * device then fail with ENODEV (no DESTROY request comes).
 *
 * <p>Everything this class puts into the kernel's comma-separated option string is either a
 * number or a constant; the subtype and source, which show up in the mount table, are validated
 * and refused (EINVAL) rather than escaped, since the kernel has no escaping for them.
 */
public final class FuseMount implements AutoCloseable {
    public static final int DEFAULT_MAX_READ = 1 << 20;

    /** How to mount: read-only by default; {@code defaultPermissions} makes the kernel check modes. */
    public record Options(boolean readOnly, boolean defaultPermissions, int maxRead) {
        public static final Options DEFAULTS = new Options(true, false, DEFAULT_MAX_READ);

        public Options {
            if (maxRead < 4096) {
                throw new IllegalArgumentException("max_read must be at least 4096, got " + maxRead);
            }
        }
    }

    private static final Pattern SUBTYPE = Pattern.compile("[A-Za-z0-9_+-][A-Za-z0-9._+-]{0,63}");
    private static final int MAX_SOURCE_BYTES = 4095;

    private final Path mountPoint;
    private final String type;
    private final String source;
    private final int connection;
    private boolean mounted = true;

    private FuseMount(Path mountPoint, String type, String source, int connection) {
        this.mountPoint = mountPoint;
        this.type = type;
        this.source = source;
        this.connection = connection;
    }

    /** Mounts with {@link Options#DEFAULTS}. */
    public static FuseMount mount(FuseDevice device, Path dir, String subtype, String source) throws SyscallException {
        return mount(device, dir, subtype, source, Options.DEFAULTS);
    }

    /**
     * Mounts a FUSE filesystem served through {@code device} at {@code dir}, shown in the mount
     * table with type {@code fuse.<subtype>} and {@code source} (e.g. the image path). Refuses,
     * before touching the kernel: a subtype other than letters, digits and {@code ._+-}; a source
     * that is empty or has commas, whitespace or control characters (EINVAL); a missing
     * {@code dir} (ENOENT) or one that is not a directory (ENOTDIR); a {@code dir} that already
     * has a mount of this type (EBUSY).
     */
    public static FuseMount mount(FuseDevice device, Path dir, String subtype, String source, Options options)
            throws SyscallException {
        String shown = String.valueOf(dir);
        checkSubtype(shown, subtype);
        checkSource(shown, source);
        device.ensureOpen("mount");
        String type = "fuse." + subtype;
        String target = canonicalDirectory(dir);
        for (Mounts.Entry e : Mounts.at(target)) {
            if (e.fsType().equals(type)) {
                throw refused(shown, Errno.EBUSY, "it already has a " + type + " mount of "
                        + e.source() + " (mount id " + e.id() + "); unmount it first");
            }
        }
        long flags = Libc.MS_NOSUID | Libc.MS_NODEV | (options.readOnly() ? Libc.MS_RDONLY : 0);
        try {
            Libc.mount(source, target, type, flags, optionString(device.fd(), Libc.geteuid(), Libc.getegid(), options));
        } catch (SyscallException e) {
            String hint = switch (e.errno()) {
                case Errno.EPERM -> "mounting needs CAP_SYS_ADMIN";
                case Errno.ENODEV -> "this kernel has no fuse filesystem (is the fuse module loaded?)";
                case Errno.EINVAL -> "the kernel refused the options or fd " + device.fd() + " is not a fresh " + FuseDevice.PATH + " fd";
                default -> null;
            };
            if (hint == null) {
                throw e;
            }
            SyscallException h = new SyscallException(e.call(), e.subject(), e.errno(), Libc.strerror(e.errno()) + "; " + hint);
            h.initCause(e);
            throw h;
        }
        // the new mount is the top of the stack at target: its device minor names the connection
        List<Mounts.Entry> stack = Mounts.at(target);
        int connection = stack.isEmpty() ? -1 : FuseControl.connectionOf(stack.getLast());
        return new FuseMount(Path.of(target), type, source, connection);
    }

    /** The connection id (fusectl directory name), or -1 if the mount could not be found right after mounting. */
    public int connection() {
        return connection;
    }

    /** The mount options handed to the kernel: numbers and constants only. */
    static String optionString(int fd, int uid, int gid, Options options) {
        return "fd=" + fd
                + ",rootmode=40000"
                + ",user_id=" + Integer.toUnsignedString(uid)
                + ",group_id=" + Integer.toUnsignedString(gid)
                + ",allow_other"
                + (options.defaultPermissions() ? ",default_permissions" : "")
                + ",max_read=" + options.maxRead();
    }

    /** The mount point, as the mount table shows it (absolute, symlinks resolved). */
    public Path mountPoint() {
        return mountPoint;
    }

    /** {@code fuse.<subtype>}. */
    public String type() {
        return type;
    }

    public String source() {
        return source;
    }

    /**
     * Detaches the mount lazily (umount2 MNT_DETACH). Returns false if it was already gone (an
     * earlier call, or someone else unmounted it). Refuses (EBUSY) when another mount is stacked
     * on top of ours, since unmounting the path would detach that one instead.
     */
    public synchronized boolean unmount() throws SyscallException {
        if (!mounted) {
            return false;
        }
        boolean detached = detach(mountPoint, type, source);
        mounted = false;
        return detached;
    }

    /** {@link #unmount()}. */
    @Override
    public void close() throws SyscallException {
        unmount();
    }

    /**
     * Lazily unmounts the {@code fuse.<subtype>} mount at {@code dir} without a FuseMount object
     * (e.g. after a restart). Returns false if {@code dir} has no such mount.
     */
    public static boolean detach(Path dir, String subtype) throws SyscallException {
        checkSubtype(String.valueOf(dir), subtype);
        return detach(Path.of(canonicalDirectory(dir)), "fuse." + subtype, null);
    }

    /**
     * Whether {@code dir} has a {@code fuse.<subtype>} mount (anywhere in its stack); false if
     * {@code dir} is missing or not a directory.
     */
    public static boolean isMounted(Path dir, String subtype) throws SyscallException {
        String target;
        try {
            target = canonicalDirectory(dir);
        } catch (SyscallException e) {
            if (e.errno() == Errno.ENOENT || e.errno() == Errno.ENOTDIR) {
                return false;
            }
            throw e;
        }
        return Mounts.at(target).stream().anyMatch(e -> e.fsType().equals("fuse." + subtype));
    }

    private static boolean detach(Path mountPoint, String type, String source) throws SyscallException {
        String target = mountPoint.toString();
        List<Mounts.Entry> stacked = Mounts.at(target);
        boolean ours = stacked.stream().anyMatch(e -> isOurs(e, type, source));
        if (!ours) {
            return false;
        }
        Optional<Mounts.Entry> top = Mounts.top(stacked);
        if (top.isPresent() && !isOurs(top.get(), type, source)) {
            throw new SyscallException("umount2", target, Errno.EBUSY, Libc.strerror(Errno.EBUSY) + ": a " + top.get().fsType()
                    + " mount of " + top.get().source() + " is stacked on top of the " + type + " mount; refusing to detach it");
        }
        Libc.umount2(target, Libc.MNT_DETACH | Libc.UMOUNT_NOFOLLOW);
        return true;
    }

    private static boolean isOurs(Mounts.Entry e, String type, String source) {
        return e.fsType().equals(type) && (source == null || e.source().equals(source));
    }

    /**
     * Opens {@code dir} as O_PATH|O_DIRECTORY (which also works on a stale FUSE mount point) and
     * returns the path the kernel has for it, as the mount table will show it.
     */
    private static String canonicalDirectory(Path dir) throws SyscallException {
        String shown = String.valueOf(dir);
        int fd;
        try {
            fd = Libc.open(dir.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8),
                    Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        } catch (SyscallException e) {
            String why = switch (e.errno()) {
                case Errno.ENOENT -> "mount point does not exist";
                case Errno.ENOTDIR -> "mount point is not a directory";
                case Errno.ENOTCONN -> "mount point is on a FUSE mount whose daemon is gone";
                default -> "cannot open the mount point";
            };
            SyscallException r = refused(shown, e.errno(), why);
            r.initCause(e);
            throw r;
        }
        try {
            String link = Files.readSymbolicLink(Path.of("/proc/self/fd/" + fd)).toString();
            if (!link.startsWith("/") || link.endsWith(" (deleted)")) {
                throw refused(shown, Errno.ENOENT, "mount point is not reachable from this process's root (" + link + ")");
            }
            return link;
        } catch (IOException e) {
            if (e instanceof SyscallException s) {
                throw s;
            }
            SyscallException r = new SyscallException("readlink", "/proc/self/fd/" + fd + " (" + shown + ")", Errno.EIO, e.toString());
            r.initCause(e);
            throw r;
        } finally {
            Libc.close(fd);
        }
    }

    private static void checkSubtype(String dir, String subtype) throws SyscallException {
        if (subtype == null || !SUBTYPE.matcher(subtype).matches()) {
            throw refused(dir, Errno.EINVAL, "FUSE subtype " + quote(subtype)
                    + " refused: use 1 to 64 letters, digits and ._+- (no commas, spaces or control characters)");
        }
    }

    private static void checkSource(String dir, String source) throws SyscallException {
        if (source == null || source.isEmpty()) {
            throw refused(dir, Errno.EINVAL, "FUSE mount source must not be empty");
        }
        for (int i = 0; i < source.length(); ) {
            int c = source.codePointAt(i);
            if (c == ',' || Character.isWhitespace(c) || Character.isSpaceChar(c) || Character.isISOControl(c)
                    || Character.getType(c) == Character.FORMAT || Character.getType(c) == Character.SURROGATE) {
                throw refused(dir, Errno.EINVAL, "FUSE mount source " + quote(source) + " refused: character "
                        + String.format("U+%04X", c) + " at index " + i + " (commas, whitespace and control characters are not allowed)");
            }
            i += Character.charCount(c);
        }
        if (source.getBytes(StandardCharsets.UTF_8).length > MAX_SOURCE_BYTES) {
            throw refused(dir, Errno.EINVAL, "FUSE mount source is longer than " + MAX_SOURCE_BYTES + " bytes");
        }
    }

    private static SyscallException refused(String dir, int errno, String why) {
        return new SyscallException("mount", dir, errno, Libc.strerror(errno) + ": " + why);
    }

    /** A string for an error message, with control characters made visible. */
    private static String quote(String s) {
        if (s == null) {
            return "null";
        }
        StringBuilder b = new StringBuilder("\"");
        s.codePoints().forEach(c -> {
            if (Character.isISOControl(c) || c == '"' || c == '\\') {
                b.append(String.format("\\u%04x", c));
            } else {
                b.appendCodePoint(c);
            }
        });
        return b.append('"').toString();
    }
}
