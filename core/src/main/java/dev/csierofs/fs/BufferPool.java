package dev.csierofs.fs;

import java.util.concurrent.ArrayBlockingQueue;

/**
 * A few reusable byte arrays shared by every thread. A buffer per thread would keep one for each
 * FUSE reader of every mount for the daemon's whole life, though only a few ever work at once.
 */
final class BufferPool {
    private final int size;
    private final ArrayBlockingQueue<byte[]> free;

    /** Buffers of {@code size} bytes; at most {@code keep} are kept between uses. */
    BufferPool(int size, int keep) {
        this.size = size;
        this.free = new ArrayBlockingQueue<>(keep);
    }

    /** A buffer of at least {@code size} bytes (not zeroed): give it back with {@link #give}. */
    byte[] take() {
        byte[] b = free.poll();
        return b != null ? b : new byte[size];
    }

    void give(byte[] b) {
        if (b.length == size) {
            free.offer(b); // dropped when enough are kept
        }
    }

    /** Drops the kept buffers (the daemon went idle); later takers allocate again. */
    void release() {
        free.clear();
    }
}
