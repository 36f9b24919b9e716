package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Features;
import dev.csierofs.erofs.Le;
import dev.csierofs.erofs.Superblock;

/**
 * The image-wide compression settings: which algorithms the image may use and the per-algorithm
 * configuration records that follow the superblock when {@code COMPR_CFGS} is set (each record
 * 4-byte aligned: {@code le16 length} then the payload). Without {@code COMPR_CFGS} only LZ4 is
 * available and the superblock's {@code u1} field is the LZ4 max distance.
 *
 * <p>The checks are the kernel's (z_erofs_parse_cfgs and the per-algorithm config loaders): an
 * image the kernel refuses to mount is refused here as well.
 */
public final class CompressionConfigs {

    public static final int LZ4 = 0;
    public static final int LZMA = 1;
    public static final int DEFLATE = 2;
    public static final int ZSTD = 3;
    /** Number of real algorithms; algorithm ids at or above this are internal (plain data). */
    public static final int MAX = 4;
    /** Uncompressed data of a PLAIN lcluster, stored from the start of its pcluster. */
    public static final int SHIFTED = 4;
    /** Uncompressed data of a PLAIN lcluster, rotated by the block offset of its logical start. */
    public static final int INTERLACED = 5;

    /** Z_EROFS_LZMA_MAX_DICT_SIZE: 8 MiB. */
    public static final int LZMA_MAX_DICT_SIZE = 8 << 20;

    private static final String[] NAMES = {"lz4", "lzma", "deflate", "zstd", "shifted", "interlaced"};

    private final int availableAlgs;
    private final int lz4MaxDistance;
    private final int lz4MaxPclusterBlks;
    private final int lzmaDictSize;
    private final int lzmaFormat;
    private final int deflateWindowBits;
    private final int zstdWindowLog;

    private CompressionConfigs(int availableAlgs, int lz4MaxDistance, int lz4MaxPclusterBlks, int lzmaDictSize,
            int lzmaFormat, int deflateWindowBits, int zstdWindowLog) {
        this.availableAlgs = availableAlgs;
        this.lz4MaxDistance = lz4MaxDistance;
        this.lz4MaxPclusterBlks = lz4MaxPclusterBlks;
        this.lzmaDictSize = lzmaDictSize;
        this.lzmaFormat = lzmaFormat;
        this.deflateWindowBits = deflateWindowBits;
        this.zstdWindowLog = zstdWindowLog;
    }

    /** Name of an algorithm id as used in messages. */
    public static String name(int alg) {
        return alg >= 0 && alg < NAMES.length ? NAMES[alg] : "algorithm " + alg;
    }

    /**
     * Reads the configuration records. Called from the ErofsImage constructor, so it reads only
     * the primary device.
     */
    public static CompressionConfigs read(ErofsImage image) throws ErofsException {
        Superblock sb = image.superblock();
        if (!sb.hasIncompat(Features.INCOMPAT_COMPR_CFGS)) {
            return new CompressionConfigs(1 << LZ4, sb.availableComprAlgs() & 0xffff, 1, 0, 0, 0, 0);
        }
        int algs = sb.availableComprAlgs();
        if ((algs & ~((1 << MAX) - 1)) != 0) {
            throw new ErofsException("superblock", Superblock.OFFSET + 84,
                    "unknown compression algorithms 0x" + Integer.toHexString(algs & ~((1 << MAX) - 1)));
        }
        int lz4Dist = 0, lz4Blks = 1, dict = 0, lzmaFmt = 0, wbits = 0, wlog = 0;
        long offset = Superblock.OFFSET + sb.sbSize();
        int maxBlks = (1 << 20) >> sb.blkszbits();
        for (int alg = 0; alg < MAX; alg++) {
            if ((algs & (1 << alg)) == 0) {
                continue;
            }
            String what = name(alg) + " compression config";
            offset = (offset + 3) & ~3L;
            byte[] lenb = new byte[2];
            image.readMeta(false, offset, lenb, 0, 2, what);
            int len = Le.u16(lenb, 0);
            if (len == 0) {
                throw new ErofsException(what, offset, "zero-length record");
            }
            byte[] d = new byte[len];
            image.readMeta(false, offset + 2, d, 0, len, what);
            long at = offset;
            offset += 2 + len;
            switch (alg) {
                case LZ4 -> {
                    need(d, 14, what, at);
                    lz4Dist = Le.u16(d, 0);
                    lz4Blks = Le.u16(d, 2);
                    if (lz4Blks == 0) {
                        lz4Blks = 1;
                    } else if (lz4Blks > maxBlks) {
                        throw new ErofsException(what, at, "max_pclusterblks " + lz4Blks + " exceeds " + maxBlks);
                    }
                }
                case LZMA -> {
                    need(d, 14, what, at);
                    dict = Le.i32(d, 0);
                    lzmaFmt = Le.u16(d, 4);
                    if (lzmaFmt != 0) {
                        throw new ErofsException(what, at, "unknown MicroLZMA format " + lzmaFmt);
                    }
                    if (Integer.compareUnsigned(dict, LZMA_MAX_DICT_SIZE) > 0 || dict < 4096) {
                        throw new ErofsException(what, at, "dictionary size " + Integer.toUnsignedString(dict)
                                + " outside 4096.." + LZMA_MAX_DICT_SIZE);
                    }
                }
                case DEFLATE -> {
                    need(d, 6, what, at);
                    wbits = Le.u8(d, 0);
                    if (wbits > 15) {
                        throw new ErofsException(what, at, "window bits " + wbits + " exceed 15");
                    }
                }
                default -> {
                    need(d, 6, what, at);
                    if (Le.u8(d, 0) != 0) {
                        throw new ErofsException(what, at, "unknown zstd format " + Le.u8(d, 0));
                    }
                    wlog = Le.u8(d, 1);
                    if (wlog > 10) { // window up to Z_EROFS_ZSTD_MAX_DICT_SIZE (1 MiB), as the kernel requires
                        throw new ErofsException(what, at, "window log " + (wlog + 10) + " exceeds 20");
                    }
                }
            }
        }
        return new CompressionConfigs(algs, lz4Dist, lz4Blks, dict, lzmaFmt, wbits, wlog);
    }

    private static void need(byte[] d, int n, String what, long at) throws ErofsException {
        if (d.length < n) {
            throw new ErofsException(what, at, "record of " + d.length + " bytes, at least " + n + " needed");
        }
    }

    /** Bit mask of the algorithms (1 << id) the image may use. */
    public int availableAlgs() {
        return availableAlgs;
    }

    public boolean isAvailable(int alg) {
        return alg >= 0 && alg < MAX && (availableAlgs & (1 << alg)) != 0;
    }

    public int lz4MaxDistance() {
        return lz4MaxDistance;
    }

    public int lz4MaxPclusterBlks() {
        return lz4MaxPclusterBlks;
    }

    /** MicroLZMA dictionary size in bytes (0 when LZMA is not configured). */
    public int lzmaDictSize() {
        return lzmaDictSize;
    }

    public int lzmaFormat() {
        return lzmaFormat;
    }

    public int deflateWindowBits() {
        return deflateWindowBits;
    }

    /** Zstandard window log minus 10, as stored. */
    public int zstdWindowLog() {
        return zstdWindowLog;
    }

    @Override
    public String toString() {
        StringBuilder sb = new StringBuilder("CompressionConfigs[");
        for (int i = 0; i < MAX; i++) {
            if (isAvailable(i)) {
                sb.append(sb.charAt(sb.length() - 1) == '[' ? "" : ",").append(name(i));
            }
        }
        return sb.append(']').toString();
    }
}
