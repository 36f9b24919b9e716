package dev.csierofs.erofs;

import java.io.Closeable;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One backing file of an image (the primary image or an extra device). It is memory-mapped
 * read-only, so metadata lookups (an inode here, a dirent there) are memory copies out of the
 * page cache rather than a system call each; any number of threads share it without locking.
 * Files that cannot be mapped are read with positional reads instead.
 */
public final class ImageSource implements Closeable {

    private final Path path;
    private final String name;
    private final FileChannel channel;
    private final long size;
    private final Arena arena;
    private final MemorySegment map;

    private ImageSource(Path path, FileChannel channel, long size, Arena arena, MemorySegment map) {
        this.path = path;
        this.name = path.toString();
        this.channel = channel;
        this.size = size;
        this.arena = arena;
        this.map = map;
    }

    public static ImageSource open(Path path) throws IOException {
        FileChannel ch = FileChannel.open(path, StandardOpenOption.READ);
        try {
            long size = ch.size();
            Arena arena = null;
            MemorySegment map = null;
            if (size > 0) {
                arena = Arena.ofShared();
                try {
                    map = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
                } catch (IOException | UnsupportedOperationException e) {
                    arena.close(); // not mappable (a pipe, a special file): positional reads only
                    arena = null;
                }
            }
            return new ImageSource(path, ch, size, arena, map);
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
    }

    /** The file behind this source, for callers that hand byte ranges to the kernel (copy_file_range). */
    public Path path() {
        return path;
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
        if (pos < 0 || len < 0 || pos > size - len) {
            throw new ErofsException(what, pos, len + " bytes needed but " + name + " has only " + size + " bytes");
        }
        if (map != null) {
            try {
                MemorySegment.copy(map, ValueLayout.JAVA_BYTE, pos, dst, off, len);
                return;
            } catch (InternalError e) {
                // the JVM's report of SIGBUS: the file was truncated under the mapping
                throw new ErofsException(what, pos, name + " ended early (file shrank while in use?)", e);
            }
        }
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

    @Override
    public void close() throws IOException {
        if (arena != null) {
            arena.close();
        }
        channel.close();
    }
}
