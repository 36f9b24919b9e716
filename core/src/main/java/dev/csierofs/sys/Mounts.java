package dev.csierofs.sys;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * This process's view of the mount table, from {@code /proc/self/mountinfo} (proc(5)). Mount
 * points are absolute paths without symlinks, as the kernel shows them to this process.
 */
public final class Mounts {
    public static final String MOUNTINFO = "/proc/self/mountinfo";

    /** One line of mountinfo, with the kernel's octal escapes (\040 for a space...) undone. */
    public record Entry(int id, int parentId, String device, String root, String mountPoint, String mountOptions,
                        String fsType, String source, String superOptions) {

        /** Whether the per-mount options (ro, nosuid, nodev, relatime...) include {@code option}. */
        public boolean hasMountOption(String option) {
            return Arrays.asList(mountOptions.split(",")).contains(option);
        }

        /** Whether the filesystem's own options (user_id=0, allow_other...) include {@code option}. */
        public boolean hasSuperOption(String option) {
            return Arrays.asList(superOptions.split(",")).contains(option);
        }
    }

    private Mounts() {
    }

    /** Every mount this process sees, in the kernel's order (a mount comes after its parent). */
    public static List<Entry> read() throws SyscallException {
        return parse(new String(readProcFile(MOUNTINFO), StandardCharsets.UTF_8));
    }

    /** The mounts whose mount point is exactly {@code mountPoint}, bottom first. */
    public static List<Entry> at(String mountPoint) throws SyscallException {
        return at(read(), mountPoint);
    }

    static List<Entry> at(List<Entry> all, String mountPoint) {
        return all.stream().filter(e -> e.mountPoint().equals(mountPoint)).toList();
    }

    /** The mount visible at {@code mountPoint}: the topmost of those stacked there, if any. */
    public static Optional<Entry> top(String mountPoint) throws SyscallException {
        return top(at(mountPoint));
    }

    /** The topmost of mounts stacked on one point: the one no other of them is mounted on. */
    static Optional<Entry> top(List<Entry> stacked) {
        return stacked.stream().filter(e -> stacked.stream().noneMatch(o -> o.parentId() == e.id())).reduce((a, b) -> b);
    }

    static List<Entry> parse(String text) {
        List<Entry> out = new ArrayList<>();
        for (String line : text.split("\n")) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split(" ");
            int dash = Arrays.asList(f).indexOf("-");
            if (f.length < 10 || dash < 6 || f.length < dash + 4) {
                throw new IllegalStateException("unexpected " + MOUNTINFO + " line: " + line);
            }
            out.add(new Entry(Integer.parseInt(f[0]), Integer.parseInt(f[1]), f[2], unescape(f[3]), unescape(f[4]), f[5],
                    unescape(f[dash + 1]), unescape(f[dash + 2]), unescape(f[dash + 3])));
        }
        return out;
    }

    /** Undoes the kernel's mangling of space, tab, newline and backslash as \ooo. */
    static String unescape(String s) {
        if (s.indexOf('\\') < 0) {
            return s;
        }
        StringBuilder b = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c == '\\' && isOctal(s, i + 1) && isOctal(s, i + 2) && isOctal(s, i + 3)) {
                b.append((char) Integer.parseInt(s.substring(i + 1, i + 4), 8));
                i += 3;
            } else {
                b.append(c);
            }
        }
        return b.toString();
    }

    private static boolean isOctal(String s, int i) {
        return i < s.length() && s.charAt(i) >= '0' && s.charAt(i) <= '7';
    }

    /** A whole /proc file through read(2) (their size is unknown up front), with errno on failure. */
    private static byte[] readProcFile(String path) throws SyscallException {
        int fd = Libc.open(path.getBytes(StandardCharsets.UTF_8), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(65536);
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            long n;
            while ((n = Libc.read(fd, buf, buf.byteSize())) > 0) {
                out.writeBytes(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE));
            }
            return out.toByteArray();
        } finally {
            Libc.close(fd);
        }
    }
}
