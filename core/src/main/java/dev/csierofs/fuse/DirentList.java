package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;

/**
 * Builds a READDIR or READDIRPLUS reply in a caller's buffer, one entry at a time, until the
 * size the kernel asked for is reached: {@code add} returns false for the first entry that does
 * not fit, and the caller stops there (the kernel resumes from the last entry's
 * {@code nextOffset}). An empty list means end of directory.
 *
 * <p>A READDIR entry is a {@code struct fuse_dirent}: u64 ino, u64 off (the position after this
 * entry), u32 namelen, u32 type (DT_*, {@link #typeOf}), then the name zero-padded to 8 bytes.
 * A READDIRPLUS entry is a {@code struct fuse_direntplus}: an {@link EntryOut} (128 bytes)
 * followed by the same dirent. Names are 1..{@link Protocol#NAME_MAX} bytes without '/' or NUL
 * (the kernel fails the whole listing with EIO otherwise).
 */
public final class DirentList {
    /** {@code struct fuse_dirent} without its name. */
    public static final int DIRENT_SIZE = 24;
    /** {@code struct fuse_direntplus} without its name. */
    public static final int DIRENTPLUS_SIZE = EntryOut.SIZE + DIRENT_SIZE;

    private final MemorySegment buf;
    private final long unique;
    private final boolean plus;
    private final long limit;
    private long pos = Reply.PAYLOAD;
    private int count;

    private DirentList(MemorySegment buf, long unique, int maxSize, boolean plus) {
        if (maxSize < 0) {
            throw new IllegalArgumentException("negative reply size " + maxSize);
        }
        this.buf = buf;
        this.unique = unique;
        this.plus = plus;
        this.limit = Reply.PAYLOAD + Math.min(maxSize, buf.byteSize() - Reply.PAYLOAD);
    }

    /** A READDIR reply of at most {@code maxSize} bytes after the header (and what fits in {@code buf}). */
    public static DirentList readdir(MemorySegment buf, long unique, int maxSize) {
        return new DirentList(buf, unique, maxSize, false);
    }

    /** A READDIRPLUS reply of at most {@code maxSize} bytes after the header (and what fits in {@code buf}). */
    public static DirentList readdirplus(MemorySegment buf, long unique, int maxSize) {
        return new DirentList(buf, unique, maxSize, true);
    }

    /** The reply to {@code request}: READDIRPLUS when it asked for one, limited to its size. */
    public static DirentList forRequest(MemorySegment buf, long unique, Request.ReadDir request) {
        return new DirentList(buf, unique, request.size(), request.plus());
    }

    public boolean isPlus() {
        return plus;
    }

    /** Entries added so far. */
    public int count() {
        return count;
    }

    /** The size on the wire of a READDIR entry with a name of {@code nameLength} bytes. */
    public static int direntSize(int nameLength) {
        return Wire.align8(DIRENT_SIZE + nameLength);
    }

    /** The size on the wire of a READDIRPLUS entry with a name of {@code nameLength} bytes. */
    public static int direntPlusSize(int nameLength) {
        return Wire.align8(DIRENTPLUS_SIZE + nameLength);
    }

    /**
     * True if an entry with a name of {@code nameLength} bytes still fits. READDIRPLUS callers
     * check this before building the entry, since each entry sent counts as a lookup.
     */
    public boolean fits(int nameLength) {
        return pos + (plus ? direntPlusSize(nameLength) : direntSize(nameLength)) <= limit;
    }

    /** Adds a READDIR entry; false (and nothing written) when it does not fit. */
    public boolean add(long ino, long nextOffset, int type, byte[] name) {
        if (plus) {
            throw new IllegalStateException("READDIRPLUS entries need an EntryOut: use addPlus");
        }
        checkName(name);
        if (!fits(name.length)) {
            return false;
        }
        pos = writeDirent(pos, ino, nextOffset, type, name);
        count++;
        return true;
    }

    /**
     * Adds a READDIRPLUS entry; false (and nothing written) when it does not fit. {@code entry}
     * null sends the name without attributes (nodeid 0): the kernel then creates no dentry and
     * counts no lookup. It also counts none for "." and "..", so pass null for those.
     */
    public boolean addPlus(long ino, long nextOffset, int type, byte[] name, EntryOut entry) {
        if (!plus) {
            throw new IllegalStateException("READDIR entries carry no EntryOut: use add");
        }
        checkName(name);
        if (!fits(name.length)) {
            return false;
        }
        if (entry != null) {
            entry.writeTo(buf, pos);
        } else {
            buf.asSlice(pos, EntryOut.SIZE).fill((byte) 0);
        }
        pos = writeDirent(pos + EntryOut.SIZE, ino, nextOffset, type, name);
        count++;
        return true;
    }

    /** Writes the out header and returns the reply's total length. */
    public int finish() {
        OutHeader.write(buf, (int) pos, 0, unique);
        return (int) pos;
    }

    private long writeDirent(long at, long ino, long nextOffset, int type, byte[] name) {
        Wire.putU64(buf, at, ino);
        Wire.putU64(buf, at + 8, nextOffset);
        Wire.putU32(buf, at + 16, name.length);
        Wire.putU32(buf, at + 20, type);
        MemorySegment.copy(MemorySegment.ofArray(name), 0, buf, at + DIRENT_SIZE, name.length);
        long end = at + direntSize(name.length);
        buf.asSlice(at + DIRENT_SIZE + name.length, end - (at + DIRENT_SIZE + name.length)).fill((byte) 0);
        return end;
    }

    /** True if the kernel accepts {@code name} in a directory entry: 1..1024 bytes, no '/', no NUL. */
    public static boolean isValidName(byte[] name) {
        if (name.length == 0 || name.length > Protocol.NAME_MAX) {
            return false;
        }
        for (byte b : name) {
            if (b == '/' || b == 0) {
                return false;
            }
        }
        return true;
    }

    /** The DT_* type of a directory entry for an inode of this {@code st_mode}. */
    public static int typeOf(int mode) {
        return (mode >>> 12) & 0xf;
    }

    private static void checkName(byte[] name) {
        if (!isValidName(name)) {
            throw new IllegalArgumentException("directory entry name " + Wire.printable(name)
                    + " is empty, longer than " + Protocol.NAME_MAX + " bytes or contains '/' or NUL (check with isValidName)");
        }
    }
}
