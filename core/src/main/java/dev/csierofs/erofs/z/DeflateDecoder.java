package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;

import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Raw DEFLATE decoder: the JDK's {@link Inflater} with {@code nowrap} (zlib underneath, no extra
 * dependency). Inflating into an output window of exactly the needed size is partial decoding for
 * free. Inflaters are pooled because each one holds native zlib state.
 */
final class DeflateDecoder {
    private static final int POOL_MAX = Math.max(4, Runtime.getRuntime().availableProcessors() * 2);
    private static final ConcurrentLinkedQueue<Inflater> POOL = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger POOLED = new AtomicInteger();
    private static final byte[] DUMMY = new byte[1];

    private DeflateDecoder() {
    }

    static void decode(byte[] in, int inOff, int inLen, byte[] out, int outOff, int outLen, Object what, long at)
            throws ErofsException {
        decode(in, inOff, inLen, out, outOff, outLen, false, what, at);
    }

    /**
     * Inflates exactly {@code outLen} bytes. {@code exact} (the kernel decoding a whole extent):
     * the stream must also end there, its final block complete; otherwise (partial decoding)
     * inflating stops when the output is full.
     */
    static void decode(byte[] in, int inOff, int inLen, byte[] out, int outOff, int outLen, boolean exact, Object what, long at)
            throws ErofsException {
        Inflater inf = POOL.poll();
        if (inf != null) {
            POOLED.decrementAndGet();
        } else {
            inf = new Inflater(true);
        }
        boolean reusable = false;
        try {
            inf.setInput(in, inOff, inLen);
            int done = 0;
            boolean dummyFed = false;
            while (done < outLen) {
                int n = inf.inflate(out, outOff + done, outLen - done);
                done += n;
                if (n == 0 && done < outLen) {
                    if (inf.finished() || inf.needsDictionary()) {
                        throw new ErofsException(String.valueOf(what), at, "DEFLATE stream ends after " + done + " of " + outLen + " bytes");
                    }
                    if (!inf.needsInput() || dummyFed) {
                        throw new ErofsException(String.valueOf(what), at, "DEFLATE input ends after " + done + " of " + outLen + " bytes");
                    }
                    inf.setInput(DUMMY, 0, 1); // zlib's raw mode may want one byte past the end
                    dummyFed = true;
                }
            }
            if (exact && !inf.finished()) {
                // the end-of-block code may still be unread: one more call with room for a byte tells
                byte[] extra = new byte[1];
                int n = inf.inflate(extra, 0, 1);
                if (n == 0 && !inf.finished() && inf.needsInput() && !dummyFed) {
                    inf.setInput(DUMMY, 0, 1);
                    n = inf.inflate(extra, 0, 1);
                }
                if (n != 0 || !inf.finished()) {
                    throw new ErofsException(String.valueOf(what), at, "DEFLATE stream " + (n != 0 ? "holds more than" : "does not end with")
                            + " the extent's " + outLen + " bytes");
                }
            }
            reusable = true;
        } catch (DataFormatException | RuntimeException e) {
            throw new ErofsException(String.valueOf(what), at, "corrupt DEFLATE data: " + e.getMessage(), e);
        } finally {
            if (reusable && POOLED.incrementAndGet() <= POOL_MAX) {
                inf.reset();
                POOL.offer(inf);
            } else {
                if (reusable) {
                    POOLED.decrementAndGet();
                }
                inf.end();
            }
        }
    }
}
