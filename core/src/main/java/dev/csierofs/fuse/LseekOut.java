package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct fuse_lseek_out} (8 bytes), the reply to LSEEK: the resulting offset. The kernel
 * sends LSEEK only for SEEK_DATA and SEEK_HOLE; answering ENOSYS makes it fall back to treating
 * the whole file as data.
 */
public record LseekOut(long offset) implements Reply.Body {
    public static final int SIZE = 8;

    @Override
    public int size() {
        return SIZE;
    }

    @Override
    public void writeTo(MemorySegment buf, long off) {
        Wire.putU64(buf, off, offset);
    }
}
