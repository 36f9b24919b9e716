package dev.csierofs.fs;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * The passthrough inodes that every mount of a daemon keeps ready after their last release (a
 * backing id and a store lease each, so that a reopen costs one OPEN round trip and no backing
 * file setup), least recently released first, with one bound for the whole daemon. A bound per
 * mount grows with the images a node serves (512 per mount allowed 20,480 with 40 images: about
 * 5 MiB of heap, and as many open store files in the kernel); one bound keeps whatever was
 * released last, wherever it is mounted. The filesystems do the letting go: this list only says
 * which inodes.
 */
final class IdleInodes {
    /** Most idle inodes of a daemon by default: every file of a few large images. */
    static final int DEFAULT_MAX = 4096;

    /** One idle inode: a nodeid of one mount. */
    record Key(ErofsFilesystem fs, long nodeid) {
    }

    private final LinkedHashMap<Key, Boolean> lru = new LinkedHashMap<>(64, 0.75f, false);
    private int max;

    IdleInodes(int max) {
        this.max = max;
    }

    /** Changes the bound (tests); what is over it goes at the next {@link #keep}. */
    synchronized void max(int max) {
        this.max = max;
    }

    /** Puts an inode last (most recently released); returns the inodes pushed out, oldest first. */
    synchronized List<Key> keep(ErofsFilesystem fs, long nodeid) {
        Key k = new Key(fs, nodeid);
        lru.remove(k);
        lru.put(k, Boolean.TRUE);
        if (lru.size() <= max) {
            return List.of();
        }
        List<Key> out = new ArrayList<>();
        Iterator<Key> it = lru.keySet().iterator();
        while (lru.size() > max && it.hasNext()) {
            out.add(it.next());
            it.remove();
        }
        return out;
    }

    /** Takes one inode off the list (it lets its backing file go by itself). */
    synchronized void forget(ErofsFilesystem fs, long nodeid) {
        lru.remove(new Key(fs, nodeid));
    }

    /** Takes every idle inode of {@code fs} off the list (its mount is gone, or the store needs room). */
    synchronized List<Long> removeAll(ErofsFilesystem fs) {
        List<Long> out = new ArrayList<>();
        Iterator<Key> it = lru.keySet().iterator();
        while (it.hasNext()) {
            Key k = it.next();
            if (k.fs() == fs) {
                out.add(k.nodeid());
                it.remove();
            }
        }
        return out;
    }

    /** How many inodes of {@code fs} are idle (null: of every mount). */
    synchronized int count(ErofsFilesystem fs) {
        if (fs == null) {
            return lru.size();
        }
        int n = 0;
        for (Key k : lru.keySet()) {
            if (k.fs() == fs) {
                n++;
            }
        }
        return n;
    }
}
