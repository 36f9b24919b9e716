package dev.csierofs.erofs;

/**
 * An on-disk inode, compact (32 bytes) or extended (64 bytes), decoded. {@code iloc} is the
 * byte position of the inode in its metadata space: the primary device, or the decompressed
 * metabox when {@code inMetabox}.
 */
public record Inode(
        long nid,
        boolean inMetabox,
        long iloc,
        int format,
        boolean extended,
        int layout,
        int xattrIcount,
        int mode,
        long size,
        long nlink,
        long uid,
        long gid,
        long mtime,
        int mtimeNsec,
        long startBlk,
        long rawIu,
        int rdevMajor,
        int rdevMinor,
        long ino) {

    public static final int COMPACT_SIZE = 32;
    public static final int EXTENDED_SIZE = 64;

    public static final int FLAT_PLAIN = 0;
    public static final int COMPRESSED_FULL = 1;
    public static final int FLAT_INLINE = 2;
    public static final int COMPRESSED_COMPACT = 3;
    public static final int CHUNK_BASED = 4;

    public static final int S_IFMT = 0170000;
    public static final int S_IFSOCK = 0140000;
    public static final int S_IFLNK = 0120000;
    public static final int S_IFREG = 0100000;
    public static final int S_IFBLK = 0060000;
    public static final int S_IFDIR = 0040000;
    public static final int S_IFCHR = 0020000;
    public static final int S_IFIFO = 0010000;

    /** All-ones block address: a FLAT_PLAIN inode without data blocks (a hole file). */
    public static final long NULL_ADDR = -1L;

    public int inodeSize() {
        return extended ? EXTENDED_SIZE : COMPACT_SIZE;
    }

    /** Size of the inline xattr area that follows the inode. */
    public int xattrSize() {
        return xattrIcount == 0 ? 0 : 12 + 4 * (xattrIcount - 1);
    }

    /** Position right after the inode and its inline xattrs: inline data, chunk or cluster indexes. */
    public long tailPos() {
        return iloc + inodeSize() + xattrSize();
    }

    public int type() {
        return mode & S_IFMT;
    }

    public int permissions() {
        return mode & 07777;
    }

    public boolean isDirectory() {
        return type() == S_IFDIR;
    }

    public boolean isRegular() {
        return type() == S_IFREG;
    }

    public boolean isSymlink() {
        return type() == S_IFLNK;
    }

    public boolean isDevice() {
        return type() == S_IFCHR || type() == S_IFBLK;
    }

    public boolean isCompressed() {
        return layout == COMPRESSED_FULL || layout == COMPRESSED_COMPACT;
    }

    /** Directories only: the "." entry is not stored (EROFS_I_DOT_OMITTED). */
    public boolean dotOmitted() {
        return isDirectory() && ((format >> 4) & 1) != 0;
    }

    /** CHUNK_BASED only: the chunk format word (blkbits, indexes, 48-bit flags). */
    public int chunkFormat() {
        return (int) (rawIu & 0xffff);
    }

    /** A short name for messages: "inode 1234" or "metabox inode 56". */
    public String label() {
        return label(nid);
    }

    public static String label(long nid) {
        return (nid & Superblock.METABOX_BIT) != 0
                ? "metabox inode " + (nid & ~Superblock.METABOX_BIT)
                : "inode " + nid;
    }

    /**
     * Decodes the inode from {@code b}, which holds 64 bytes from its position (or 32 if only a
     * compact inode fits before the end of its metadata space).
     */
    static Inode parse(long nid, boolean inMetabox, long iloc, byte[] b, int avail, Superblock sb) throws ErofsException {
        String what = label(nid);
        int format = Le.u16(b, 0);
        if ((format & ~0x1f) != 0) {
            throw new ErofsException(what, iloc, "unsupported i_format 0x" + Integer.toHexString(format));
        }
        boolean ext = (format & 1) != 0;
        int layout = (format >> 1) & 7;
        if (layout > CHUNK_BASED) {
            throw new ErofsException(what, iloc, "unknown data layout " + layout);
        }
        if (ext && avail < EXTENDED_SIZE) {
            throw new ErofsException(what, iloc, "extended inode runs past the end of the metadata area");
        }
        int icount = Le.u16(b, 2);
        int mode = Le.u16(b, 4);
        long size, nlink, uid, gid, mtime, ino;
        int nsec;
        long iu;
        long startHi = Le.u16(b, 6);
        boolean hasStartHi;
        if (ext) {
            size = Le.i64(b, 8);
            iu = Le.u32(b, 16);
            ino = Le.u32(b, 20);
            uid = Le.u32(b, 24);
            gid = Le.u32(b, 28);
            mtime = Le.i64(b, 32);
            nsec = Le.i32(b, 40);
            nlink = Le.u32(b, 44);
            hasStartHi = true;
        } else {
            size = Le.u32(b, 8);
            mtime = sb.epoch() + Le.u32(b, 12);
            nsec = sb.fixedNsec();
            iu = Le.u32(b, 16);
            ino = Le.u32(b, 20);
            uid = Le.u16(b, 24);
            gid = Le.u16(b, 26);
            if ((mode & S_IFMT) != S_IFDIR && ((format >> 4) & 1) != 0) {
                nlink = 1;
                hasStartHi = true;
            } else {
                nlink = startHi;
                hasStartHi = false;
            }
        }
        if (size < 0) {
            throw new ErofsException(what, iloc + 8, "negative size " + size);
        }
        if (Integer.compareUnsigned(nsec, 999_999_999) > 0) {
            throw new ErofsException(what, iloc, "mtime nanoseconds " + Integer.toUnsignedString(nsec) + " out of range");
        }
        long startBlk = 0;
        int major = 0, minor = 0;
        switch (mode & S_IFMT) {
            case S_IFREG, S_IFDIR, S_IFLNK -> {
                startBlk = iu | (hasStartHi ? startHi << 32 : 0);
                long mask = hasStartHi ? (1L << 48) - 1 : (1L << 32) - 1;
                if (layout == FLAT_PLAIN && ((startBlk ^ NULL_ADDR) & mask) == 0) {
                    startBlk = NULL_ADDR;
                }
            }
            case S_IFCHR, S_IFBLK -> {
                int dev = (int) iu;
                major = (dev & 0xfff00) >>> 8;
                minor = (dev & 0xff) | ((dev >>> 12) & 0xfff00);
            }
            case S_IFIFO, S_IFSOCK -> {
            }
            default -> throw new ErofsException(what, iloc + 4, "bogus mode 0" + Integer.toOctalString(mode));
        }
        if (layout == CHUNK_BASED) {
            int cf = (int) (iu & 0xffff);
            if ((cf & ~0x7f) != 0) {
                throw new ErofsException(what, iloc + 16, "unsupported chunk format 0x" + Integer.toHexString(cf));
            }
            if (sb.blkszbits() + (cf & 0x1f) > 62) {
                throw new ErofsException(what, iloc + 16, "chunk size bits " + (sb.blkszbits() + (cf & 0x1f)) + " too large");
            }
        }
        return new Inode(nid, inMetabox, iloc, format, ext, layout, icount, mode, size, nlink, uid, gid, mtime, nsec,
                startBlk, iu, major, minor, ino);
    }
}
