package dev.csierofs.fs;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;

class BufferPoolTest {

    /** Buffers given back are reused, other sizes are not kept, and a release drops the kept ones. */
    @Test
    void keptBuffersAreReusedUntilReleased() {
        BufferPool pool = new BufferPool(1024, 2);
        byte[] a = pool.take();
        assertEquals(1024, a.length);
        pool.give(a);
        assertSame(a, pool.take());
        pool.give(new byte[10]); // not the pool's size: never handed out
        assertEquals(1024, pool.take().length);
        pool.give(a);
        pool.release();
        assertNotSame(a, pool.take(), "released buffers are not handed out again");
    }
}
