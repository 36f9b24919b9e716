package dev.csierofs.fuse;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ReplyBuffersTest {

    /** Kept buffers are reused; one past the kept count, and every kept one at release, is freed at once. */
    @Test
    void keptBuffersAreReusedAndFreedOnRelease() {
        ReplyBuffers pool = new ReplyBuffers(64 << 10, 1);
        ReplyBuffers.Buffer a = pool.take();
        ReplyBuffers.Buffer b = pool.take();
        pool.give(a);
        pool.give(b); // one too many: freed, not kept
        assertFalse(b.arena().scope().isAlive());
        assertTrue(a.arena().scope().isAlive());
        assertSame(a, pool.take(), "the kept buffer is handed out again");
        pool.give(a);
        pool.release();
        assertFalse(a.arena().scope().isAlive(), "release frees what was kept");
        ReplyBuffers.Buffer c = pool.take();
        assertNotSame(a, c);
        assertTrue(c.arena().scope().isAlive());
        c.segment().set(java.lang.foreign.ValueLayout.JAVA_LONG, 0, 42L); // a usable buffer
        pool.give(c);
    }
}
