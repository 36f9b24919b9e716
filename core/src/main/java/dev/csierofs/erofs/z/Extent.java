package dev.csierofs.erofs.z;

/**
 * One fully mapped extent of a compressed inode: logical bytes {@code [la, la + llen)} (already
 * clamped to the file size) and where their data comes from.
 *
 * @param la         logical start
 * @param llen       logical length (whole extent, not just the lcluster that was asked for)
 * @param pa         physical byte address of the pcluster (ENCODED: primary device with unified
 *                   addressing; META: the inode's metadata space), or for FRAGMENT the offset of
 *                   byte {@code la} in the packed inode
 * @param plen       encoded length in bytes (0 for HOLE and FRAGMENT)
 * @param kind       {@link #HOLE}, {@link #ENCODED}, {@link #META} or {@link #FRAGMENT}
 * @param alg        algorithm id ({@link CompressionConfigs#LZ4} .. {@link CompressionConfigs#INTERLACED})
 * @param partialRef the pcluster decodes to more than this extent (dedupe): decode a prefix only
 */
public record Extent(long la, long llen, long pa, int plen, int kind, int alg, boolean partialRef) {
    /** Not mapped: reads as zeros. */
    public static final int HOLE = 0;
    /** A pcluster on the data device. */
    public static final int ENCODED = 1;
    /** A pcluster stored inline in the metadata space (ztailpacking). */
    public static final int META = 2;
    /** Data stored in the packed inode. */
    public static final int FRAGMENT = 3;

    public long end() {
        return la + llen;
    }

    public boolean contains(long pos) {
        return pos >= la && pos - la < llen;
    }

    @Override
    public String toString() {
        String k = switch (kind) {
            case HOLE -> "hole";
            case ENCODED -> "encoded";
            case META -> "inline";
            default -> "fragment";
        };
        return "Extent[" + k + " la=" + la + " llen=" + llen + " pa=0x" + Long.toHexString(pa) + " plen=" + plen
                + " alg=" + CompressionConfigs.name(alg) + (partialRef ? " partial" : "") + "]";
    }
}
