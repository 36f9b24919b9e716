package dev.csierofs.erofs;

/** Random access to the decoded bytes of one inode, whatever its data layout. Thread-safe. */
public interface FileData {
    /**
     * Copies up to {@code len} bytes at {@code pos} into {@code dst}; returns the count, which is
     * short only at end of file (0 at or past it). Holes read as zeros.
     */
    int read(long pos, byte[] dst, int off, int len) throws ErofsException;

    /**
     * How many bytes a read of {@code len} at {@code pos} returns for {@code inode}: short at end
     * of file, 0 past it. A negative position is refused, never served from before the data.
     */
    static int readLength(Inode inode, long pos, int len) throws ErofsException {
        if (pos < 0) {
            throw new ErofsException(inode.label(), pos, "negative read position");
        }
        long size = inode.size();
        return pos >= size || len <= 0 ? 0 : (int) Math.min(len, size - pos);
    }

    /**
     * SEEK_DATA: the first offset at or after {@code pos} that may hold data, or the file size if
     * only a hole remains. A layout that cannot tell holes apart answers {@code pos}.
     */
    default long nextData(long pos) throws ErofsException {
        return pos;
    }

    /**
     * SEEK_HOLE: the first offset at or after {@code pos} (within the file) that lies in a hole,
     * or the file size, the implicit hole at the end, when only data remains.
     */
    long nextHole(long pos) throws ErofsException;

    /**
     * Where the bytes at {@code pos} are stored verbatim in a backing file, and for how long, so
     * they can be copied without decoding; null when they are not (compressed, inline, a hole).
     */
    default ErofsImage.StoredRange stored(long pos) throws ErofsException {
        return null;
    }
}
