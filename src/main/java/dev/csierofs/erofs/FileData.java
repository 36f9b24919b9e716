package dev.csierofs.erofs;

/** Random access to the decoded bytes of one inode, whatever its data layout. Thread-safe. */
public interface FileData {
    /**
     * Copies up to {@code len} bytes at {@code pos} into {@code dst}; returns the count, which is
     * short only at end of file (0 at or past it). Holes read as zeros.
     */
    int read(long pos, byte[] dst, int off, int len) throws ErofsException;
}
