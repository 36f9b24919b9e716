package dev.csierofs.tools;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Escape;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.TreeWalker;
import dev.csierofs.erofs.Xattr;
import dev.csierofs.sys.Libc;
import dev.csierofs.sys.SyscallException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;

/**
 * Restores an image's tree into a directory: content, type, mode (setuid/setgid/sticky
 * included), owner, mtime with nanoseconds, symlinks, hard links, device nodes, fifos,
 * sockets and xattrs. Holes (null chunks) stay holes. Bytes stored verbatim in the image
 * (uncompressed and chunked data) are copied file to file by the kernel (copy_file_range);
 * decoded content is written from memory with all-zero 4 KiB runs left as holes.
 *
 * <p>One thread walks the tree and creates the directories; everything else (file content,
 * symlinks, special files and their metadata) is created by a pool of workers, one per core. Second names of hard links are made once all
 * files exist, and directory metadata last, deepest first, so read-only directories can still
 * be filled and directory mtimes are not disturbed by later writes.
 *
 * <p>Nothing is written outside the target, whatever the image holds and whatever another
 * process does to the target meanwhile: the target is opened once (refused if it is a
 * symlink), every entry is created by name in a parent directory opened beneath it without
 * following any symlink ({@link Libc#openBeneath}), metadata is set through an fd of the entry
 * itself, and hard links join two names beneath it. Names no path can hold ("..", "a/b", empty,
 * NUL) are format errors found by the walk ({@link dev.csierofs.erofs.Directory#children}).
 */
public final class Extractor {
    private static final int BUF = 1 << 20;
    private static final int ZERO_RUN = 4096;
    private static final byte[] ZEROS = new byte[ZERO_RUN];

    /**
     * What an extraction produced. {@code skipped} counts what the caller lacked the privilege
     * (or the target filesystem the support) to restore, by kind, with one example path each.
     */
    public record Stats(long directories, long files, long symlinks, long specials, long hardLinks, long bytes,
            Map<String, Skipped> skipped) {
    }

    /** Metadata or entries of one kind that could not be restored: how many, and the first path. */
    public record Skipped(long count, String example) {
    }

    static final String SKIP_OWNERS = "owners (not root: files belong to the extracting user)";
    static final String SKIP_DEVICES = "device nodes (creating them needs CAP_MKNOD)";
    static final String SKIP_XATTRS = "xattrs (trusted.* and security.* need privileges; the target may not support others)";

    private static final int EPERM = 1;
    private static final int EOPNOTSUPP = 95;
    private final Map<String, Skipped> skipped = new java.util.concurrent.ConcurrentHashMap<>();

    /** An entry still to finish: its path in the image ("/a/b") and inode. */
    private record Pending(byte[] path, Inode inode) {
    }

    /** Per-worker buffers: decoded bytes on the heap, and native memory for pwrite. */
    private static final class Buffers {
        final byte[] heap = new byte[BUF];
        final MemorySegment nativeBuf = Arena.ofAuto().allocate(BUF, 4096);
    }

    /** errnos with which copy_file_range says "not between these files": EXDEV, EINVAL, ENOSYS, EOPNOTSUPP. */
    private static final java.util.Set<Integer> COPY_UNSUPPORTED = java.util.Set.of(18, 22, 38, 95);
    private volatile boolean copyInKernel = true;

    /** Read-only fds of the image's backing files, opened on first use for copy_file_range. */
    private final Map<Path, Integer> sourceFds = new java.util.concurrent.ConcurrentHashMap<>();

    private final ErofsImage image;
    private final Path target;
    /** The target directory, opened once (O_PATH): every entry is created beneath it. */
    private int rootFd = -1;
    private final Consumer<String> progress;
    private final int workers;
    private final Map<Long, byte[]> firstName = new HashMap<>();
    private final List<Pending> laterNames = new ArrayList<>();
    private final Deque<Pending> dirs = new ArrayDeque<>();
    private final ThreadLocal<Buffers> buffers = ThreadLocal.withInitial(Buffers::new);
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong filesWritten = new AtomicLong();
    private long nDirs, nFiles, nLinks, nSpecial;
    private Workers pool;

    /** {@code progress} receives one line per extracted path (or null for silence). */
    public Extractor(ErofsImage image, Path target, Consumer<String> progress) {
        this(image, target, progress, Math.max(2, Runtime.getRuntime().availableProcessors()));
    }

    public Extractor(ErofsImage image, Path target, Consumer<String> progress, int workers) {
        this.image = image;
        this.target = target.toAbsolutePath();
        this.progress = progress;
        this.workers = workers;
    }

    /** Progress for long extractions: regular files written so far and their bytes (any thread). */
    public long filesWritten() {
        return filesWritten.get();
    }

    public long bytesWritten() {
        return bytes.get();
    }

    /**
     * Extracts the whole tree. On failure nothing is left behind: what was written is removed
     * (the target too, if this call created it) and the error names the path that failed.
     */
    public Stats extract() throws IOException {
        boolean created = prepareTarget(target);
        pool = new Workers(workers, "extract-writer");
        try {
            rootFd = openTarget(target);
            return extractInto();
        } catch (IOException e) {
            removePartial(target, created);
            throw new IOException(e.getMessage() + " (extraction stopped; nothing was left in " + target + ")", e);
        } catch (RuntimeException e) {
            removePartial(target, created);
            throw e;
        } finally {
            pool.close();
            for (int fd : sourceFds.values()) {
                Libc.close(fd);
            }
            if (rootFd >= 0) {
                Libc.close(rootFd);
            }
        }
    }

    /** Opens the target itself, never a symlink in its place. */
    private static int openTarget(Path target) throws IOException {
        try {
            return Libc.open(target.toString().getBytes(StandardCharsets.UTF_8),
                    Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        } catch (SyscallException e) {
            throw new IOException(target + " is not a directory (a symlink is not followed): " + Libc.strerror(e.errno()), e);
        }
    }

    private Stats extractInto() throws IOException {
        new TreeWalker(image, (path, e) -> {
            throw e.at(Escape.text(path));
        }).walk(this::restore);
        pool.await();
        for (Pending p : laterNames) {
            byte[] first = firstName.get(p.inode.nid());
            int from = parentFd(first);
            try {
                int to = parentFd(p.path);
                try {
                    Libc.linkat(from, baseName(first), to, baseName(p.path));
                } finally {
                    closeParent(to);
                }
            } catch (SyscallException e) {
                throw failed(p.path, e);
            } finally {
                closeParent(from);
            }
        }
        while (!dirs.isEmpty()) {
            Pending p = dirs.pop();
            int fd;
            try {
                fd = isRoot(p.path) ? rootFd
                        : Libc.openBeneath(rootFd, relative(p.path), Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
            } catch (SyscallException e) {
                throw failed(p.path, e);
            }
            try {
                applyMetadata(fd, p.path, p.inode);
            } finally {
                closeParent(fd);
            }
        }
        return new Stats(nDirs, nFiles, nLinks, nSpecial, laterNames.size(), bytes.get(), Map.copyOf(skipped));
    }

    // ---------------------------------------------------------------- paths beneath the target

    private static boolean isRoot(byte[] path) {
        return path.length == 1 && path[0] == '/';
    }

    /** "/a/b/c" to "a/b/c". */
    private static byte[] relative(byte[] path) {
        return Arrays.copyOfRange(path, 1, path.length);
    }

    private static int lastSlash(byte[] path) {
        for (int i = path.length - 1; i >= 0; i--) {
            if (path[i] == '/') {
                return i;
            }
        }
        return -1;
    }

    private static byte[] baseName(byte[] path) {
        return Arrays.copyOfRange(path, lastSlash(path) + 1, path.length);
    }

    /**
     * The directory holding {@code path}, opened beneath the target without following a symlink
     * (an O_PATH fd; the target's own fd for top-level entries). Close with {@link #closeParent}.
     */
    private int parentFd(byte[] path) throws IOException {
        int slash = lastSlash(path);
        if (slash <= 0) {
            return rootFd;
        }
        try {
            return Libc.openBeneath(rootFd, Arrays.copyOfRange(path, 1, slash), Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        } catch (SyscallException e) {
            throw failed(Arrays.copyOf(path, slash), e); // e.g. ELOOP: a symlink where a directory of ours was
        }
    }

    private void closeParent(int fd) throws SyscallException {
        if (fd != rootFd) {
            Libc.close(fd);
        }
    }

    /** A failed call on an entry, named by its path in the image. */
    private static IOException failed(byte[] path, SyscallException e) {
        return new SyscallException(e.call(), Escape.text(path), e.errno(), Libc.strerror(e.errno()));
    }

    /** Removes a failed extraction: the target if we created it, else what we put in it. */
    private void removePartial(Path target, boolean created) {
        try {
            pool.close(); // no worker may still be creating files while we remove them
            // rm copes with names that are not valid in the JVM's file name encoding
            new ProcessBuilder("rm", "-rf", "--one-file-system", target.toString()).inheritIO().start().waitFor();
            if (!created) {
                Files.createDirectories(target); // it was there, and empty, before
            }
        } catch (IOException | InterruptedException e) {
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            // best effort: the extraction error is what the caller must see
        }
    }

    /** Checks the target and creates it if missing; returns whether it was created. */
    private static boolean prepareTarget(Path target) throws IOException {
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            if (Files.isSymbolicLink(target)) {
                throw new IOException(target + " is a symlink; give the directory itself (a symlink is not followed)");
            }
            if (!Files.isDirectory(target, LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException(target + " exists and is not a directory");
            }
            try (var s = Files.list(target)) {
                if (s.findAny().isPresent()) {
                    throw new IOException(target + " is not empty; extract into a new or empty directory");
                }
            }
            return false;
        }
        Files.createDirectories(target);
        return true;
    }

    private void restore(byte[] path, Inode inode) throws IOException {
        if (progress != null) {
            progress.accept(Escape.text(path));
        }
        if (inode.isDirectory()) {
            if (!isRoot(path)) {
                int parent = parentFd(path);
                try {
                    Libc.mkdirat(parent, baseName(path), 0700);
                } catch (SyscallException e) {
                    throw failed(path, e);
                } finally {
                    closeParent(parent);
                }
            }
            nDirs++;
            dirs.push(new Pending(path, inode));
            return;
        }
        if (inode.nlink() > 1) {
            if (firstName.containsKey(inode.nid())) {
                laterNames.add(new Pending(path, inode));
                return;
            }
            firstName.put(inode.nid(), path);
        }
        if (inode.isRegular()) {
            nFiles++;
        } else if (inode.isSymlink()) {
            nLinks++;
        } else {
            nSpecial++; // Inode.parse admits only the seven file types
        }
        // Everything but directories is created by the workers: the parent exists already.
        pool.submit(() -> {
            int parent = parentFd(path);
            try {
                create(parent, path, inode);
            } catch (ErofsException e) {
                throw e.at(Escape.text(path));
            } catch (SyscallException e) {
                throw failed(path, e);
            } finally {
                closeParent(parent);
            }
        });
    }

    private void create(int parent, byte[] path, Inode inode) throws IOException {
        byte[] name = baseName(path);
        if (inode.isRegular()) {
            int fd = Libc.openat(parent, name, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0600);
            try {
                writeFile(fd, inode);
                applyMetadata(fd, path, inode);
            } finally {
                Libc.close(fd);
            }
            return;
        }
        if (inode.isSymlink()) {
            Libc.symlinkat(image.readlink(inode), parent, name);
        } else {
            try {
                Libc.mknodat(parent, name, inode.type() | 0600, inode.rdevMajor(), inode.rdevMinor());
            } catch (SyscallException e) {
                if (e.errno() == EPERM && inode.isDevice()) {
                    skip(SKIP_DEVICES, path);
                    return;
                }
                throw e;
            }
        }
        // the entry itself, never what a symlink (ours, or one put in its place) points to
        int fd = Libc.openat(parent, name, Libc.O_PATH | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0);
        try {
            applyMetadata(fd, path, inode);
        } finally {
            Libc.close(fd);
        }
    }

    private void skip(String kind, byte[] path) {
        skipped.merge(kind, new Skipped(1, Escape.text(path)), (a, b) -> new Skipped(a.count() + 1, a.example()));
    }

    private void writeFile(int fd, Inode inode) throws IOException {
        Buffers b = buffers.get();
        FileData data = image.openData(inode);
        long size = inode.size();
        long pos = 0;
        while ((pos = data.nextData(pos)) < size) { // holes are skipped, not read as zeros
            ErofsImage.StoredRange stored = copyInKernel ? data.stored(pos) : null;
            if (stored != null) {
                // verbatim bytes (uncompressed or chunked data): the kernel copies them file to file
                long n = Math.min(stored.length(), size - pos);
                try {
                    Libc.copyFileRange(sourceFd(stored.source().path()), stored.offset(), fd, pos, n);
                    pos += n;
                    continue;
                } catch (SyscallException e) {
                    if (!COPY_UNSUPPORTED.contains(e.errno())) {
                        throw e;
                    }
                    copyInKernel = false; // e.g. EXDEV across filesystems on older kernels: copy through memory
                }
            }
            int n = data.read(pos, b.heap, 0, (int) Math.min(BUF, size - pos));
            if (n <= 0) {
                throw new ErofsException(inode.label(), pos, "data ends before its size " + size);
            }
            writeSkippingZeroRuns(b, fd, n, pos);
            pos += n;
        }
        Libc.ftruncate(fd, size);
        bytes.addAndGet(size);
        filesWritten.incrementAndGet();
    }

    private int sourceFd(Path p) throws IOException {
        Integer fd = sourceFds.get(p);
        if (fd == null) {
            synchronized (sourceFds) {
                fd = sourceFds.get(p);
                if (fd == null) {
                    fd = Libc.open(p.toString().getBytes(StandardCharsets.UTF_8), Libc.O_CLOEXEC, 0);
                    sourceFds.put(p, fd);
                }
            }
        }
        return fd;
    }

    /** Writes heap[0, n) at file offset {@code pos}, leaving aligned 4 KiB runs of zeros as holes. */
    private static void writeSkippingZeroRuns(Buffers b, int fd, int n, long pos) throws IOException {
        int start = 0;
        while (start < n) {
            int end = Math.min(n, start + ZERO_RUN);
            if (isZero(b.heap, start, end)) {
                start = end;
                continue;
            }
            int runEnd = end;
            while (runEnd < n) {
                int next = Math.min(n, runEnd + ZERO_RUN);
                if (isZero(b.heap, runEnd, next)) {
                    break;
                }
                runEnd = next;
            }
            MemorySegment.copy(b.heap, start, b.nativeBuf, ValueLayout.JAVA_BYTE, 0, runEnd - start);
            Libc.pwriteFully(fd, b.nativeBuf, runEnd - start, pos + start);
            start = runEnd;
        }
    }

    private static boolean isZero(byte[] buf, int from, int to) {
        return Arrays.mismatch(buf, from, to, ZEROS, 0, to - from) < 0;
    }

    /**
     * Owner first (chown clears setuid bits and capabilities), then mode, xattrs, times, all
     * through {@code fd} (which refers to the entry itself, a symlink included) or its /proc
     * path, so a name swapped meanwhile cannot redirect them. What an unprivileged user cannot set
     * (other owners, trusted.* xattrs) is skipped and counted, as tar does, rather than failing
     * the whole extraction.
     */
    private void applyMetadata(int fd, byte[] path, Inode inode) throws IOException {
        byte[] self = Libc.procFd(fd);
        try {
            try {
                Libc.fchown(fd, inode.uid(), inode.gid());
            } catch (SyscallException e) {
                if (e.errno() != EPERM) {
                    throw e;
                }
                skip(SKIP_OWNERS, path);
            }
            if (!inode.isSymlink()) {
                Libc.chmod(self, inode.permissions());
            }
            for (Xattr x : image.xattrs().list(inode)) {
                try {
                    Libc.setxattr(self, x.name(), x.value());
                } catch (SyscallException e) {
                    if (e.errno() != EPERM && e.errno() != EOPNOTSUPP) {
                        throw e;
                    }
                    skip(SKIP_XATTRS, path);
                }
            }
            Libc.utimens(self, inode.mtime(), inode.mtimeNsec());
        } catch (SyscallException e) {
            throw failed(path, e);
        }
    }
}
