package dev.csierofs.erofs;

/**
 * FLAT_PLAIN and FLAT_INLINE data: consecutive blocks from {@code startBlk}, and for
 * FLAT_INLINE the last partial block stored right after the inode and its xattrs.
 */
final class FlatData implements FileData {
    private final ErofsImage image;
    private final Inode inode;
    private final long blockedEnd; // bytes [0, blockedEnd) live in data blocks

    FlatData(ErofsImage image, Inode inode) throws ErofsException {
        this.image = image;
        this.inode = inode;
        int bits = image.superblock().blkszbits();
        long size = inode.size();
        if (inode.layout() == Inode.FLAT_INLINE) {
            blockedEnd = (size >>> bits) << bits;
            long tail = size - blockedEnd;
            long inBlock = inode.tailPos() & (image.blockSize() - 1);
            if (tail > 0 && inBlock + tail > image.blockSize()) {
                throw new ErofsException(inode.label(), inode.tailPos(), "inline tail of " + tail + " bytes crosses a block boundary");
            }
        } else {
            blockedEnd = size;
        }
        if (inode.startBlk() != Inode.NULL_ADDR && blockedEnd > 0
                && (inode.startBlk() < 0 || inode.startBlk() > (Long.MAX_VALUE - blockedEnd) >>> bits)) {
            throw new ErofsException(inode.label(), inode.iloc(), "start block " + inode.startBlk() + " out of range");
        }
    }

    @Override
    public int read(long pos, byte[] dst, int off, int len) throws ErofsException {
        int n = FileData.readLength(inode, pos, len);
        if (n == 0) {
            return 0;
        }
        int done = 0;
        if (pos < blockedEnd) {
            int k = (int) Math.min(n, blockedEnd - pos);
            if (inode.startBlk() == Inode.NULL_ADDR) {
                java.util.Arrays.fill(dst, off, off + k, (byte) 0);
            } else {
                long phys = (inode.startBlk() << image.superblock().blkszbits()) + pos;
                image.readPhysical(0, phys, dst, off, k, inode.label() + " data");
            }
            done = k;
        }
        if (done < n) {
            long tailOff = pos + done - blockedEnd;
            image.readMeta(inode.inMetabox(), inode.tailPos() + tailOff, dst, off + done, n - done, inode.label() + " inline data");
        }
        return n;
    }

    @Override
    public long nextData(long pos) {
        if (inode.startBlk() == Inode.NULL_ADDR && pos < blockedEnd) {
            return blockedEnd; // no data blocks: everything before the inline tail is a hole
        }
        return Math.min(Math.max(pos, 0), inode.size());
    }

    @Override
    public long nextHole(long pos) {
        long p = Math.max(pos, 0);
        if (inode.startBlk() == Inode.NULL_ADDR && p < blockedEnd) {
            return p;
        }
        return Math.max(p, inode.size());
    }

    @Override
    public ErofsImage.StoredRange stored(long pos) throws ErofsException {
        if (pos < 0 || pos >= blockedEnd || inode.startBlk() == Inode.NULL_ADDR) {
            return null;
        }
        long phys = (inode.startBlk() << image.superblock().blkszbits()) + pos;
        return image.locate(0, phys, blockedEnd - pos, inode.label() + " data");
    }
}
