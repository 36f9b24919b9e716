package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct fuse_attr} (88 bytes): an inode's attributes inside {@link EntryOut},
 * {@link AttrOut} and READDIRPLUS entries. Times are seconds since the epoch plus nanoseconds;
 * {@code blocks} counts 512-byte units; {@code rdev} is in the kernel's u32 device encoding
 * ({@link #encodeDev}); {@code mode}, {@code nlink}, {@code uid}, {@code gid}, {@code blksize} and
 * {@code flags} are raw u32.
 */
public record Attr(
        long ino,
        long size,
        long blocks,
        long atime,
        long mtime,
        long ctime,
        int atimeNsec,
        int mtimeNsec,
        int ctimeNsec,
        int mode,
        int nlink,
        int uid,
        int gid,
        int rdev,
        int blksize,
        int flags) {

    public static final int SIZE = 88;
    /** All zero: the attributes of a negative lookup or of a READDIRPLUS entry sent without them. */
    public static final Attr NONE = new Attr(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0);

    /** These attributes with another link count. */
    public Attr withNlink(int links) {
        return new Attr(ino, size, blocks, atime, mtime, ctime, atimeNsec, mtimeNsec, ctimeNsec, mode, links, uid, gid, rdev, blksize,
                flags);
    }

    public void writeTo(MemorySegment buf, long offset) {
        Wire.putU64(buf, offset, ino);
        Wire.putU64(buf, offset + 8, size);
        Wire.putU64(buf, offset + 16, blocks);
        Wire.putU64(buf, offset + 24, atime);
        Wire.putU64(buf, offset + 32, mtime);
        Wire.putU64(buf, offset + 40, ctime);
        Wire.putU32(buf, offset + 48, atimeNsec);
        Wire.putU32(buf, offset + 52, mtimeNsec);
        Wire.putU32(buf, offset + 56, ctimeNsec);
        Wire.putU32(buf, offset + 60, mode);
        Wire.putU32(buf, offset + 64, nlink);
        Wire.putU32(buf, offset + 68, uid);
        Wire.putU32(buf, offset + 72, gid);
        Wire.putU32(buf, offset + 76, rdev);
        Wire.putU32(buf, offset + 80, blksize);
        Wire.putU32(buf, offset + 84, flags);
    }

    /**
     * A device number in the encoding {@code fuse_attr.rdev} uses (the kernel's
     * {@code new_encode_dev}): minor's low byte, then 12 bits of major, then the rest of minor.
     */
    public static int encodeDev(int major, int minor) {
        return (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & ~0xff) << 12);
    }
}
