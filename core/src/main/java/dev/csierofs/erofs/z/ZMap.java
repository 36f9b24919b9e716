package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Features;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.Le;

/**
 * The logical-to-physical map of one compressed inode: its z_erofs_map_header and its lcluster
 * indexes (full 8-byte, compacted 4B/2B) or 48-bit encoded extents. Mirrors the kernel's
 * fs/erofs/zmap.c (z_erofs_map_blocks_fo / _ext) with the FIEMAP flag, so every extent comes
 * back whole: {@code [la, la + llen)} with llen reaching the next HEAD lcluster (or EOF).
 *
 * <p>Immutable after construction except for two caches (the metadata window and the cursor of
 * 4-byte extent records), both safe for concurrent use. Every walk over indexes is bounded by
 * the 12 MiB limit on a decoded pcluster, so a hostile image cannot make a lookup loop for long.
 */
final class ZMap {
    static final int PCLUSTER_MAX_SIZE = 1 << 20;
    static final int PCLUSTER_MAX_DSIZE = 12 << 20;

    static final int ADVISE_COMPACTED_2B = 0x1;
    static final int ADVISE_EXTENTS = 0x1;
    static final int ADVISE_BIG_PCLUSTER_1 = 0x2;
    static final int ADVISE_BIG_PCLUSTER_2 = 0x4;
    static final int ADVISE_INLINE_PCLUSTER = 0x8;
    static final int ADVISE_INTERLACED_PCLUSTER = 0x10;
    static final int ADVISE_FRAGMENT_PCLUSTER = 0x20;

    static final int TYPE_PLAIN = 0;
    static final int TYPE_HEAD1 = 1;
    static final int TYPE_NONHEAD = 2;
    static final int TYPE_HEAD2 = 3;

    static final int LI_PARTIAL_REF = 1 << 15;
    static final int LI_D0_CBLKCNT = 1 << 11;

    static final int EXTENT_PLEN_PARTIAL = 1 << 27;
    static final int EXTENT_PLEN_FMT_BIT = 28;
    static final int EXTENT_PLEN_MASK = (PCLUSTER_MAX_SIZE << 1) - 1;

    private final Inode inode;
    private final String label;
    private final String mapLabel;
    private final MetaWindow meta;
    private final int blkbits;
    private final long size;
    private final boolean compact;
    private final long hdrPos;
    private final boolean bigPcluster;

    private int advise;
    private int lbits;
    private int alg0;
    private int alg1;
    private boolean extents;
    private long extentCount;
    private boolean fragment;
    private boolean wholeFragment;
    private long fragmentOff;
    private int idataSize;
    private long tailHeadLcn;
    private long inlinePos;

    /** Resume point for 4-byte extent records, which can only be read front to back. */
    private record Cursor(long lstart, long pos, long pa) {
    }

    private volatile Cursor cursor;

    /** The kernel's z_erofs_maprecorder: state of one lookup. */
    private static final class Rec {
        long lcn;
        int type;
        int headtype;
        int clusterofs;
        int delta0;
        int delta1;
        long pblk;
        long compressedblks;
        long nextpackoff;
        boolean partialref;
        long la;
        final byte[] buf = new byte[32];
    }

    ZMap(ErofsImage image, Inode inode) throws ErofsException {
        this.inode = inode;
        this.label = inode.label();
        this.mapLabel = label + " compression map";
        this.blkbits = image.superblock().blkszbits();
        this.size = inode.size();
        // header, legacy padding and at most one 8-byte index per block
        long blocks = ((size - 1) >>> blkbits) + 1;
        this.meta = new MetaWindow(image, inode.inMetabox(), (int) Math.min(1 << 14, 32 + 8 * blocks));
        this.compact = inode.layout() == Inode.COMPRESSED_COMPACT;
        this.hdrPos = (inode.tailPos() + 7) & ~7L;
        this.bigPcluster = image.superblock().hasIncompat(Features.INCOMPAT_BIG_PCLUSTER);
        readHeader();
    }

    private ErofsException corrupt(long at, String problem) {
        return new ErofsException(mapLabel, at, problem);
    }

    private void readHeader() throws ErofsException {
        byte[] h = new byte[8];
        meta.read(hdrPos, h, 0, 8, label + " map header");
        if ((h[7] & 0x80) != 0) {
            // the whole file lives in the packed inode; the other 63 bits are its offset there
            advise = ADVISE_FRAGMENT_PCLUSTER;
            fragment = true;
            wholeFragment = true;
            fragmentOff = Le.i64(h, 0) ^ (1L << 63);
            tailHeadLcn = 0;
            return;
        }
        advise = Le.u16(h, 4);
        lbits = blkbits + (h[7] & 15);
        fragment = (advise & ADVISE_FRAGMENT_PCLUSTER) != 0;
        if (!compact && (advise & ADVISE_EXTENTS) != 0) {
            extents = true;
            extentCount = Le.u32(h, 0) | (long) Le.u16(h, 6) << 32;
            return;
        }
        alg0 = h[6] & 15;
        alg1 = (h[6] >> 4) & 15;
        // as the kernel: HEAD1's algorithm is checked here, HEAD2's only where a HEAD2 lcluster is used
        if (alg0 >= CompressionConfigs.MAX) {
            throw corrupt(hdrPos + 6, "unknown algorithm type 0x" + Integer.toHexString(h[6] & 0xff) + " (HEAD1)");
        }
        if (!bigPcluster && (advise & (ADVISE_BIG_PCLUSTER_1 | ADVISE_BIG_PCLUSTER_2)) != 0) {
            throw corrupt(hdrPos + 4, "big pclusters without the superblock feature");
        }
        if (compact && ((advise & ADVISE_BIG_PCLUSTER_1) == 0) != ((advise & ADVISE_BIG_PCLUSTER_2) == 0)) {
            throw corrupt(hdrPos + 4, "big pcluster HEAD1/HEAD2 advice of compact indexes is inconsistent");
        }
        if (compact && lbits > 14) {
            throw corrupt(hdrPos + 7, "lcluster size 2^" + lbits + " too large for compact indexes");
        }
        if (fragment) {
            fragmentOff = Le.u32(h, 0);
        } else if ((advise & ADVISE_INLINE_PCLUSTER) != 0) {
            idataSize = Le.u16(h, 2);
        }
        if (idataSize != 0 || fragment) {
            findTail();
            if (idataSize != 0) {
                long blkoff = inlinePos & ((1L << blkbits) - 1);
                if (blkoff + idataSize > (1L << blkbits)) {
                    throw corrupt(inlinePos, "inline tail pcluster of " + idataSize + " bytes crosses a block boundary");
                }
            }
        }
    }

    /** Byte range [start, end) of the map header and indexes in the metadata space (for tests). */
    long[] indexRange() {
        long end;
        if (wholeFragment) {
            end = hdrPos + 8;
        } else if (extents) {
            int recsz = 4 << ((advise >>> 1) & 3);
            long pos = (hdrPos + 8 + recsz - 1) & -(long) recsz;
            long count = recsz <= 8 ? lclusterCount() : extentCount;
            end = pos + (recsz <= 4 ? 8 : 0) + count * recsz;
        } else if (compact) {
            long ebase = hdrPos + 8;
            long totalidx = ((size - 1) >>> blkbits) + 1;
            long c4init = ((32 - (ebase & 31)) / 4) & 7;
            long c2b = (advise & ADVISE_COMPACTED_2B) != 0 && c4init < totalidx ? (totalidx - c4init) & ~15L : 0;
            long c4 = Math.max(0, totalidx - c4init - c2b);
            end = ebase + Math.min(c4init, totalidx) * 4 + c2b * 2 + ((c4 + 1) & ~1L) * 4;
        } else {
            end = hdrPos + 16 + lclusterCount() * 8;
        }
        return new long[] {hdrPos, end};
    }

    /** Maps the extent containing {@code la} ({@code 0 <= la < size}). */
    Extent map(long la) throws ErofsException {
        Extent e;
        if (fragment && tailHeadLcn == 0 && !extents) {
            e = new Extent(0, size, fragmentOff, 0, Extent.FRAGMENT, 0, false);
        } else if (extents) {
            e = mapExt(la);
        } else {
            e = mapFo(la);
        }
        if (!e.contains(la)) {
            throw corrupt(-1, "extent map " + e + " does not cover offset " + la);
        }
        return e;
    }

    // ------------------------------------------------------------------ lcluster indexes

    private long lclusterCount() {
        return ((size - 1) >>> lbits) + 1;
    }

    private void loadLcluster(Rec m, long lcn, boolean lookahead) throws ErofsException {
        if (compact) {
            loadCompact(m, lcn, lookahead);
        } else {
            loadFull(m, lcn);
        }
        if (m.type != TYPE_NONHEAD && m.clusterofs >= (1 << lbits)) {
            throw corrupt(-1, "lcluster " + lcn + ": cluster offset " + m.clusterofs + " beyond the lcluster size");
        }
    }

    private void loadFull(Rec m, long lcn) throws ErofsException {
        if (lcn < 0 || lcn >= lclusterCount()) {
            throw corrupt(-1, "lcluster " + lcn + " out of range");
        }
        long pos = hdrPos + 16 + lcn * 8;
        byte[] b = m.buf;
        meta.read(pos, b, 0, 8, mapLabel);
        m.lcn = lcn;
        m.nextpackoff = pos + 8;
        int adv = Le.u16(b, 0);
        m.type = adv & 3;
        if (m.type == TYPE_NONHEAD) {
            m.clusterofs = 1 << lbits;
            m.delta0 = Le.u16(b, 4);
            if ((m.delta0 & LI_D0_CBLKCNT) != 0) {
                if ((advise & (ADVISE_BIG_PCLUSTER_1 | ADVISE_BIG_PCLUSTER_2)) == 0) {
                    throw new ErofsException(label + " lcluster " + lcn, pos, "compressed block count without big pclusters");
                }
                m.compressedblks = m.delta0 & ~LI_D0_CBLKCNT;
                m.delta0 = 1;
            }
            m.delta1 = Le.u16(b, 6);
        } else {
            m.partialref = (adv & LI_PARTIAL_REF) != 0;
            m.clusterofs = Le.u16(b, 2);
            m.pblk = Le.u32(b, 4);
        }
    }

    private static int bits(byte[] in, int pos) {
        return Le.i32(in, pos >>> 3) >>> (pos & 7);
    }

    private void loadCompact(Rec m, long lcn, boolean lookahead) throws ErofsException {
        final long ebase = hdrPos + 8;
        final long totalidx = ((size - 1) >>> blkbits) + 1;
        if (lcn < 0 || lcn >= totalidx) {
            throw corrupt(-1, "lcluster " + lcn + " out of range");
        }
        m.lcn = lcn;
        int c4init = (int) (((32 - (ebase & 31)) / 4) & 7);
        long c2b = 0;
        if ((advise & ADVISE_COMPACTED_2B) != 0 && c4init < totalidx) {
            c2b = (totalidx - c4init) & ~15L;
        }
        long pos = ebase;
        int shift = 2;
        long l = lcn;
        if (l >= c4init) {
            pos += c4init * 4L;
            l -= c4init;
            if (l < c2b) {
                shift = 1;
            } else {
                pos += c2b * 2;
                l -= c2b;
            }
        }
        pos += l << shift;
        int vcnt;
        if (shift == 2) {
            vcnt = 2;
        } else if (lbits <= 12) {
            vcnt = 16;
        } else {
            throw corrupt(-1, "compacted 2B indexes with lcluster size 2^" + lbits);
        }
        final int packSize = vcnt << shift;
        final int bytes = (int) (pos & (packSize - 1));
        final long packStart = pos - bytes;
        final byte[] in = m.buf;
        meta.read(packStart, in, 0, packSize, mapLabel);
        m.nextpackoff = packStart + packSize;
        final int lobits = Math.max(lbits, 12);
        final int lomask = (1 << lobits) - 1;
        final int encodebits = ((packSize - 4) * 8) >> (vcnt == 2 ? 1 : 4);
        int i = bytes >> shift;

        int v = bits(in, encodebits * i);
        int lo = v & lomask;
        int type = (v >>> lobits) & 3;
        m.type = type;
        if (type == TYPE_NONHEAD) {
            m.clusterofs = 1 << lbits;
            if (lookahead) {
                m.delta1 = laDistance(in, lobits, encodebits, vcnt, i);
            }
            if ((lo & LI_D0_CBLKCNT) != 0) {
                if ((advise & ADVISE_BIG_PCLUSTER_1) == 0) {
                    throw new ErofsException(label + " lcluster " + lcn, packStart, "compressed block count without big pclusters");
                }
                m.compressedblks = lo & ~LI_D0_CBLKCNT;
                m.delta0 = 1;
                return;
            } else if (i + 1 != vcnt) {
                m.delta0 = lo;
                return;
            }
            // the last lcluster of a pack stores delta[1]; delta[0] comes from its neighbour
            v = bits(in, encodebits * (i - 1));
            lo = v & lomask;
            if (((v >>> lobits) & 3) != TYPE_NONHEAD) {
                lo = 0;
            } else if ((lo & LI_D0_CBLKCNT) != 0) {
                lo = 1;
            }
            m.delta0 = lo + 1;
            return;
        }
        m.clusterofs = lo;
        m.delta0 = 0;
        // the pack stores the block address of its first HEAD; count the pclusters before ours
        long nblk;
        if ((advise & ADVISE_BIG_PCLUSTER_1) == 0) {
            nblk = 1;
            while (i > 0) {
                --i;
                v = bits(in, encodebits * i);
                if (((v >>> lobits) & 3) == TYPE_NONHEAD) {
                    i -= v & lomask;
                }
                if (i >= 0) {
                    ++nblk;
                }
            }
        } else {
            nblk = 0;
            while (i > 0) {
                --i;
                v = bits(in, encodebits * i);
                lo = v & lomask;
                if (((v >>> lobits) & 3) == TYPE_NONHEAD) {
                    if ((lo & LI_D0_CBLKCNT) != 0) {
                        --i;
                        nblk += lo & ~LI_D0_CBLKCNT;
                        continue;
                    }
                    if (lo <= 1) {
                        throw new ErofsException(label + " lcluster " + lcn, packStart, "big pcluster with a plain delta[0] of " + lo);
                    }
                    i -= lo - 2;
                    continue;
                }
                ++nblk;
            }
        }
        m.pblk = Le.u32(in, packSize - 4) + nblk;
    }

    private static int laDistance(byte[] in, int lobits, int encodebits, int vcnt, int i) {
        int d1 = 0;
        int lo = 0;
        final int lomask = (1 << lobits) - 1;
        do {
            int v = bits(in, encodebits * i);
            lo = v & lomask;
            if (((v >>> lobits) & 3) != TYPE_NONHEAD) {
                return d1;
            }
            ++d1;
        } while (++i < vcnt);
        // the last NONHEAD of the pack stores delta[1] itself
        if ((lo & LI_D0_CBLKCNT) == 0) {
            d1 += lo - 1;
        }
        return d1;
    }

    /** Longest distance, in lclusters, between any byte of an extent and its HEAD. */
    private long maxSpan() {
        return ((long) PCLUSTER_MAX_DSIZE >>> lbits) + 2;
    }

    private void lookback(Rec m, long dist, long initialLcn) throws ErofsException {
        final long span = maxSpan();
        while (m.lcn >= dist) {
            long lcn = m.lcn - dist;
            if (initialLcn - lcn > span) {
                throw corrupt(-1, "lookback from lcluster " + initialLcn + " to " + lcn + " exceeds the 12 MiB pcluster limit");
            }
            loadLcluster(m, lcn, false);
            if (m.type == TYPE_NONHEAD) {
                dist = m.delta0;
                if (dist == 0) {
                    break;
                }
                continue;
            }
            m.headtype = m.type;
            m.la = (lcn << lbits) | m.clusterofs;
            return;
        }
        throw corrupt(-1, "bogus lookback distance " + dist + " at lcluster " + m.lcn);
    }

    private void findTail() throws ErofsException {
        Rec m = new Rec();
        long ofs = size - 1;
        long initialLcn = ofs >>> lbits;
        int endoff = (int) (ofs & ((1L << lbits) - 1));
        loadLcluster(m, initialLcn, false);
        if (idataSize != 0) {
            inlinePos = m.nextpackoff;
        }
        headOf(m, initialLcn, endoff);
        tailHeadLcn = m.lcn;
        if (fragment && !compact) {
            fragmentOff |= m.pblk << 32;
        }
    }

    /** After loading lcluster {@code initialLcn}: finds its HEAD; returns the lcluster's end. */
    private long headOf(Rec m, long initialLcn, int endoff) throws ErofsException {
        long end = (m.lcn + 1) << lbits;
        if (m.type == TYPE_NONHEAD) {
            lookback(m, m.delta0, initialLcn);
        } else if (endoff >= m.clusterofs) {
            m.headtype = m.type;
            m.la = (m.lcn << lbits) | m.clusterofs;
            if (idataSize != 0 && end > size) {
                end = size;
            }
        } else {
            if (m.lcn == 0) {
                throw corrupt(-1, "invalid logical cluster 0");
            }
            end = (m.lcn << lbits) | m.clusterofs;
            m.delta0 = 1;
            lookback(m, 1, initialLcn);
        }
        return end;
    }

    private Extent mapFo(long la) throws ErofsException {
        Rec m = new Rec();
        long initialLcn = la >>> lbits;
        int endoff = (int) (la & ((1L << lbits) - 1));
        loadLcluster(m, initialLcn, false);
        long end = headOf(m, initialLcn, endoff);
        boolean partial = m.partialref;
        long llen = end - m.la;
        final long headLcn = m.lcn;
        final int headtype = m.headtype;
        final long extLa = m.la;
        int kind;
        long pa = 0;
        int plen = 0;
        if (idataSize != 0 && headLcn == tailHeadLcn) {
            kind = Extent.META;
            pa = inlinePos;
            plen = idataSize;
        } else if (fragment && headLcn == tailHeadLcn) {
            return new Extent(extLa, size - extLa, fragmentOff, 0, Extent.FRAGMENT, 0, false);
        } else {
            kind = Extent.ENCODED;
            if (m.pblk > (Long.MAX_VALUE >>> blkbits)) {
                throw corrupt(-1, "block address out of range");
            }
            pa = m.pblk << blkbits;
            plen = compressedLen(m, initialLcn);
        }
        int alg;
        if (headtype == TYPE_PLAIN) {
            if (llen > plen) {
                throw corrupt(-1, "uncompressed lcluster at " + extLa + " holds " + llen + " bytes in a " + plen + "-byte pcluster");
            }
            alg = (advise & ADVISE_INTERLACED_PCLUSTER) != 0 ? CompressionConfigs.INTERLACED : CompressionConfigs.SHIFTED;
        } else if (headtype == TYPE_HEAD2) {
            alg = alg1;
            if (alg >= CompressionConfigs.MAX) {
                throw corrupt(-1, "HEAD2 lcluster at " + extLa + " with unknown algorithm type " + alg);
            }
        } else {
            alg = alg0;
        }
        llen = decompressedLen(m, headLcn, extLa);
        if (extLa + llen > size) {
            llen = size - extLa;
        }
        if (headtype == TYPE_PLAIN && llen > plen) {
            throw corrupt(-1, "uncompressed extent at " + extLa + " holds " + llen + " bytes in a " + plen + "-byte pcluster");
        }
        return new Extent(extLa, llen, pa, plen, kind, alg, partial);
    }

    private int compressedLen(Rec m, long initialLcn) throws ErofsException {
        boolean big1 = (advise & ADVISE_BIG_PCLUSTER_1) != 0;
        boolean big2 = (advise & ADVISE_BIG_PCLUSTER_2) != 0;
        long lcn = m.lcn + 1;
        if ((m.headtype == TYPE_HEAD1 && !big1) || ((m.headtype == TYPE_PLAIN || m.headtype == TYPE_HEAD2) && !big2)
                || (lcn << lbits) >= size) {
            m.compressedblks = 1;
        }
        if (m.compressedblks == 0) {
            loadLcluster(m, lcn, false);
            if (m.type == TYPE_NONHEAD) {
                if (m.delta0 != 1) {
                    throw corrupt(-1, "bogus compressed block count at lcluster " + lcn);
                }
                if (m.compressedblks == 0) {
                    throw corrupt(-1, "no compressed block count at lcluster " + lcn);
                }
            } else {
                m.compressedblks = 1;
            }
        }
        if (m.compressedblks > (PCLUSTER_MAX_SIZE >>> blkbits)) {
            throw corrupt(-1, "pcluster of " + m.compressedblks + " blocks exceeds 1 MiB");
        }
        return (int) (m.compressedblks << blkbits);
    }

    private long decompressedLen(Rec m, long headLcn, long extLa) throws ErofsException {
        long lcn = m.lcn;
        final long span = maxSpan();
        while (true) {
            if (lcn >= lclusterCount()) {
                return size - extLa;
            }
            if (lcn - headLcn > span) {
                throw corrupt(-1, "extent at " + extLa + " exceeds the 12 MiB pcluster limit");
            }
            loadLcluster(m, lcn, true);
            if (m.type == TYPE_NONHEAD) {
                if (m.delta1 == 0) {
                    m.delta1 = 1; // invalid d1 written by pre-1.0 mkfs
                }
            } else {
                if (lcn != headLcn) {
                    break;
                }
                m.delta1 = 1;
            }
            lcn += m.delta1;
        }
        return (lcn << lbits) + m.clusterofs - extLa;
    }

    // ------------------------------------------------------------------ 48-bit encoded extents

    private Extent mapExt(long la) throws ErofsException {
        final int recsz = 4 << ((advise >>> 1) & 3);
        long pos = (hdrPos + 8 + recsz - 1) & -(long) recsz;
        final long bmask = (1L << blkbits) - 1;
        final boolean interlaced = (advise & ADVISE_INTERLACED_PCLUSTER) != 0;
        byte[] b = new byte[32];
        long lend = size;
        long lstart;
        long mPa = 0;
        long mPlen = 0;
        boolean last;
        if (recsz <= 8) {
            if (lbits > 40) {
                throw corrupt(hdrPos + 7, "extent size 2^" + lbits + " out of range");
            }
            final long lsz = 1L << lbits;
            long pa;
            boolean hasPa = recsz <= 4;
            if (hasPa) {
                Cursor c = cursor;
                if (c != null && la >= c.lstart) {
                    lstart = c.lstart;
                    pos = c.pos;
                    pa = c.pa;
                } else {
                    meta.read(pos, b, 0, 8, mapLabel);
                    pa = Le.i64(b, 0);
                    pos += 8;
                    lstart = 0;
                }
            } else {
                lstart = la & ~(lsz - 1);
                pos += (lstart >>> lbits) * recsz;
                pa = -1;
            }
            long cl = lstart, cp = pos, cpa = pa;
            for (; lstart <= la; lstart += lsz) {
                cl = lstart;
                cp = pos;
                cpa = pa;
                meta.read(pos, b, 0, recsz, mapLabel);
                mPlen = Le.u32(b, 0);
                if (hasPa) {
                    mPa = pa;
                    pa += mPlen & EXTENT_PLEN_MASK;
                } else {
                    mPa = Le.u32(b, 4);
                }
                pos += recsz;
            }
            if (hasPa) {
                cursor = new Cursor(cl, cp, cpa);
            }
            last = lstart >= ((size + lsz - 1) & ~(lsz - 1));
            lend = Math.min(lstart, size);
            lstart -= lsz;
        } else {
            lstart = lend;
            long l = 0;
            long r = extentCount;
            while (l < r) {
                long mid = l + (r - l) / 2;
                meta.read(pos + mid * recsz, b, 0, recsz, mapLabel);
                long xla = Le.u32(b, 12);
                long xpa = Le.u32(b, 4) | Le.u32(b, 8) << 32;
                if (recsz > 16) {
                    xla |= Le.u32(b, 16) << 32;
                }
                if (xla < 0 || Long.compareUnsigned(xla, la) > 0) {
                    r = mid;
                    if (xla < 0 || xla > lend) {
                        throw corrupt(pos + mid * recsz, "extent " + mid + " starts at " + Long.toUnsignedString(xla)
                                + ", beyond " + lend);
                    }
                    lend = xla;
                } else {
                    l = mid + 1;
                    if (la == xla) {
                        r = Math.min(l + 1, r);
                    }
                    lstart = xla;
                    mPlen = Le.u32(b, 0);
                    mPa = xpa;
                }
            }
            last = l >= extentCount;
        }
        long extLa = la;
        int kind = Extent.HOLE;
        int plen = 0;
        int alg = 0;
        boolean partial = false;
        long pa = 0;
        if (lstart < lend) {
            extLa = lstart;
            if (last && fragment) {
                long off = mPlen;
                if (recsz > 4) {
                    off |= mPa << 32;
                }
                return new Extent(extLa, size - extLa, off, 0, Extent.FRAGMENT, 0, false);
            } else if ((mPlen & EXTENT_PLEN_MASK) != 0) {
                kind = Extent.ENCODED;
                int fmt = (int) (mPlen >>> EXTENT_PLEN_FMT_BIT);
                partial = (mPlen & EXTENT_PLEN_PARTIAL) != 0;
                plen = (int) (mPlen & EXTENT_PLEN_MASK);
                pa = mPa;
                if (fmt != 0) {
                    alg = fmt - 1;
                } else if (interlaced && ((pa | plen) & bmask) == 0) {
                    alg = CompressionConfigs.INTERLACED;
                } else {
                    alg = CompressionConfigs.SHIFTED;
                }
                if (plen > PCLUSTER_MAX_SIZE) {
                    throw corrupt(-1, "pcluster of " + plen + " bytes at " + extLa + " exceeds 1 MiB");
                }
            }
        }
        return new Extent(extLa, lend - extLa, pa, plen, kind, alg, partial);
    }
}
