package dev.csierofs.fuse;

import com.code_intelligence.jazzer.junit.FuzzTest;

import java.lang.foreign.MemorySegment;
import java.util.Arrays;

/**
 * Coverage-guided fuzzing of FUSE request decoding: any bytes are one read of /dev/fuse. The only
 * acceptable failure is a {@link FuseProtocolException}; any other exception, an error or a hang
 * is a finding. A normal test run replays the inputs in {@code RequestFuzzTestInputs/decode/};
 * {@code bench/fuzz.sh} fuzzes (see docs/fuzzing.md).
 */
class RequestFuzzTest {

    /**
     * The first input byte is a switch, the rest the message: with its low bit set, the header's
     * len is patched to the message's size, so that the fuzzer gets past that check to the bodies
     * at once, while messages whose len disagrees are still tried.
     */
    @FuzzTest(maxDuration = "30s")
    void decode(byte[] input) throws Exception {
        if (input.length == 0) {
            return;
        }
        byte[] message = Arrays.copyOfRange(input, 1, input.length);
        if ((input[0] & 1) != 0 && message.length >= 4) {
            Wire.putU32(MemorySegment.ofArray(message), 0, message.length);
        }
        Request r;
        try {
            r = Request.decode(MemorySegment.ofArray(message));
        } catch (FuseProtocolException e) {
            if (e.getMessage() == null || e.getMessage().isBlank()) {
                throw new AssertionError("protocol error without a message", e);
            }
            return;
        }
        r.toString();
        if (r.body() instanceof InitIn init) {
            try {
                InitNegotiation.negotiate(init, InitNegotiation.Options.defaults());
            } catch (FuseProtocolException e) {
                // an INIT this code cannot speak: the daemon refuses the session
            }
        }
    }
}
