package dev.csierofs.erofs;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.concurrent.atomic.AtomicReferenceArray;

/**
 * One backing file of an image (the primary image or an extra device), read only through
 * positional reads so that any number of threads can share it without locking.
 *
 * <p>Small metadata reads (an inode here, a dirent there: 32 to 64 bytes each, thousands per
 * walk) go through {@link #readCached}, a direct-mapped cache of 4 KiB pages, so that a walk costs
 * one system call per page rather than one per inode. The cache is one for the whole process
 * (2 MiB), not one per image: a daemon serves many images, and after a first walk the kernel
 * keeps their attributes and entries itself. The file is deliberately not memory-mapped:
 * a file truncated under a mapping raises SIGBUS, which the JVM reports as an asynchronous
 * InternalError at an unpredictable later point.
 */
public final class ImageSource implements Closeable {
    private static final int PAGE_SHIFT = 12;
    private static final int PAGE = 1 << PAGE_SHIFT;
    private static final int CACHE_PAGES = 512; // a power of two
    private static final AtomicReferenceArray<Page> CACHE = new AtomicReferenceArray<>(CACHE_PAGES);
    private static final java.util.concurrent.atomic.AtomicLong IDS = new java.util.concurrent.atomic.AtomicLong();

    private final Path path;
    private final String name;
    private final FileChannel channel;
    private final long size;
    /** Names this source's pages in the shared cache (a closed source's pages just age out). */
    private final long id = IDS.incrementAndGet();

    /** One cached page of source {@code id}; immutable, so readers need no lock. */
    private record Page(long id, long index, byte[] bytes) {
    }

    /**
     * Empties the shared metadata cache (2 MiB when full). For a daemon gone idle: once the
     * kernel has looked a tree up it asks again only for what it forgot, and a miss costs one
     * read of a page the kernel most likely still caches.
     */
    public static void releaseCache() {
        for (int i = 0; i < CACHE_PAGES; i++) {
            CACHE.set(i, null);
        }
    }

    private ImageSource(Path path, FileChannel channel, long size) {
        this.path = path;
        this.name = path.toString();
        this.channel = channel;
        this.size = size;
    }

    public static ImageSource open(Path path) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            return new ImageSource(path, ch, ch.size());
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** The file behind this source, for callers that hand byte ranges to the kernel (copy_file_range). */
    public Path path() {
        return path;
    }

    /**
     * Asks the kernel to drop this file's clean pages from the page cache (after its data was
     * copied elsewhere, so the image's pages do not stay cached beside the copy). Best effort.
     */
    public void dropPageCache() {
        try {
            int fd = dev.csierofs.sys.Libc.open(path.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8),
                    dev.csierofs.sys.Libc.O_RDONLY | dev.csierofs.sys.Libc.O_CLOEXEC, 0);
            try {
                dev.csierofs.sys.Libc.fadvise(fd, 0, 0, dev.csierofs.sys.Libc.POSIX_FADV_DONTNEED);
            } finally {
                dev.csierofs.sys.Libc.close(fd);
            }
        } catch (dev.csierofs.sys.SyscallException e) {
            // a hint only: the pages stay cached and the kernel reclaims them in its own time
        }
    }

    public String name() {
        return name;
    }

    public long size() {
        return size;
    }

    /**
     * Reads exactly {@code len} bytes at {@code pos}. Reading past the end of the file is an
     * error naming {@code what}: every caller knows how many bytes the structure must have.
     */
    public void readFully(long pos, byte[] dst, int off, int len, String what) throws ErofsException {
        checkRange(pos, len, what);
        ByteBuffer bb = ByteBuffer.wrap(dst, off, len);
        long p = pos;
        try {
            while (bb.hasRemaining()) {
                int n = channel.read(bb, p);
                if (n < 0) {
                    throw new ErofsException(what, pos, name + " ended early (file shrank while in use?)");
                }
                p += n;
            }
        } catch (ErofsException e) {
            throw e;
        } catch (IOException e) {
            throw new ErofsException(what, pos, "read of " + name + " failed: " + e.getMessage(), e);
        }
    }

    /** {@link #readFully} through the page cache: for metadata, which is read in small pieces. */
    public void readCached(long pos, byte[] dst, int off, int len, String what) throws ErofsException {
        checkRange(pos, len, what);
        int done = 0;
        while (done < len) {
            long p = pos + done;
            long index = p >>> PAGE_SHIFT;
            // consecutive pages of one source take consecutive slots; sources start far apart
            int slot = (int) ((index + id * 157) & (CACHE_PAGES - 1));
            Page page = CACHE.get(slot);
            if (page == null || page.index != index || page.id != id) {
                int n = (int) Math.min(PAGE, size - (index << PAGE_SHIFT));
                byte[] b = new byte[n];
                readFully(index << PAGE_SHIFT, b, 0, n, what);
                page = new Page(id, index, b);
                CACHE.set(slot, page);
            }
            int inPage = (int) (p - (index << PAGE_SHIFT));
            int k = Math.min(len - done, page.bytes.length - inPage);
            System.arraycopy(page.bytes, inPage, dst, off + done, k);
            done += k;
        }
    }

    private void checkRange(long pos, int len, String what) throws ErofsException {
        if (pos < 0 || len < 0 || pos > size - len) {
            throw new ErofsException(what, pos, len + " bytes needed but " + name + " has only " + size + " bytes");
        }
    }

    @Override
    public void close() throws IOException {
        channel.close();
    }
}
