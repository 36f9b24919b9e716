package dev.csierofs.tools;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.TreeWalker;
import dev.csierofs.erofs.Xattr;
import dev.csierofs.sys.Libc;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.HashMap;
import java.util.Map;
import java.util.function.Consumer;

/**
 * Restores an image's tree into a directory: content, type, mode (setuid/setgid/sticky
 * included), owner, mtime with nanoseconds, symlinks, hard links, device nodes, fifos,
 * sockets and xattrs. All-zero blocks are left as holes. Directory metadata is applied after
 * their children are written, deepest first, so read-only directories can still be filled.
 */
public final class Extractor {
    private static final int BUF = 1 << 20;

    /** What an extraction produced. */
    public record Stats(long directories, long files, long symlinks, long specials, long hardLinks, long bytes) {
    }

    private final ErofsImage image;
    private final byte[] root;
    private final Consumer<String> progress;
    private final Map<Long, byte[]> linked = new HashMap<>();
    private final Deque<Pending> dirs = new ArrayDeque<>();
    private final byte[] buf = new byte[BUF];
    private final Arena arena = Arena.ofConfined();
    private final MemorySegment nbuf = arena.allocate(BUF, 4096);
    private long nDirs, nFiles, nLinks, nSpecial, nHard, nBytes;

    private record Pending(byte[] path, Inode inode) {
    }

    /** {@code progress} receives one line per extracted path (or null for silence). */
    public Extractor(ErofsImage image, Path target, Consumer<String> progress) {
        this.image = image;
        this.root = target.toAbsolutePath().toString().getBytes(StandardCharsets.UTF_8);
        this.progress = progress;
    }

    public Stats extract() throws IOException {
        Path target = Path.of(new String(root, StandardCharsets.UTF_8));
        if (Files.exists(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            if (!Files.isDirectory(target, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
                throw new IOException(target + " exists and is not a directory");
            }
            try (var s = Files.list(target)) {
                if (s.findAny().isPresent()) {
                    throw new IOException(target + " is not empty; extract into a new or empty directory");
                }
            }
        } else {
            Files.createDirectories(target);
        }
        try {
            new TreeWalker(image).walk(this::restore);
            while (!dirs.isEmpty()) {
                Pending p = dirs.pop();
                applyMetadata(p.path, p.inode);
            }
            return new Stats(nDirs, nFiles, nLinks, nSpecial, nHard, nBytes);
        } finally {
            arena.close();
        }
    }

    private byte[] dest(byte[] path) {
        if (path.length == 1 && path[0] == '/') {
            return root;
        }
        byte[] d = Arrays.copyOf(root, root.length + path.length);
        System.arraycopy(path, 0, d, root.length, path.length);
        return d;
    }

    private void restore(byte[] path, Inode inode) throws IOException {
        byte[] dst = dest(path);
        if (progress != null) {
            progress.accept(dev.csierofs.erofs.Escape.text(path));
        }
        if (inode.isDirectory()) {
            if (dst != root) {
                Libc.mkdir(dst, 0700);
            }
            nDirs++;
            dirs.push(new Pending(dst, inode));
            return;
        }
        if (inode.nlink() > 1) {
            byte[] first = linked.get(inode.nid());
            if (first != null) {
                Libc.link(first, dst);
                nHard++;
                return;
            }
            linked.put(inode.nid(), dst);
        }
        switch (inode.type()) {
            case Inode.S_IFREG -> {
                writeFile(dst, inode);
                nFiles++;
            }
            case Inode.S_IFLNK -> {
                Libc.symlink(image.readlink(inode), dst);
                nLinks++;
            }
            case Inode.S_IFCHR, Inode.S_IFBLK, Inode.S_IFIFO, Inode.S_IFSOCK -> {
                Libc.mknod(dst, inode.type() | 0600, inode.rdevMajor(), inode.rdevMinor());
                nSpecial++;
            }
            default -> throw new ErofsException(inode.label(), inode.iloc(), "unknown file type");
        }
        applyMetadata(dst, inode);
    }

    private void writeFile(byte[] dst, Inode inode) throws IOException {
        int fd = Libc.open(dst, Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_NOFOLLOW | Libc.O_CLOEXEC, 0600);
        try {
            FileData data = image.openData(inode);
            long size = inode.size();
            long pos = 0;
            while ((pos = data.nextData(pos)) < size) { // holes are skipped, not read as zeros
                int n = data.read(pos, buf, 0, (int) Math.min(BUF, size - pos));
                if (n <= 0) {
                    throw new ErofsException(inode.label(), pos, "data ends before its size " + size);
                }
                writeSkippingZeroBlocks(fd, n, pos);
                pos += n;
            }
            Libc.ftruncate(fd, size);
            nBytes += size;
        } finally {
            Libc.close(fd);
        }
    }

    /** Writes buf[0, n) at {@code pos}, leaving 4 KiB runs of zeros as holes. */
    private void writeSkippingZeroBlocks(int fd, int n, long pos) throws IOException {
        int start = 0;
        while (start < n) {
            int end = Math.min(n, start + 4096);
            if (isZero(start, end)) {
                start = end;
                continue;
            }
            int runEnd = end;
            while (runEnd < n) {
                int next = Math.min(n, runEnd + 4096);
                if (isZero(runEnd, next)) {
                    break;
                }
                runEnd = next;
            }
            MemorySegment.copy(buf, start, nbuf, ValueLayout.JAVA_BYTE, 0, runEnd - start);
            Libc.pwriteFully(fd, nbuf, runEnd - start, pos + start);
            start = runEnd;
        }
    }

    private boolean isZero(int from, int to) {
        return Arrays.mismatch(buf, from, to, ZEROS, 0, to - from) < 0;
    }

    private static final byte[] ZEROS = new byte[4096];

    /** Owner first (chown clears setuid bits and capabilities), then mode, xattrs, times. */
    private void applyMetadata(byte[] dst, Inode inode) throws IOException {
        Libc.lchown(dst, inode.uid(), inode.gid());
        if (!inode.isSymlink()) {
            Libc.chmod(dst, inode.permissions());
        }
        for (Xattr x : image.xattrs().list(inode)) {
            Libc.lsetxattr(dst, x.name(), x.value());
        }
        Libc.lutimens(dst, inode.mtime(), inode.mtimeNsec());
    }
}
