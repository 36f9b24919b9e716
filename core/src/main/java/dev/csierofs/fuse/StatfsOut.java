package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct fuse_statfs_out}, i.e. {@code struct fuse_kstatfs} (80 bytes), the reply to
 * STATFS: block counts in units of {@code frsize} (the kernel reports {@code bsize} as the
 * preferred I/O size), inode counts and the longest name.
 */
public record StatfsOut(long blocks, long bfree, long bavail, long files, long ffree, int bsize, int namelen, int frsize)
        implements Reply.Body {
    public static final int SIZE = 80;

    @Override
    public int size() {
        return SIZE;
    }

    @Override
    public void writeTo(MemorySegment buf, long offset) {
        Wire.putU64(buf, offset, blocks);
        Wire.putU64(buf, offset + 8, bfree);
        Wire.putU64(buf, offset + 16, bavail);
        Wire.putU64(buf, offset + 24, files);
        Wire.putU64(buf, offset + 32, ffree);
        Wire.putU32(buf, offset + 40, bsize);
        Wire.putU32(buf, offset + 44, namelen);
        Wire.putU32(buf, offset + 48, frsize);
        buf.asSlice(offset + 52, SIZE - 52).fill((byte) 0);
    }
}
