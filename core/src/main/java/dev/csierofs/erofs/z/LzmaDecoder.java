package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;
import org.tukaani.xz.ArrayCache;
import org.tukaani.xz.BasicArrayCache;
import org.tukaani.xz.LZMAInputStream;

import java.io.ByteArrayInputStream;
import java.io.IOException;

/**
 * MicroLZMA decoder on top of XZ for Java's raw LZMA decoder ({@code org.tukaani:xz}): a mature,
 * pure-Java LZMA implementation; writing our own range coder would add risk for no gain, and no
 * other maintained Java library decodes raw LZMA.
 *
 * <p>MicroLZMA is a raw LZMA stream without header or end marker whose first byte is the bitwise
 * NOT of the lc/lp/pb properties byte; that byte stands in for the range coder's first byte, which
 * is always zero. So the stream is re-fed to LZMAInputStream as {@code 0x00} followed by the
 * remaining bytes, and exactly the needed number of bytes is read: as the uncompressed size when
 * the whole extent is decoded (the end is then checked as the kernel checks it), else with an
 * unknown size (partial decoding stops there, wherever the stream continues).
 */
final class LzmaDecoder {
    private static final ArrayCache ARRAYS = BasicArrayCache.getInstance();

    private LzmaDecoder() {
    }

    /**
     * Decodes exactly {@code outLen} bytes. {@code in[inOff]} is the MicroLZMA properties byte;
     * this method overwrites it (callers pass a scratch copy of the pcluster).
     */
    static void decode(byte[] in, int inOff, int inLen, byte[] out, int outOff, int outLen, int dictSize, Object what, long at)
            throws ErofsException {
        decode(in, inOff, inLen, out, outOff, outLen, dictSize, false, what, at);
    }

    /**
     * {@code exact} (the kernel decoding a whole extent, its "uncompressed size is exact" mode):
     * the stream must also end there, with no match running on, the range decoder finished and
     * every input byte consumed; otherwise (partial decoding) decoding stops when the output is
     * full.
     */
    static void decode(byte[] in, int inOff, int inLen, byte[] out, int outOff, int outLen, int dictSize, boolean exact, Object what,
            long at) throws ErofsException {
        if (inLen < 5) {
            throw new ErofsException(String.valueOf(what), at, "MicroLZMA stream of " + inLen + " bytes is too short");
        }
        int props = ~in[inOff] & 0xff;
        if (props >= 9 * 5 * 5) {
            throw new ErofsException(String.valueOf(what), at, "invalid MicroLZMA properties byte 0x" + Integer.toHexString(props));
        }
        int lc = props % 9;
        int lp = (props / 9) % 5;
        if (lc + lp > 4) {
            throw new ErofsException(String.valueOf(what), at, "MicroLZMA lc " + lc + " + lp " + lp + " exceeds 4");
        }
        // the dictionary never needs to exceed what is decoded (no preset dictionary)
        int dict = Math.max(4096, Math.min(dictSize <= 0 ? CompressionConfigs.LZMA_MAX_DICT_SIZE : dictSize, outLen));
        in[inOff] = 0;
        ByteArrayInputStream src = new ByteArrayInputStream(in, inOff, inLen);
        try (LZMAInputStream lz = new LZMAInputStream(src, exact ? outLen : -1, (byte) props, dict, null, ARRAYS)) {
            int done = 0;
            while (done < outLen) {
                int n = lz.read(out, outOff + done, outLen - done);
                if (n < 0) {
                    throw new ErofsException(String.valueOf(what), at, "MicroLZMA stream ends after " + done + " of " + outLen + " bytes");
                }
                done += n;
            }
            if (exact && src.available() != 0) {
                throw new ErofsException(String.valueOf(what), at, "MicroLZMA stream ends " + src.available() + " bytes before its pcluster does");
            }
        } catch (ErofsException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new ErofsException(String.valueOf(what), at, "corrupt MicroLZMA data: " + e, e);
        }
    }
}
