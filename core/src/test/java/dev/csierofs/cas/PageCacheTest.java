package dev.csierofs.cas;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class PageCacheTest {

    @Test
    void keepsPagesWithinItsBudgetDroppingTheLeastRecentlyUsed() {
        PageCache c = new PageCache(16L * 4 * PageCache.PAGE_SIZE); // 4 pages per shard
        String key = "content";
        for (int i = 0; i < 200; i++) {
            c.put(new PageCache.Key(key, i), new byte[PageCache.PAGE_SIZE]);
            assertTrue(c.sizeBytes() <= c.maxBytes(), "over budget after " + i + " pages");
        }
        int kept = 0;
        for (int i = 0; i < 200; i++) {
            if (c.get(new PageCache.Key(key, i)) != null) {
                kept++;
            }
        }
        assertTrue(kept > 0 && kept <= 64, "kept " + kept);
        assertNotNull(c.get(new PageCache.Key(key, 199)), "the newest page stays");
    }

    @Test
    void sharesPagesByKeyAndCountsHits() {
        PageCache c = new PageCache(1 << 20);
        byte[] page = new byte[100];
        c.put(new PageCache.Key(new Digest("ab".repeat(32)), 3), page);
        assertSame(page, c.get(new PageCache.Key(new Digest("ab".repeat(32)), 3)), "equal keys from anywhere find it");
        assertNull(c.get(new PageCache.Key(new Digest("ab".repeat(32)), 4)));
        assertEquals(0.5, c.hitRatio());
        assertThrows(IllegalArgumentException.class, () -> c.put(new PageCache.Key("k", 0), new byte[PageCache.PAGE_SIZE + 1]));
        PageCache off = new PageCache(0);
        off.put(new PageCache.Key("k", 0), new byte[1]);
        assertNull(off.get(new PageCache.Key("k", 0)), "size 0 caches nothing");
    }
}
