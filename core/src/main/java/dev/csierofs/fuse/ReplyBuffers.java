package dev.csierofs.fuse;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.concurrent.ArrayBlockingQueue;

/**
 * Native reply buffers of one size shared by every FUSE session, a few kept between uses. A new
 * one is zeroed (so all resident) and is freed by the garbage collector once dropped.
 */
final class ReplyBuffers {
    private final long size;
    private final ArrayBlockingQueue<MemorySegment> free;

    ReplyBuffers(long size, int keep) {
        this.size = size;
        this.free = new ArrayBlockingQueue<>(keep);
    }

    MemorySegment take() {
        MemorySegment b = free.poll();
        return b != null ? b : Arena.ofAuto().allocate(size, 8);
    }

    void give(MemorySegment b) {
        free.offer(b); // dropped when enough are kept
    }
}
