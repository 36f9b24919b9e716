package dev.csierofs.erofs.z;

import com.github.luben.zstd.Zstd;
import dev.csierofs.erofs.ErofsException;
import net.jpountz.lz4.LZ4Compressor;
import net.jpountz.lz4.LZ4Factory;
import net.jpountz.lz4.LZ4SafeDecompressor;
import org.junit.jupiter.api.Test;
import org.tukaani.xz.LZMA2Options;
import org.tukaani.xz.LZMAOutputStream;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import java.util.zip.Deflater;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * The decoders on their own: our LZ4 decoder against lz4-java (full and partial decoding, random
 * and real data), the MicroLZMA framing, DEFLATE and zstd partial decoding, and corrupt input of
 * every kind ending in an ErofsException, never another exception or a hang.
 */
class DecoderTest {

    private static final LZ4Factory LZ4 = LZ4Factory.safeInstance();

    /** Inputs of many shapes: incompressible, text, long runs, short periods, mixtures, sizes around powers of two. */
    static List<byte[]> samples(long seed) {
        Random r = new Random(seed);
        List<byte[]> out = new ArrayList<>();
        int[] sizes = {1, 2, 3, 4, 5, 11, 12, 13, 15, 16, 17, 19, 255, 256, 4095, 4096, 4097, 65535, 65536, 65537, 200_000};
        for (int size : sizes) {
            byte[] rnd = new byte[size];
            r.nextBytes(rnd);
            out.add(rnd);
            out.add(new byte[size]);
            byte[] text = new byte[size];
            String words = "the quick brown fox jumps over the lazy dog EROFS pcluster lcluster ";
            for (int i = 0; i < size; i++) {
                text[i] = (byte) words.charAt((i * 7 + (i / 97)) % words.length());
            }
            out.add(text);
            byte[] mixed = new byte[size];
            int i = 0;
            while (i < size) {
                int kind = r.nextInt(4);
                int len = Math.min(size - i, 1 + r.nextInt(kind == 0 ? 300 : 40));
                switch (kind) {
                    case 0 -> Arrays.fill(mixed, i, i + len, (byte) r.nextInt(256));
                    case 1 -> {
                        for (int k = 0; k < len; k++) {
                            mixed[i + k] = (byte) r.nextInt(256);
                        }
                    }
                    default -> {
                        int period = 1 + r.nextInt(kind == 2 ? 8 : 70);
                        for (int k = 0; k < len; k++) {
                            mixed[i + k] = i + k >= period ? mixed[i + k - period] : (byte) r.nextInt(4);
                        }
                    }
                }
                i += len;
            }
            out.add(mixed);
        }
        return out;
    }

    @Test
    void lz4MatchesLz4JavaFullAndPartial() throws Exception {
        LZ4Compressor[] compressors = {LZ4.fastCompressor(), LZ4.highCompressor(), LZ4.highCompressor(12)};
        LZ4SafeDecompressor oracle = LZ4.safeDecompressor();
        Random r = new Random(42);
        for (byte[] data : samples(1)) {
            for (LZ4Compressor c : compressors) {
                byte[] enc = c.compress(data);
                byte[] ref = new byte[data.length];
                oracle.decompress(enc, 0, enc.length, ref, 0);
                assertArrayEquals(data, ref);
                // full decode, also with the block at an offset inside larger buffers
                byte[] src = new byte[enc.length + 10];
                System.arraycopy(enc, 0, src, 7, enc.length);
                byte[] out = new byte[data.length + 5];
                Lz4Decoder.decode(src, 7, enc.length, out, 3, data.length, "t", 0);
                assertArrayEquals(data, Arrays.copyOfRange(out, 3, 3 + data.length));
                // partial decodes: any prefix, wherever it ends inside a sequence; trailing input ignored
                for (int k = 0; k < 8; k++) {
                    int want = r.nextInt(data.length + 1);
                    byte[] part = new byte[want];
                    Lz4Decoder.decode(src, 7, enc.length + 3, part, 0, want, "t", 0);
                    assertArrayEquals(Arrays.copyOf(data, want), part);
                }
            }
        }
    }

    @Test
    void lz4OnRealData() throws Exception {
        // a real ELF library from the fixture tree is inside tree.tar; any sizeable real file will do
        byte[] real = java.nio.file.Files.readAllBytes(ZFixtures.dir().resolve("tree.tar"));
        LZ4SafeDecompressor oracle = LZ4.safeDecompressor();
        for (int off = 0; off + 65536 <= real.length; off += 65536 * 3) {
            byte[] chunk = Arrays.copyOfRange(real, off, off + 65536);
            byte[] enc = LZ4.highCompressor().compress(chunk);
            byte[] a = new byte[chunk.length];
            byte[] b = new byte[chunk.length];
            Lz4Decoder.decode(enc, 0, enc.length, a, 0, a.length, "t", 0);
            oracle.decompress(enc, 0, enc.length, b, 0);
            assertArrayEquals(b, a);
            assertArrayEquals(chunk, a);
        }
    }

    @Test
    void lz4CorruptInputOnlyThrowsErofsException() {
        LZ4SafeDecompressor oracle = LZ4.safeDecompressor();
        Random r = new Random(7);
        List<byte[]> samples = samples(2);
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (int iter = 0; iter < 20000; iter++) {
                byte[] data = samples.get(r.nextInt(samples.size()));
                if (data.length > 70000) {
                    continue;
                }
                byte[] enc = LZ4.fastCompressor().compress(data);
                int mode = r.nextInt(4);
                if (mode == 0) {
                    enc = Arrays.copyOf(enc, r.nextInt(enc.length + 1)); // truncated
                } else if (mode == 1) {
                    for (int k = 0; k < 1 + r.nextInt(4); k++) {
                        enc[r.nextInt(enc.length)] ^= (byte) (1 + r.nextInt(255));
                    }
                } else if (mode == 2) {
                    r.nextBytes(enc); // garbage
                } else {
                    for (int k = 0; k < enc.length; k++) {
                        if (r.nextInt(8) == 0) {
                            enc[k] = (byte) 0xff; // long length runs
                        }
                    }
                }
                int outLen = r.nextInt(4) == 0 ? r.nextInt(data.length + 100) : data.length;
                byte[] out = new byte[outLen];
                boolean ok;
                try {
                    Lz4Decoder.decode(enc, 0, enc.length, out, 0, outLen, "t", 0);
                    ok = true;
                } catch (ErofsException e) {
                    ok = false;
                } catch (RuntimeException e) {
                    throw new AssertionError("LZ4 decoder threw " + e + " on corrupt input", e);
                }
                // where lz4-java decodes the whole block to exactly outLen bytes, we must agree
                byte[] ref = new byte[outLen];
                int n;
                try {
                    n = oracle.decompress(enc, 0, enc.length, ref, 0, outLen);
                } catch (RuntimeException e) {
                    n = -1;
                }
                if (n == outLen) {
                    if (!ok) {
                        fail("lz4-java decodes a block we reject (iteration " + iter + ")");
                    }
                    assertArrayEquals(ref, out);
                    // a block valid as a whole is valid for the kernel's exact decoding too
                    byte[] exact = new byte[outLen];
                    try {
                        Lz4Decoder.decode(enc, 0, enc.length, exact, 0, outLen, true, "t", 0);
                    } catch (ErofsException e) {
                        fail("exact decoding rejects a block lz4-java decodes (iteration " + iter + "): " + e.getMessage());
                    }
                    assertArrayEquals(ref, exact);
                } else {
                    byte[] exact = new byte[outLen];
                    try {
                        Lz4Decoder.decode(enc, 0, enc.length, exact, 0, outLen, true, "t", 0);
                    } catch (ErofsException expected) {
                        // mostly; the kernel's short-sequence path accepts a few blocks lz4-java refuses
                    } catch (RuntimeException e) {
                        throw new AssertionError("exact LZ4 decoding threw " + e + " on corrupt input", e);
                    }
                }
            }
        });
    }

    @Test
    void lz4RejectsBadOffsetsAndShortInput() {
        byte[] zeroOffset = {0x10, 'a', 0, 0};
        assertThrows(ErofsException.class, () -> Lz4Decoder.decode(zeroOffset, 0, 4, new byte[10], 0, 10, "t", 0));
        byte[] farOffset = {0x10, 'a', 2, 0};
        assertThrows(ErofsException.class, () -> Lz4Decoder.decode(farOffset, 0, 4, new byte[10], 0, 10, "t", 0));
        byte[] literalsOnly = {0x30, 'a', 'b', 'c'};
        assertThrows(ErofsException.class, () -> Lz4Decoder.decode(literalsOnly, 0, 4, new byte[4], 0, 4, "t", 0));
        assertThrows(ErofsException.class, () -> Lz4Decoder.decode(new byte[0], 0, 0, new byte[1], 0, 1, "t", 0));
        byte[] ok = new byte[2];
        try {
            Lz4Decoder.decode(literalsOnly, 0, 4, ok, 0, 2, "t", 0);
        } catch (ErofsException e) {
            fail(e);
        }
        assertArrayEquals("ab".getBytes(StandardCharsets.US_ASCII), ok);
    }

    /**
     * The kernel's rules (lib/lz4 as EROFS calls it): exact decoding of a whole extent wants the
     * block to end exactly there, partial decoding stops when the output is full.
     */
    @Test
    void lz4FollowsTheKernelsRules() throws Exception {
        byte[] data = "abcdefgh".repeat(40).getBytes(StandardCharsets.US_ASCII);
        byte[] enc = LZ4.fastCompressor().compress(data);
        // trailing input after the last literals: exact refuses, partial ignores it
        byte[] trailing = Arrays.copyOf(enc, enc.length + 1);
        assertThrows(ErofsException.class, () -> Lz4Decoder.decode(trailing, 0, trailing.length, new byte[data.length], 0, data.length,
                true, "t", 0));
        byte[] out = new byte[data.length];
        Lz4Decoder.decode(trailing, 0, trailing.length, out, 0, data.length, false, "t", 0);
        assertArrayEquals(data, out);
        // fewer bytes wanted than the block holds: exact refuses, partial gives the prefix
        assertThrows(ErofsException.class, () -> Lz4Decoder.decode(enc, 0, enc.length, new byte[100], 0, 100, true, "t", 0));
        byte[] prefix = new byte[100];
        Lz4Decoder.decode(enc, 0, enc.length, prefix, 0, 100, false, "t", 0);
        assertArrayEquals(Arrays.copyOf(data, 100), prefix);
        // more bytes wanted than the block holds: both refuse
        for (boolean exact : new boolean[] {true, false}) {
            assertThrows(ErofsException.class, () -> Lz4Decoder.decode(enc, 0, enc.length, new byte[data.length + 1], 0, data.length + 1,
                    exact, "t", 0));
        }
        // a match ending in the last 5 bytes (outside the short-sequence path): exact refuses, partial accepts
        byte[] lateMatch = {(byte) 0x8f, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 8, 0, 0, 0x40, 'w', 'x', 'y', 'z'};
        assertThrows(ErofsException.class, () -> Lz4Decoder.decode(lateMatch, 0, lateMatch.length, new byte[31], 0, 31, true, "t", 0));
        byte[] late = new byte[31];
        Lz4Decoder.decode(lateMatch, 0, lateMatch.length, late, 0, 31, false, "t", 0);
        assertArrayEquals("abcdefghabcdefghabcdefghabcwxyz".getBytes(StandardCharsets.US_ASCII), late);
        byte[] lateOk = {(byte) 0x84, 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 8, 0, 0x50, 'v', 'w', 'x', 'y', 'z'};
        byte[] got = new byte[21];
        Lz4Decoder.decode(lateOk, 0, lateOk.length, got, 0, 21, true, "t", 0);
        assertArrayEquals("abcdefghabcdefghvwxyz".getBytes(StandardCharsets.US_ASCII), got);
        // offset 0: exact decoding writes zeros as the kernel does; partial decoding refuses (the kernel's bytes are undefined)
        byte[] zero = {0x44, 'a', 'b', 'c', 'd', 0, 0, 0x50, 'v', 'w', 'x', 'y', 'z'};
        byte[] z = new byte[17];
        Lz4Decoder.decode(zero, 0, zero.length, z, 0, 17, true, "t", 0);
        assertArrayEquals(new byte[] {'a', 'b', 'c', 'd', 0, 0, 0, 0, 0, 0, 0, 0, 'v', 'w', 'x', 'y', 'z'}, z);
        assertThrows(ErofsException.class, () -> Lz4Decoder.decode(zero, 0, zero.length, new byte[17], 0, 17, false, "t", 0));
        // a match-length extension must leave 5 input bytes
        byte[] ext = {0x1f, 'a', 1, 0, 3, 'x', 'y', 'z', 'w'};
        assertThrows(ErofsException.class, () -> Lz4Decoder.decode(ext, 0, ext.length, new byte[23], 0, 23, false, "t", 0));
    }

    /** A MicroLZMA stream: raw LZMA without end marker, first byte replaced by the NOT of the properties. */
    static byte[] microLzma(byte[] data, int dict) throws Exception {
        LZMA2Options o = new LZMA2Options(6);
        o.setDictSize(dict);
        ByteArrayOutputStream bo = new ByteArrayOutputStream();
        try (LZMAOutputStream lz = new LZMAOutputStream(bo, o, false)) {
            lz.write(data);
        }
        byte[] raw = bo.toByteArray();
        if (raw[0] != 0) {
            throw new AssertionError("range coder must start with 0");
        }
        raw[0] = (byte) ~((o.getPb() * 5 + o.getLp()) * 9 + o.getLc());
        return raw;
    }

    @Test
    void microLzmaFullAndPartial() throws Exception {
        Random r = new Random(3);
        for (byte[] data : samples(4)) {
            byte[] enc = microLzma(data, 1 << 16);
            byte[] padded = new byte[enc.length + 100]; // zero padding in front is stripped by the caller
            for (int want : new int[] {data.length, r.nextInt(data.length + 1), Math.min(data.length, 1)}) {
                System.arraycopy(enc, 0, padded, 100, enc.length);
                byte[] out = new byte[want];
                LzmaDecoder.decode(padded, 100, enc.length, out, 0, want, 1 << 16, "t", 0);
                assertArrayEquals(Arrays.copyOf(data, want), out);
            }
        }
    }

    /** Exact decoding (a whole extent) wants the stream to end there; partial decoding does not. */
    @Test
    void microLzmaAndDeflateExactWantTheStreamToEndThere() throws Exception {
        byte[] tail = new byte[64];
        new Random(10).nextBytes(tail);
        for (byte[] data : samples(9)) {
            if (data.length < 16) {
                continue; // a tiny stream may leave the range coder finished a symbol early, which both accept
            }
            byte[] lz = microLzma(data, 1 << 16);
            byte[] out = new byte[data.length];
            LzmaDecoder.decode(lz.clone(), 0, lz.length, out, 0, data.length, 1 << 16, true, "t", 0);
            assertArrayEquals(data, out);
            // the same data followed by random bytes: the extent is a prefix of the stream
            byte[] longer = Arrays.copyOf(data, data.length + 64);
            System.arraycopy(tail, 0, longer, data.length, 64);
            byte[] lz2 = microLzma(longer, 1 << 16);
            byte[] prefix = new byte[data.length];
            LzmaDecoder.decode(lz2.clone(), 0, lz2.length, prefix, 0, data.length, 1 << 16, false, "t", 0);
            assertArrayEquals(data, prefix);
            assertThrows(ErofsException.class, () -> LzmaDecoder.decode(lz2.clone(), 0, lz2.length, new byte[data.length], 0, data.length,
                    1 << 16, true, "t", 0));
            int shorter = data.length - 1;

            Deflater d = new Deflater(9, true);
            d.setInput(data);
            d.finish();
            byte[] buf = new byte[data.length * 2 + 64];
            int n = d.deflate(buf);
            d.end();
            byte[] full = new byte[data.length];
            DeflateDecoder.decode(buf, 0, n, full, 0, data.length, true, "t", 0);
            assertArrayEquals(data, full);
            DeflateDecoder.decode(buf, 0, n, new byte[shorter], 0, shorter, false, "t", 0);
            assertThrows(ErofsException.class, () -> DeflateDecoder.decode(buf, 0, n, new byte[shorter], 0, shorter, true, "t", 0));
        }
    }

    @Test
    void deflateAndZstdFullAndPartial() throws Exception {
        Random r = new Random(5);
        for (byte[] data : samples(6)) {
            Deflater d = new Deflater(9, true);
            d.setInput(data);
            d.finish();
            byte[] buf = new byte[data.length * 2 + 64];
            int n = d.deflate(buf);
            d.end();
            byte[] z = Zstd.compress(data, 9);
            for (int want : new int[] {data.length, r.nextInt(data.length + 1)}) {
                byte[] out = new byte[want];
                DeflateDecoder.decode(buf, 0, n, out, 0, want, "t", 0);
                assertArrayEquals(Arrays.copyOf(data, want), out);
                byte[] out2 = new byte[want];
                ZstdDecoder.decode(z, 0, z.length, out2, 0, want, "t", 0);
                assertArrayEquals(Arrays.copyOf(data, want), out2);
            }
            // asking for more than the stream holds is corruption
            assertThrows(ErofsException.class, () -> DeflateDecoder.decode(buf, 0, n, new byte[data.length + 1], 0, data.length + 1, "t", 0));
            assertThrows(ErofsException.class, () -> ZstdDecoder.decode(z, 0, z.length, new byte[data.length + 1], 0, data.length + 1, "t", 0));
        }
    }

    @Test
    void corruptLzmaDeflateZstdOnlyThrowErofsException() {
        Random r = new Random(11);
        List<byte[]> samples = samples(8).stream().filter(b -> b.length <= 70000 && b.length > 16).toList();
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            for (int iter = 0; iter < 1500; iter++) {
                byte[] data = samples.get(r.nextInt(samples.size()));
                int alg = iter % 3;
                byte[] enc;
                if (alg == 0) {
                    enc = microLzma(data, 1 << 16);
                } else if (alg == 1) {
                    Deflater d = new Deflater(6, true);
                    d.setInput(data);
                    d.finish();
                    byte[] buf = new byte[data.length * 2 + 64];
                    enc = Arrays.copyOf(buf, d.deflate(buf));
                    d.end();
                } else {
                    enc = Zstd.compress(data, 3);
                }
                if (r.nextBoolean()) {
                    enc = Arrays.copyOf(enc, r.nextInt(enc.length + 1));
                } else if (r.nextBoolean()) {
                    for (int k = 0; k < 1 + r.nextInt(6); k++) {
                        enc[r.nextInt(enc.length)] ^= (byte) (1 + r.nextInt(255));
                    }
                } else {
                    r.nextBytes(enc);
                }
                byte[] out = new byte[data.length];
                try {
                    switch (alg) {
                        case 0 -> LzmaDecoder.decode(enc, 0, enc.length, out, 0, out.length, 1 << 16, "t", 0);
                        case 1 -> DeflateDecoder.decode(enc, 0, enc.length, out, 0, out.length, "t", 0);
                        default -> ZstdDecoder.decode(enc, 0, enc.length, out, 0, out.length, "t", 0);
                    }
                } catch (ErofsException expected) {
                    // fine
                } catch (Throwable t) {
                    throw new AssertionError("decoder " + alg + " threw " + t, t);
                }
            }
        });
    }
}
