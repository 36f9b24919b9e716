package dev.csierofs.erofs;

import java.io.Closeable;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

/**
 * One backing file of an image (the primary image or an extra device), read only through
 * positional reads so that any number of threads can share it without locking.
 */
public final class ImageSource implements Closeable {

    private final Path path;
    private final String name;
    private final FileChannel channel;
    private final long size;

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
        channel.close();
    }
}
