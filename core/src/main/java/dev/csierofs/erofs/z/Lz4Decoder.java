package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;

import java.util.Arrays;

/**
 * LZ4 block decoder, our own, accepting exactly what the Linux kernel's EROFS accepts. The
 * kernel decodes a pcluster in one of two modes (lib/lz4's LZ4_decompress_safe and
 * LZ4_decompress_safe_partial), and so do we:
 * <ul>
 * <li><b>exact</b> (the whole extent of a zero-padded pcluster that is not a partial dedupe
 * reference): the block must produce exactly the extent's bytes and end with a literal run that
 * ends at the last input byte; a non-final literal run must leave at least 12 bytes of output and
 * 8 bytes of input after it; a match must end at least 5 bytes before the end of the output
 * (unless it came by the kernel's short-sequence path, see {@link #decode});
 * <li><b>partial</b> (a prefix of a pcluster: dedupe references, and legacy images without zero
 * padding, whose pclusters may hold extra data): decoding stops as soon as the requested bytes
 * are produced, in the middle of a literal run or match if need be, whatever input follows.
 * </ul>
 * In both modes a match may only refer to bytes of this output, a literal-length extension must
 * start at least 16 bytes before the end of the input, and each match-length extension byte must
 * leave at least 5 input bytes after it. A match offset of 0 is not rejected by the kernel: in
 * exact mode it writes zeros (its decoder stores the offset itself before copying), which we do
 * too; in partial mode the kernel leaves the destination's previous bytes, which are undefined,
 * so we refuse the pcluster (docs/hostile-images.md).
 *
 * <p>Plain byte[] code, every bound checked explicitly: corrupt input ends in an
 * {@link ErofsException}, never an index exception, and the work is bounded by the output size
 * plus the input size. Far from the buffer ends, short literal runs and matches are copied as
 * fixed 16-byte blocks (overshooting into bytes later sequences overwrite), which is what makes
 * it fast (about 1.1-1.5 GB/s on lz4hc data with C2).
 */
public final class Lz4Decoder {
    private Lz4Decoder() {
    }

    /** Input bytes a literal-length extension must start before the end (the kernel's RUN_MASK margin). */
    private static final int LIT_EXT_MARGIN = 15;
    /** Output bytes that must follow a non-final literal run (LZ4's MFLIMIT). */
    private static final int MFLIMIT = 12;
    /** Input bytes that must follow a non-final literal run: offset, token, LASTLITERALS. */
    private static final int LIT_INPUT_MARGIN = 8;
    /** The last bytes of a block are literals (LZ4's LASTLITERALS). */
    private static final int LAST_LITERALS = 5;
    /** The kernel's short-sequence path: input and output room it needs. */
    private static final int SHORT_IN = 16;
    private static final int SHORT_OUT = 32;

    /**
     * Partial decoding of exactly {@code outLen} bytes (see {@link #decode(byte[], int, int,
     * byte[], int, int, boolean, Object, long)} with {@code exact} false).
     */
    public static void decode(byte[] in, int inOff, int inLen, byte[] out, int outOff, int outLen, Object what, long at)
            throws ErofsException {
        decode(in, inOff, inLen, out, outOff, outLen, false, what, at);
    }

    /**
     * Decodes the LZ4 block in {@code in[inOff, inOff + inLen)} into exactly
     * {@code out[outOff, outOff + outLen)}; {@code exact} selects the kernel's full-block rules,
     * else partial decoding. Matches may only refer to bytes written by this call. {@code what}
     * and {@code at} name the pcluster in error messages.
     */
    public static void decode(byte[] in, int inOff, int inLen, byte[] out, int outOff, int outLen, boolean exact, Object what,
            long at) throws ErofsException {
        if (inOff < 0 || inLen < 0 || inOff > in.length - inLen || outOff < 0 || outLen < 0 || outOff > out.length - outLen) {
            throw new IllegalArgumentException("buffer bounds");
        }
        if (outLen == 0) {
            return;
        }
        if (inLen == 0) {
            throw fail(what, at, "empty LZ4 block");
        }
        int ip = inOff;
        final int iend = inOff + inLen;
        int op = outOff;
        final int oend = outOff + outLen;
        final int shortIend = iend - SHORT_IN;
        final int shortOend = oend - SHORT_OUT;
        while (true) {
            if (ip >= iend) {
                throw fail(what, at, "LZ4 input ends after " + (op - outOff) + " of " + outLen + " bytes");
            }
            final int token = in[ip++] & 0xff;
            int lit = token >>> 4;
            int mlen = token & 15;
            int offset;
            if (lit != 15 && ip < shortIend && op <= shortOend) {
                // the kernel's short-sequence path: no end-of-block rules apply here
                System.arraycopy(in, ip, out, op, 16);
                ip += lit;
                op += lit;
                offset = (in[ip] & 0xff) | (in[ip + 1] & 0xff) << 8;
                ip += 2;
                if (mlen != 15 && offset >= 8 && offset <= op - outOff) {
                    int n = mlen + 4;
                    if (offset >= 18) {
                        System.arraycopy(out, op - offset, out, op, 18);
                    } else {
                        copyMatch(out, op, op - offset, offset, n);
                    }
                    op += n;
                    continue;
                }
            } else {
                if (lit == 15) {
                    if (ip >= iend - LIT_EXT_MARGIN) {
                        throw fail(what, at, "LZ4 literal length extension too close to the end of the input");
                    }
                    int b;
                    do {
                        b = in[ip++] & 0xff;
                        lit += b;
                    } while (ip < iend - LIT_EXT_MARGIN && b == 255);
                }
                long cpy = (long) op + lit;
                if (cpy > oend - MFLIMIT || (long) ip + lit > iend - LIT_INPUT_MARGIN) {
                    // the last literals (or, partially decoding, possibly the last before the output is full)
                    if (exact) {
                        if ((long) ip + lit != iend || cpy > oend) {
                            throw fail(what, at, "LZ4 block does not end with its last literal run (" + lit + " literals at input byte "
                                    + (ip - inOff) + " of " + inLen + ", output byte " + (op - outOff) + " of " + outLen + ")");
                        }
                    } else {
                        if (cpy > oend) {
                            lit = oend - op;
                        }
                        if ((long) ip + lit > iend) {
                            throw fail(what, at, "LZ4 literals run past the input");
                        }
                    }
                    System.arraycopy(in, ip, out, op, lit);
                    ip += lit;
                    op += lit;
                    if (exact || op == oend || ip >= iend - 2) {
                        break;
                    }
                } else {
                    System.arraycopy(in, ip, out, op, lit);
                    ip += lit;
                    op += lit;
                }
                offset = (in[ip] & 0xff) | (in[ip + 1] & 0xff) << 8;
                ip += 2;
            }
            if (offset > op - outOff) {
                throw fail(what, at, "LZ4 match offset " + offset + " at output byte " + (op - outOff) + " is out of range");
            }
            if (mlen == 15) {
                int b;
                do {
                    if (ip >= iend) {
                        throw fail(what, at, "LZ4 match length runs past the input");
                    }
                    b = in[ip++] & 0xff;
                    if (ip > iend - LAST_LITERALS) {
                        throw fail(what, at, "LZ4 match length runs into the last " + LAST_LITERALS + " input bytes");
                    }
                    mlen += b;
                } while (b == 255);
            }
            mlen += 4;
            long cpy = (long) op + mlen;
            if (!exact && cpy > oend - MFLIMIT) {
                // partial decoding near the end: the match may be cut where the output is full
                int n = (int) Math.min(mlen, oend - op);
                if (offset == 0) {
                    throw fail(what, at, "LZ4 match offset 0 at output byte " + (op - outOff) + " (partial decoding)");
                }
                op = copyMatch(out, op, op - offset, offset, n);
                if (op == oend) {
                    break;
                }
                continue;
            }
            if (exact && cpy > oend - LAST_LITERALS) {
                throw fail(what, at, "LZ4 match ends in the last " + LAST_LITERALS + " bytes of the block (output byte " + cpy
                        + " of " + outLen + ")");
            }
            if (offset == 0) {
                if (!exact) {
                    throw fail(what, at, "LZ4 match offset 0 at output byte " + (op - outOff) + " (partial decoding)");
                }
                Arrays.fill(out, op, op + mlen, (byte) 0); // what the kernel's decoder writes
                op += mlen;
            } else {
                op = copyMatch(out, op, op - offset, offset, mlen);
            }
        }
        if (op != oend) {
            throw fail(what, at, "LZ4 block ends after " + (op - outOff) + " of " + outLen + " bytes");
        }
    }

    /** Copies {@code n} bytes from {@code m} to {@code op} (m = op - offset, possibly overlapping). */
    private static int copyMatch(byte[] out, int op, int m, int offset, int n) {
        if (offset >= n) {
            if (n <= 16) {
                for (int i = 0; i < n; i++) {
                    out[op + i] = out[m + i];
                }
            } else {
                System.arraycopy(out, m, out, op, n);
            }
            return op + n;
        }
        if (offset == 1) {
            Arrays.fill(out, op, op + n, out[m]);
            return op + n;
        }
        if (n <= 32) {
            for (int i = 0; i < n; i++) {
                out[op + i] = out[m + i];
            }
            return op + n;
        }
        // the bytes [m, op) repeat with period offset, so the copied run can grow each round
        int end = op + n;
        while (op < end) {
            int c = Math.min(end - op, op - m);
            System.arraycopy(out, m, out, op, c);
            op += c;
        }
        return op;
    }

    private static ErofsException fail(Object what, long at, String problem) {
        return new ErofsException(String.valueOf(what), at, problem);
    }
}
