package dev.csierofs.fuse;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ArrayBlockingQueue;

/**
 * Native reply buffers of one size shared by every FUSE session, a few kept between uses. Each
 * has an arena of its own, closed as soon as the buffer is dropped: left to the garbage
 * collector, a dropped buffer's memory would stay until a full collection, which a quiet old
 * generation may not see for hours (measured: 22 MiB held this way after 40 mounts' first reads).
 */
final class ReplyBuffers {
    private final long size;
    private final ArrayBlockingQueue<Buffer> free;

    /** A buffer and the arena that frees it. */
    record Buffer(Arena arena, MemorySegment segment) {
    }

    ReplyBuffers(long size, int keep) {
        this.size = size;
        this.free = new ArrayBlockingQueue<>(keep);
    }

    /** A kept buffer, or a new (zeroed) one. */
    Buffer take() {
        Buffer b = free.poll();
        if (b != null) {
            return b;
        }
        Arena arena = Arena.ofShared(); // shared: a session's readers may hand it between threads
        return new Buffer(arena, arena.allocate(size, 8));
    }

    /** Keeps {@code b} for the next taker, or frees it at once when enough are kept. */
    void give(Buffer b) {
        if (!free.offer(b)) {
            b.arena().close();
        }
    }

    /** Frees the kept buffers (the daemon went idle); later takers allocate again. */
    void release() {
        Buffer b;
        while ((b = free.poll()) != null) {
            b.arena().close();
        }
    }
}
