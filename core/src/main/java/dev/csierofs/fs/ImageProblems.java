package dev.csierofs.fs;

import dev.csierofs.erofs.Dirent;
import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Escape;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.TreeWalker;

import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.WeakHashMap;
import java.util.function.LongSupplier;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The log of what a bad image does to the daemon: one line per problem, "image IMAGE: PATH:
 * REASON", once per inode or entry (the kernel retries a failed read, readahead asks again),
 * and at most {@value #PER_MINUTE} lines a minute per image, then one line saying how many were
 * left out. The stack trace goes with it only under {@code CSI_DRIVER_EROFS_DEBUG=1}: an image's
 * corruption is not the daemon's bug. Callers answer EIO (or their fallback) as before.
 */
public final class ImageProblems {
    private static final Logger LOG = Logger.getLogger(ImageProblems.class.getName());
    static final int PER_MINUTE = 10;
    private static final long MINUTE_NANOS = 60_000_000_000L;
    /** Problems remembered to log each once; a problem forgotten past this many may be logged again. */
    private static final int REMEMBERED = 1024;
    /** Directory entries a path search visits at most: the path is a courtesy, the log line must stay cheap. */
    static final int PATH_SEARCH_BUDGET = 20_000;
    private static final boolean DEBUG = "1".equals(System.getenv("CSI_DRIVER_EROFS_DEBUG"));

    private static final Map<ErofsImage, ImageProblems> BY_IMAGE = Collections.synchronizedMap(new WeakHashMap<>());

    private final ErofsImage image;
    private final String imageName;
    private final Map<String, Boolean> seen = new LinkedHashMap<>(64, 0.75f, false) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<String, Boolean> eldest) {
            return size() > REMEMBERED;
        }
    };
    private final LongSupplier nanoClock;
    private long windowStart;
    private int loggedInWindow;
    private long suppressed;

    private ImageProblems(ErofsImage image) {
        this(image, System::nanoTime);
    }

    /** A log of its own (not the one {@link #of} shares) with its own clock (tests). */
    ImageProblems(ErofsImage image, LongSupplier nanoClock) {
        this.image = image;
        this.imageName = image.name();
        this.nanoClock = nanoClock;
        this.windowStart = nanoClock.getAsLong();
    }

    /** The problem log of {@code image}, one per image however many filesystems serve it. */
    public static ImageProblems of(ErofsImage image) {
        return BY_IMAGE.computeIfAbsent(image, ImageProblems::new);
    }

    /** A problem with the inode {@code nid}; its path is looked up only if the line is logged. */
    public void report(long nid, ErofsException e) {
        report(nid, null, e);
    }

    /** A problem met looking up {@code name} in directory {@code dirNid} (name null: the inode itself). */
    public void report(long nid, byte[] name, ErofsException e) {
        // one line per bad file (or entry): its reads fail again and again, at other offsets
        String key = name == null ? Long.toString(nid) : nid + "/" + Escape.text(name);
        long dropped;
        synchronized (this) {
            if (seen.put(key, Boolean.TRUE) != null) {
                return; // logged (or left out) already
            }
            long now = nanoClock.getAsLong();
            if (now - windowStart >= MINUTE_NANOS) {
                windowStart = now;
                loggedInWindow = 0;
            }
            if (loggedInWindow >= PER_MINUTE) {
                suppressed++;
                return;
            }
            loggedInWindow++;
            dropped = suppressed;
            suppressed = 0;
        }
        if (dropped > 0) {
            LOG.warning("image " + imageName + ": " + dropped + " more problem(s) not logged (at most " + PER_MINUTE + " a minute)");
        }
        String path = pathOf(nid);
        if (name != null) {
            path = path.equals("/") ? "/" + Escape.text(name) : path + "/" + Escape.text(name);
        }
        String line = "image " + imageName + ": " + path + ": " + e.getMessage();
        if (DEBUG) {
            LOG.log(Level.WARNING, line, e);
        } else {
            LOG.warning(line);
        }
    }

    /** Problems left out by the rate limit since the last line (tests). */
    synchronized long suppressed() {
        return suppressed;
    }

    /**
     * The path of {@code nid}, found by a breadth-first search from the root that visits at most
     * {@link #PATH_SEARCH_BUDGET} entries and skips what it cannot read; "inode N" if not found.
     */
    String pathOf(long nid) {
        try {
            Inode root = image.root();
            if (root.nid() == nid) {
                return "/";
            }
            record Dir(byte[] path, Inode inode) {
            }
            ArrayDeque<Dir> todo = new ArrayDeque<>();
            todo.add(new Dir(new byte[] {'/'}, root));
            int budget = PATH_SEARCH_BUDGET;
            Set<Long> seenDirs = new HashSet<>();
            while (!todo.isEmpty() && budget > 0) {
                Dir d = todo.poll();
                if (!seenDirs.add(d.inode().nid())) {
                    continue;
                }
                List<Dirent> entries = new ArrayList<>();
                try {
                    image.directory(d.inode()).children(entries, (bad, why) -> {
                    });
                } catch (ErofsException unreadable) {
                    // search what was read
                }
                for (Dirent e : entries) {
                    if (--budget < 0) {
                        break;
                    }
                    byte[] p = TreeWalker.join(d.path(), e.name());
                    if (e.nid() == nid) {
                        return Escape.text(p);
                    }
                    if (e.fileType() == Dirent.FT_DIR) {
                        try {
                            todo.add(new Dir(p, image.inode(e.nid())));
                        } catch (ErofsException unreadable) {
                            // not searched
                        }
                    }
                }
            }
        } catch (ErofsException | RuntimeException e) {
            // no root: the inode number will do
        }
        return "inode " + nid;
    }
}
