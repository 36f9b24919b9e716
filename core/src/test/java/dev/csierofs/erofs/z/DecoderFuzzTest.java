package dev.csierofs.erofs.z;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.sun.management.ThreadMXBean;
import dev.csierofs.erofs.ErofsException;
import org.junit.jupiter.api.Test;

import java.io.InputStream;

import java.lang.management.ManagementFactory;
import java.util.Arrays;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Coverage-guided fuzzing of the four pcluster decoders (LZ4, MicroLZMA, DEFLATE, Zstandard)
 * fed raw compressed bytes with a declared decoded length, as {@link CompressedData} feeds them.
 * Input layout: byte 0 picks the decoder (mod 4), bytes 1..3 the decoded length (u24, little
 * endian, at most {@link #MAX_OUT}), bytes 4.. are the pcluster. The only acceptable failure is
 * an {@link ErofsException}; another exception or error, bytes written outside the output window,
 * or more than {@link #ALLOC_LIMIT} bytes allocated for one input is a finding. A normal test run
 * replays {@code DecoderFuzzTestInputs/decode/}; {@code bench/fuzz.sh} fuzzes (docs/fuzzing.md).
 */
class DecoderFuzzTest {

    static final int MAX_OUT = 1 << 17;
    static final long ALLOC_LIMIT = 64L << 20;
    private static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final int GUARD = 16;
    private static final byte CANARY = (byte) 0xA5;

    /** The seeds are valid streams, so that fuzzing starts from inputs that decode all the way. */
    @Test
    void seedsDecode() throws Exception {
        for (String seed : new String[] {"lz4-match.bin", "lzma-text.bin", "deflate-text.bin", "zstd-text.bin"}) {
            byte[] input;
            try (InputStream s = DecoderFuzzTest.class.getResourceAsStream("DecoderFuzzTestInputs/decode/" + seed)) {
                input = s.readAllBytes();
            }
            assertEquals(null, run(input), seed);
        }
    }

    @FuzzTest(maxDuration = "30s")
    void decode(byte[] input) throws Exception {
        ErofsException e = run(input);
        if (e != null && (e.getMessage() == null || e.getMessage().isBlank())) {
            throw new AssertionError("ErofsException without a message", e);
        }
    }

    /** Decodes one input; returns the decoder's refusal, or null when it decoded. */
    private static ErofsException run(byte[] input) {
        if (input.length < 4) {
            return null;
        }
        int alg = (input[0] & 0xff) % 4;
        int outLen = Math.min(MAX_OUT, (input[1] & 0xff) | (input[2] & 0xff) << 8 | (input[3] & 0xff) << 16);
        int inLen = input.length - 4;
        // the pcluster and the output sit at an offset inside larger arrays, as in the reader
        byte[] in = new byte[inLen + 2 * GUARD];
        System.arraycopy(input, 4, in, GUARD, inLen);
        byte[] out = new byte[outLen + 2 * GUARD];
        Arrays.fill(out, CANARY);
        long allocated = THREADS.getCurrentThreadAllocatedBytes();
        ErofsException refused = null;
        try {
            switch (alg) {
                case 0 -> Lz4Decoder.decode(in, GUARD, inLen, out, GUARD, outLen, "fuzz", 0);
                case 1 -> LzmaDecoder.decode(in, GUARD, inLen, out, GUARD, outLen, CompressionConfigs.LZMA_MAX_DICT_SIZE, "fuzz", 0);
                case 2 -> DeflateDecoder.decode(in, GUARD, inLen, out, GUARD, outLen, "fuzz", 0);
                default -> ZstdDecoder.decode(in, GUARD, inLen, out, GUARD, outLen, "fuzz", 0);
            }
        } catch (ErofsException e) {
            refused = e;
        }
        for (int i = 0; i < GUARD; i++) {
            if (out[i] != CANARY || out[GUARD + outLen + i] != CANARY) {
                throw new AssertionError("decoder " + alg + " wrote outside its output window");
            }
        }
        long used = THREADS.getCurrentThreadAllocatedBytes() - allocated;
        if (used > ALLOC_LIMIT) {
            throw new AssertionError("decoding " + inLen + " bytes into " + outLen + " allocated " + (used >> 20) + " MiB");
        }
        return refused;
    }
}
