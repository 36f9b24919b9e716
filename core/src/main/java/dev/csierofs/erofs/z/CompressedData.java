package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Features;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;

import java.util.Arrays;
import java.util.Objects;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Random access to the data of a compressed inode (COMPRESSED_FULL or COMPRESSED_COMPACT).
 *
 * <p>Each read maps the extents under the requested bytes ({@link ZMap}, whole extents as the
 * kernel's FIEMAP mapping gives them) and decodes each needed pcluster once:
 * <ul>
 * <li>an extent that lies entirely inside the request is decoded straight into the caller's
 * buffer (no copy, no cache);
 * <li>an extent only partly requested is decoded into its own array, kept in the process-wide LRU
 * ({@link ExtentCache}) and as this instance's "last decoded" extent, so the neighbouring reads of
 * a sequential reader (4 KiB .. 128 KiB at a time) find it without decoding again;
 * <li>fragments are read straight from the packed inode, holes as zeros.
 * </ul>
 * Compressed bytes are read with a small adaptive read-ahead: when a pcluster starts where the
 * previous one ended, one read fetches up to 256 KiB of the following pclusters too.
 *
 * <p>Creating one is cheap (the map header is parsed on first use). Thread-safe: shared state is
 * a few immutable snapshots behind volatile fields.
 */
public final class CompressedData implements FileData {

    private static final int READ_AHEAD_MAX = 256 << 10;
    private static final byte[] ZEROS = new byte[1 << 16];

    private final ErofsImage image;
    private final Inode inode;
    private final long imageId;
    private final String label;
    private final AtomicLong decodes = new AtomicLong();
    private volatile ZMap map;
    private volatile Extent lastExtent;
    private volatile Decoded lastDecoded;
    private volatile RawWindow rawWindow;
    private volatile Failure lastFailure;

    /**
     * The last extent that failed to decode. A corrupt extent is then refused at once instead of
     * being decoded again on every read (a damaged metabox is read once per inode lookup).
     */
    private record Failure(long la, ErofsException error) {
    }

    private record Decoded(long la, byte[] data) {
    }

    /** Compressed bytes [start, start + b.length) of the data device; {@code nextPa}: where the last pcluster used ended. */
    private record RawWindow(long start, byte[] b, long nextPa) {
    }

    private CompressedData(ErofsImage image, Inode inode) {
        this.image = image;
        this.inode = inode;
        this.imageId = ExtentCache.imageId(image);
        this.label = inode.label();
    }

    public static CompressedData open(ErofsImage image, Inode inode) throws ErofsException {
        if (!inode.isCompressed()) {
            throw new ErofsException(inode.label(), inode.iloc(), "layout " + inode.layout() + " is not compressed");
        }
        return new CompressedData(image, inode);
    }

    /** Pclusters this instance has decoded; for tests and statistics. */
    public long decodeCount() {
        return decodes.get();
    }

    private ZMap map() throws ErofsException {
        ZMap m = map;
        if (m == null) {
            synchronized (this) {
                m = map;
                if (m == null) {
                    m = new ZMap(image, inode);
                    map = m;
                }
            }
        }
        return m;
    }

    /** Byte range [start, end) of the map header and indexes in the metadata space (for tests). */
    long[] indexRange() throws ErofsException {
        return map().indexRange();
    }

    /**
     * No holes inside compressed data: every extent is mapped, as the kernel reports it too
     * (SEEK_HOLE finds only the end of the file).
     */
    @Override
    public long nextHole(long pos) {
        return Math.max(pos, inode.size());
    }

    /** The whole extent containing {@code pos} ({@code 0 <= pos < size}). */
    public Extent extentAt(long pos) throws ErofsException {
        if (pos < 0 || pos >= inode.size()) {
            throw new ErofsException(label, pos, "offset outside the file (size " + inode.size() + ")");
        }
        Extent e = lastExtent;
        if (e != null && e.contains(pos)) {
            return e;
        }
        e = map().map(pos);
        lastExtent = e;
        return e;
    }

    @Override
    public int read(long pos, byte[] dst, int off, int len) throws ErofsException {
        Objects.checkFromIndexSize(off, len, dst.length);
        if (pos < 0) {
            throw new ErofsException(label, pos, "negative read position");
        }
        long size = inode.size();
        if (pos >= size || len == 0) {
            return 0;
        }
        final int n = (int) Math.min(len, size - pos);
        int done = 0;
        while (done < n) {
            long p = pos + done;
            Decoded d = lastDecoded;
            if (d != null && p >= d.la && p - d.la < d.data.length) {
                int k = (int) Math.min(n - done, d.data.length - (p - d.la));
                System.arraycopy(d.data, (int) (p - d.la), dst, off + done, k);
                done += k;
                continue;
            }
            Extent e = extentAt(p);
            int k = (int) Math.min(n - done, e.end() - p);
            switch (e.kind()) {
                case Extent.HOLE -> Arrays.fill(dst, off + done, off + done + k, (byte) 0);
                case Extent.FRAGMENT -> readFragment(e, p, dst, off + done, k);
                default -> {
                    if (p == e.la() && k == e.llen()) {
                        // the whole extent is wanted: decode in place
                        decodeOnce(e, dst, off + done);
                    } else {
                        byte[] data = decoded(e);
                        lastDecoded = new Decoded(e.la(), data);
                        System.arraycopy(data, (int) (p - e.la()), dst, off + done, k);
                    }
                }
            }
            done += k;
        }
        if (pos + n == size) {
            // the reader reached the end: keep no per-file buffers alive (the shared cache still has them)
            lastDecoded = null;
            rawWindow = null;
        }
        return n;
    }

    private void count() {
        decodes.incrementAndGet();
    }

    private void readFragment(Extent e, long p, byte[] dst, int off, int k) throws ErofsException {
        String what = label + " fragment";
        long packedNid = image.superblock().packedNid();
        if (packedNid != 0 && inode.nid() == packedNid) {
            throw new ErofsException(what, e.pa(), "a fragment inside the packed inode itself");
        }
        if (!image.superblock().hasIncompat(Features.INCOMPAT_FRAGMENTS)) {
            throw new ErofsException(what, e.pa(), "fragment without the fragments feature");
        }
        FileData packed = image.packedData();
        if (packed == null) {
            throw new ErofsException(what, e.pa(), "fragment, but the image has no packed inode");
        }
        long fpos = e.pa() + (p - e.la());
        if (e.pa() < 0 || fpos < 0) {
            throw new ErofsException(what, e.pa(), "fragment offset out of range");
        }
        int got = packed.read(fpos, dst, off, k);
        if (got != k) {
            throw new ErofsException(what, fpos, "fragment runs past the end of the packed inode");
        }
    }

    private byte[] decoded(Extent e) throws ErofsException {
        ExtentCache.Key key = new ExtentCache.Key(imageId, inode.nid(), e.la());
        byte[] data = ExtentCache.GLOBAL.get(key);
        if (data != null && data.length == e.llen()) {
            return data;
        }
        checkExtent(e);
        data = new byte[(int) e.llen()];
        decodeOnce(e, data, 0);
        ExtentCache.GLOBAL.put(key, data);
        return data;
    }

    /** Checks and decodes one extent into {@code dst}, remembering a failure so it is not retried. */
    private void decodeOnce(Extent e, byte[] dst, int off) throws ErofsException {
        Failure f = lastFailure;
        if (f != null && f.la == e.la()) {
            throw new ErofsException(f.error.structure(), f.error.offset(), f.error.getMessage().substring(
                    f.error.getMessage().indexOf(": ") + 2) + " (known bad extent)");
        }
        try {
            checkExtent(e);
            decodeInto(e, dst, off);
            count();
        } catch (ErofsException x) {
            lastFailure = new Failure(e.la(), x);
            throw x;
        }
    }

    /** Names a pcluster in error messages; built only when a message is needed. */
    private record PclusterLabel(String inode, Extent e) {
        @Override
        public String toString() {
            return inode + (e.kind() == Extent.META ? " inline pcluster" : " pcluster") + " at 0x"
                    + Long.toHexString(e.pa()) + " (file offset " + e.la() + ", " + CompressionConfigs.name(e.alg()) + ")";
        }
    }

    /** The kernel's z_erofs_map_sanity_check, plus the bounds our buffers rely on. */
    private void checkExtent(Extent e) throws ErofsException {
        int alg = e.alg();
        if (alg < 0 || alg > CompressionConfigs.INTERLACED) {
            throw new ErofsException(new PclusterLabel(label, e).toString(), e.pa(), "unsupported algorithm " + alg);
        }
        if (alg < CompressionConfigs.MAX && !image.compressionConfigs().isAvailable(alg)) {
            throw new ErofsException(new PclusterLabel(label, e).toString(), e.pa(),
                    "algorithm " + CompressionConfigs.name(alg) + " not enabled in the superblock");
        }
        if (e.plen() <= 0 || e.plen() > ZMap.PCLUSTER_MAX_SIZE) {
            throw new ErofsException(new PclusterLabel(label, e).toString(), e.pa(), "pcluster size " + e.plen() + " outside 1..1 MiB");
        }
        if (e.llen() <= 0 || e.llen() > ZMap.PCLUSTER_MAX_DSIZE) {
            throw new ErofsException(new PclusterLabel(label, e).toString(), e.pa(), "decoded size " + e.llen() + " outside 1..12 MiB");
        }
    }

    /**
     * Reads the pcluster's encoded bytes; returns the array and sets {@code offOut[0]} to where
     * they start in it. The array may be a shared read-ahead window: callers must not modify it.
     */
    private byte[] raw(Extent e, int[] offOut) throws ErofsException {
        final int plen = e.plen();
        final long pa = e.pa();
        if (e.kind() == Extent.META) {
            byte[] raw = new byte[plen];
            image.readMeta(inode.inMetabox(), pa, raw, 0, plen, label + " inline pcluster");
            offOut[0] = 0;
            return raw;
        }
        RawWindow w = rawWindow;
        if (w != null && pa >= w.start && pa - w.start <= w.b.length - plen) {
            rawWindow = new RawWindow(w.start, w.b, pa + plen);
            offOut[0] = (int) (pa - w.start);
            return w.b;
        }
        int want = plen;
        if (w != null && pa == w.nextPa) {
            // sequential: fetch the following pclusters too, but not much beyond what the file can still need
            long rest = inode.size() - e.la() + 2L * image.blockSize();
            want = (int) Math.max(plen, Math.min(READ_AHEAD_MAX, rest));
            long dev = image.primarySize();
            if (pa < dev && pa + want > dev) {
                want = (int) Math.max(plen, dev - pa);
            }
        }
        byte[] b = new byte[want];
        try {
            image.readPhysical(0, pa, b, 0, want, label + " pcluster");
        } catch (ErofsException ex) {
            if (want == plen) {
                throw ex;
            }
            b = new byte[plen];
            image.readPhysical(0, pa, b, 0, plen, label + " pcluster");
        }
        rawWindow = new RawWindow(pa, b, pa + plen);
        offOut[0] = 0;
        return b;
    }

    /** Decodes the whole (checked) extent into {@code out[outOff, outOff + llen)}. */
    private void decodeInto(Extent e, byte[] out, int outOff) throws ErofsException {
        final int bs = image.blockSize();
        final int alg = e.alg();
        final int plen = e.plen();
        final int llen = (int) e.llen();
        final long at = e.pa();
        int[] offHolder = new int[1];
        byte[] raw = raw(e, offHolder);
        final int r0 = offHolder[0];
        switch (alg) {
            case CompressionConfigs.SHIFTED -> {
                if (llen > plen) {
                    throw new ErofsException(new PclusterLabel(label, e).toString(), at,
                            llen + " uncompressed bytes in a " + plen + "-byte pcluster");
                }
                System.arraycopy(raw, r0, out, outOff, llen);
            }
            case CompressionConfigs.INTERLACED -> {
                // the first (bs - blkoff(la)) bytes sit at the end of the pcluster, the rest at its start
                int h = bs - (int) (e.la() & (bs - 1));
                if (llen > plen || h > plen) {
                    throw new ErofsException(new PclusterLabel(label, e).toString(), at,
                            llen + " interlaced bytes do not fit a " + plen + "-byte pcluster");
                }
                int first = Math.min(h, llen);
                System.arraycopy(raw, r0 + plen - h, out, outOff, first);
                System.arraycopy(raw, r0, out, outOff + first, llen - first);
            }
            default -> {
                int margin = 0;
                boolean zeroPadding = alg != CompressionConfigs.LZ4 || image.superblock().hasIncompat(Features.INCOMPAT_ZERO_PADDING);
                // the kernel's rule: a whole extent of a zero-padded pcluster is decoded exactly (the
                // encoded data must end where the extent does); a partial dedupe reference, or a
                // legacy LZ4 pcluster without zero padding, only as a prefix
                boolean exact = zeroPadding && !e.partialRef();
                if (zeroPadding) {
                    // zero padding: the encoded data is right-aligned, it starts at the first non-zero byte
                    int limit = (int) Math.min(plen, bs - (at & (bs - 1)));
                    margin = Arrays.mismatch(raw, r0, r0 + limit, ZEROS, 0, limit);
                    if (margin < 0) {
                        throw new ErofsException(new PclusterLabel(label, e).toString(), at,
                                "start of compressed data not found (zero padding)");
                    }
                }
                int inOff = r0 + margin;
                int inLen = plen - margin;
                PclusterLabel what = new PclusterLabel(label, e);
                try {
                    switch (alg) {
                        case CompressionConfigs.LZ4 -> Lz4Decoder.decode(raw, inOff, inLen, out, outOff, llen, exact, what, at);
                        case CompressionConfigs.LZMA -> {
                            byte[] copy = Arrays.copyOfRange(raw, inOff, inOff + inLen); // the decoder rewrites byte 0
                            LzmaDecoder.decode(copy, 0, inLen, out, outOff, llen, image.compressionConfigs().lzmaDictSize(), exact, what, at);
                        }
                        case CompressionConfigs.DEFLATE -> DeflateDecoder.decode(raw, inOff, inLen, out, outOff, llen, exact, what, at);
                        default -> ZstdDecoder.decode(raw, inOff, inLen, out, outOff, llen, what, at);
                    }
                } catch (ErofsException ex) {
                    throw ex;
                } catch (RuntimeException | LinkageError ex) {
                    throw new ErofsException(what.toString(), at, "decoder failed: " + ex, ex);
                }
            }
        }
    }

    @Override
    public String toString() {
        return "CompressedData[" + label + ", size " + inode.size() + "]";
    }
}
