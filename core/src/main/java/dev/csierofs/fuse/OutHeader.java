package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct fuse_out_header}, the 16 bytes in front of every reply: total length, the
 * negated errno (0 for success) and the {@code unique} of the request answered.
 * {@link Reply} writes it; {@link #read} exists for tests and tools that inspect replies.
 */
public record OutHeader(int len, int error, long unique) {
    public static final int SIZE = 16;

    public void writeTo(MemorySegment buf, long offset) {
        Wire.putU32(buf, offset, len);
        Wire.putU32(buf, offset + 4, error);
        Wire.putU64(buf, offset + 8, unique);
    }

    public static OutHeader read(MemorySegment buf, long offset) {
        return new OutHeader(Wire.u32(buf, offset), Wire.u32(buf, offset + 4), Wire.u64(buf, offset + 8));
    }

    /** Writes a header at offset 0 without allocating. */
    static void write(MemorySegment buf, int len, int error, long unique) {
        Wire.putU32(buf, 0, len);
        Wire.putU32(buf, 4, error);
        Wire.putU64(buf, 8, unique);
    }
}
