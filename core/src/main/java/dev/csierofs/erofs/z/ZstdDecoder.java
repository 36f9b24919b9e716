package dev.csierofs.erofs.z;

import com.github.luben.zstd.ZstdDecompressCtx;
import dev.csierofs.erofs.ErofsException;

import java.nio.ByteBuffer;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Zstandard decoder: zstd-jni, the reference libzstd through JNI (pure-Java ports are slower and
 * lag behind the format). A one-shot decode is tried first (fastest, and exact when the extent is
 * the whole frame); if the frame holds more than the extent needs (partial decoding), the
 * streaming API fills exactly the needed bytes. Decompression contexts are pooled.
 */
final class ZstdDecoder {
    private static final int POOL_MAX = Math.max(4, Runtime.getRuntime().availableProcessors() * 2);
    private static final ConcurrentLinkedQueue<ZstdDecompressCtx> POOL = new ConcurrentLinkedQueue<>();
    private static final AtomicInteger POOLED = new AtomicInteger();

    private ZstdDecoder() {
    }

    static void decode(byte[] in, int inOff, int inLen, byte[] out, int outOff, int outLen, Object what, long at)
            throws ErofsException {
        ZstdDecompressCtx ctx = POOL.poll();
        if (ctx != null) {
            POOLED.decrementAndGet();
        }
        boolean reusable = false;
        try {
            if (ctx == null) {
                ctx = new ZstdDecompressCtx();
            }
            long r = -1;
            try {
                r = ctx.decompressByteArray(out, outOff, outLen, in, inOff, inLen);
            } catch (RuntimeException e) {
                // fall back to streaming below (frame larger than needed, or corrupt)
            }
            if (r != outLen) {
                ctx.reset();
                ByteBuffer src = ByteBuffer.wrap(in, inOff, inLen);
                ByteBuffer dst = ByteBuffer.wrap(out, outOff, outLen);
                while (dst.hasRemaining()) {
                    int before = src.position() + dst.position();
                    boolean frameDone = ctx.decompressByteBufferStream(dst, src);
                    if (!dst.hasRemaining()) {
                        break;
                    }
                    if (frameDone || src.position() + dst.position() == before) {
                        throw new ErofsException(String.valueOf(what), at, "zstd data ends after " + (dst.position() - outOff) + " of "
                                + outLen + " bytes");
                    }
                }
                ctx.reset();
            }
            reusable = true;
        } catch (ErofsException e) {
            throw e;
        } catch (RuntimeException | LinkageError e) {
            throw new ErofsException(String.valueOf(what), at, "corrupt zstd data: " + e.getMessage(), e);
        } finally {
            if (ctx != null) {
                if (reusable && POOLED.incrementAndGet() <= POOL_MAX) {
                    POOL.offer(ctx);
                } else {
                    if (reusable) {
                        POOLED.decrementAndGet();
                    }
                    ctx.close();
                }
            }
        }
    }
}
