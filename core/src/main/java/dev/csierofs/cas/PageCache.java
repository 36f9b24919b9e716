package dev.csierofs.cas;

import java.util.LinkedHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Decoded file pages kept in the daemon, shared by every mount of the node: the fallback where
 * the kernel cannot share page cache (no passthrough, or a file not in the store yet). Keyed by
 * content ({@link Digest}, only once verified for the file being read: a key an image merely
 * claims must never let it read another image's pages) or by a per-image key, and page index.
 * Bounded in bytes; least recently used pages go first. Sharded so readers rarely contend.
 */
public final class PageCache {
    /** Bytes per page: a few FUSE readahead READs' worth, small enough for random reads. */
    public static final int PAGE_SIZE = 32 * 1024;
    private static final int SHARDS = 16;

    /** Whose page: {@code content} is a verified {@link Digest} or another key naming one file's content. */
    public record Key(Object content, long index) {
    }

    private final long maxBytes;
    private final Shard[] shards = new Shard[SHARDS];
    private final AtomicLong hits = new AtomicLong();
    private final AtomicLong misses = new AtomicLong();

    private static final class Shard {
        final LinkedHashMap<Key, byte[]> pages = new LinkedHashMap<>(256, 0.75f, true);
        long bytes;
    }

    public PageCache(long maxBytes) {
        if (maxBytes < 0) {
            throw new IllegalArgumentException("page cache size must be 0 or more bytes, got " + maxBytes);
        }
        this.maxBytes = maxBytes;
        for (int i = 0; i < SHARDS; i++) {
            shards[i] = new Shard();
        }
    }

    private Shard shard(Key k) {
        return shards[(k.hashCode() & 0x7fffffff) % SHARDS];
    }

    /** The cached page (never modify it), or null. */
    public byte[] get(Key k) {
        Shard s = shard(k);
        byte[] page;
        synchronized (s) {
            page = s.pages.get(k);
        }
        (page != null ? hits : misses).incrementAndGet();
        return page;
    }

    /** Caches {@code page} (at most {@link #PAGE_SIZE} bytes; it must not change afterwards). */
    public void put(Key k, byte[] page) {
        if (page.length > PAGE_SIZE) {
            throw new IllegalArgumentException("page of " + page.length + " bytes exceeds " + PAGE_SIZE);
        }
        long shardMax = maxBytes / SHARDS;
        if (page.length > shardMax) {
            return;
        }
        Shard s = shard(k);
        synchronized (s) {
            byte[] old = s.pages.put(k, page);
            s.bytes += page.length - (old == null ? 0 : old.length);
            var it = s.pages.values().iterator();
            while (s.bytes > shardMax && it.hasNext()) {
                s.bytes -= it.next().length;
                it.remove();
            }
        }
    }

    public long maxBytes() {
        return maxBytes;
    }

    public long sizeBytes() {
        long n = 0;
        for (Shard s : shards) {
            synchronized (s) {
                n += s.bytes;
            }
        }
        return n;
    }

    public long hits() {
        return hits.get();
    }

    public long misses() {
        return misses.get();
    }

    /** Hits over lookups, 0 when nothing was looked up. */
    public double hitRatio() {
        long h = hits.get();
        long all = h + misses.get();
        return all == 0 ? 0 : (double) h / all;
    }
}
