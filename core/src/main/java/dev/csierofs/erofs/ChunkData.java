package dev.csierofs.erofs;

/**
 * CHUNK_BASED data: the file is cut into chunks of {@code blocksize << chunkbits}; each chunk
 * is named by a 4-byte block address (block map) or an 8-byte index carrying a device id, so
 * chunks can live in extra devices (blob devices, or the tar file of a tar-index image).
 */
final class ChunkData implements FileData {
    private static final int BLOCK_MAP_ENTRY = 4;
    private static final int CHUNK_INDEX_ENTRY = 8;
    private static final int FORMAT_INDEXES = 0x20;
    private static final int FORMAT_48BIT = 0x40;

    private final ErofsImage image;
    private final Inode inode;
    private final int chunkBits;
    private final boolean indexes;
    private final long tableStart;
    private final int deviceIdMask;

    ChunkData(ErofsImage image, Inode inode) {
        this.image = image;
        this.inode = inode;
        int format = inode.chunkFormat();
        this.chunkBits = image.superblock().blkszbits() + (format & 0x1f);
        this.indexes = (format & FORMAT_INDEXES) != 0;
        int unit = indexes ? CHUNK_INDEX_ENTRY : BLOCK_MAP_ENTRY;
        this.tableStart = (inode.tailPos() + unit - 1) / unit * unit;
        int extra = image.superblock().extraDevices();
        this.deviceIdMask = Integer.highestOneBit(extra + 1) == extra + 1 ? extra : (Integer.highestOneBit(extra + 1) << 1) - 1;
    }

    @Override
    public int read(long pos, byte[] dst, int off, int len) throws ErofsException {
        int n = FileData.readLength(inode, pos, len);
        if (n == 0) {
            return 0;
        }
        int done = 0;
        int bits = image.superblock().blkszbits();
        while (done < n) {
            long p = pos + done;
            long index = p >>> chunkBits;
            long inChunk = p - (index << chunkBits);
            int k = (int) Math.min(n - done, (1L << chunkBits) - inChunk);
            Chunk c = chunk(index);
            if (c.hole) {
                java.util.Arrays.fill(dst, off + done, off + done + k, (byte) 0);
            } else {
                image.readPhysical(c.device, (c.startBlk << bits) + inChunk, dst, off + done, k, inode.label() + " chunk " + index);
            }
            done += k;
        }
        return n;
    }

    /** Where one chunk lives: a hole, or a start block on a device. */
    private record Chunk(boolean hole, int device, long startBlk) {
    }

    private Chunk chunk(long index) throws ErofsException {
        int unit = indexes ? CHUNK_INDEX_ENTRY : BLOCK_MAP_ENTRY;
        byte[] entry = new byte[unit];
        image.readMeta(inode.inMetabox(), tableStart + index * unit, entry, 0, unit, inode.label() + " chunk " + index);
        if (indexes) {
            long mask = (inode.chunkFormat() & FORMAT_48BIT) != 0 ? (1L << 48) - 1 : (1L << 32) - 1;
            long startBlk = (((long) Le.u16(entry, 0) << 32) | Le.u32(entry, 4)) & mask;
            return new Chunk(((startBlk ^ -1L) & mask) == 0, Le.u16(entry, 2) & deviceIdMask, startBlk);
        }
        long startBlk = Le.u32(entry, 0);
        return new Chunk(startBlk == 0xffffffffL, 0, startBlk);
    }

    @Override
    public long nextData(long pos) throws ErofsException {
        long size = inode.size();
        long p = Math.max(pos, 0);
        while (p < size && chunk(p >>> chunkBits).hole) {
            p = ((p >>> chunkBits) + 1) << chunkBits;
        }
        return Math.min(p, size);
    }

    @Override
    public long nextHole(long pos) throws ErofsException {
        long size = inode.size();
        long p = Math.max(pos, 0);
        while (p < size && !chunk(p >>> chunkBits).hole) {
            p = ((p >>> chunkBits) + 1) << chunkBits;
        }
        return Math.max(pos, Math.min(p, size));
    }

    @Override
    public ErofsImage.StoredRange stored(long pos) throws ErofsException {
        if (pos < 0 || pos >= inode.size()) {
            return null;
        }
        long index = pos >>> chunkBits;
        Chunk c = chunk(index);
        if (c.hole) {
            return null;
        }
        long inChunk = pos - (index << chunkBits);
        long want = Math.min((1L << chunkBits) - inChunk, inode.size() - pos);
        return image.locate(c.device, (c.startBlk << image.superblock().blkszbits()) + inChunk, want, inode.label() + " chunk " + index);
    }
}
