package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsImage;

import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.WeakHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Process-wide LRU cache of decompressed extents, bounded by bytes (system property
 * {@code csierofs.zcache.bytes}, default 32 MiB). Keys name the image (by a per-instance id, so a
 * closed image's entries simply age out), the inode and the extent's logical start. One lock; the
 * critical sections are a hash lookup and a few pointer updates.
 */
final class ExtentCache {
    static final ExtentCache GLOBAL = new ExtentCache(Long.getLong("csierofs.zcache.bytes", 32L << 20));

    record Key(long image, long nid, long la) {
    }

    private static final Map<ErofsImage, Long> IMAGE_IDS = new WeakHashMap<>();
    private static final AtomicLong NEXT_ID = new AtomicLong();

    static long imageId(ErofsImage image) {
        synchronized (IMAGE_IDS) {
            return IMAGE_IDS.computeIfAbsent(image, k -> NEXT_ID.incrementAndGet());
        }
    }

    private final long capacity;
    private final LinkedHashMap<Key, byte[]> map = new LinkedHashMap<>(256, 0.75f, true);
    private long bytes;

    ExtentCache(long capacity) {
        this.capacity = Math.max(0, capacity);
    }

    synchronized byte[] get(Key k) {
        return map.get(k);
    }

    void put(Key k, byte[] data) {
        long cost = data.length + 64L;
        if (cost > capacity / 2) {
            return;
        }
        synchronized (this) {
            byte[] old = map.put(k, data);
            if (old != null) {
                bytes -= old.length + 64L;
            }
            bytes += cost;
            Iterator<byte[]> it = map.values().iterator();
            while (bytes > capacity && it.hasNext()) {
                byte[] v = it.next();
                bytes -= v.length + 64L;
                it.remove();
            }
        }
    }

    synchronized void clear() {
        map.clear();
        bytes = 0;
    }

    synchronized long bytes() {
        return bytes;
    }
}
