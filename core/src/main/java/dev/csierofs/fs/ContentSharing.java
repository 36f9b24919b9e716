package dev.csierofs.fs;

import dev.csierofs.cas.ContentMismatchException;
import dev.csierofs.cas.ContentStore;
import dev.csierofs.cas.Digest;
import dev.csierofs.cas.DigestIndex;
import dev.csierofs.cas.OwnerOnly;
import dev.csierofs.cas.PageCache;
import dev.csierofs.cas.StoreFullException;
import dev.csierofs.erofs.ContentDigest;
import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.ImageSource;
import dev.csierofs.erofs.Inode;
import dev.csierofs.fuse.FuseSession;

import java.io.IOException;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * How the mounts of one node share file content; one per daemon, handed to every
 * {@link ErofsFilesystem}.
 *
 * <p>A regular file is served in one of two modes, decided at the first open of its inode and
 * kept while the inode is open (the kernel refuses to mix them on one inode):
 * <ul>
 * <li><b>passthrough</b>: the open points the kernel at the file's copy in the {@link ContentStore},
 * so reads, mmap and exec of that content share one page cache across all mounts. Files up to
 * {@link Options#syncLimit} bytes are put in the store during their first open (decoding and
 * hashing a few MiB takes milliseconds); larger ones are served cached while a background task
 * stores them, and pass through from their next open on.</li>
 * <li><b>cached</b>: the daemon answers READs from {@link PageCache}, keyed by content once the
 * content is verified, so decoding and daemon memory are shared even where the kernel's page
 * cache cannot be (no passthrough, store full or disabled, file not stored yet).</li>
 * </ul>
 *
 * <p>A file's content key is its SHA-256, computed by us once per (image, inode) and kept in a
 * {@link DigestIndex}. The image's own fingerprint xattr is only a claim: it is compared with what
 * we compute, never trusted alone, since a crafted image could otherwise name another tenant's
 * content and be served it.
 */
public final class ContentSharing implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ContentSharing.class.getName());
    /** Drop the image's page cache after this much was decoded into the store. */
    private static final long DROP_IMAGE_CACHE_EVERY = 4L << 20;
    /** Streaming buffers for storing files, shared by the FUSE readers and background workers. */
    private static final BufferPool STREAM_BUFFERS = new BufferPool(256 << 10, 4);

    /**
     * {@code passthrough}: use the kernel's passthrough when it offers it; {@code syncLimit}: the
     * largest file stored during its first open; {@code pageCacheBytes}: the daemon's page cache.
     */
    public record Options(boolean passthrough, long syncLimit, long pageCacheBytes) {
        public static final long DEFAULT_SYNC_LIMIT = 64L << 20;
        public static final long DEFAULT_PAGE_CACHE = 256L << 20;

        public Options {
            if (syncLimit < 0 || pageCacheBytes < 0) {
                throw new IllegalArgumentException("sizes must be 0 or more bytes");
            }
        }

        public static Options defaults() {
            return new Options(true, DEFAULT_SYNC_LIMIT, DEFAULT_PAGE_CACHE);
        }
    }

    private final ContentStore store; // null: no store, so no passthrough
    private final Path indexDir;
    private final PageCache pageCache;
    private final Options options;
    private final ExecutorService background;
    private final Set<String> queued = ConcurrentHashMap.newKeySet();
    private final Map<String, DigestIndex> indexes = new ConcurrentHashMap<>();
    private final AtomicBoolean warnedFull = new AtomicBoolean();
    /** The passthrough inodes every mount keeps ready after their last release, one bound for all. */
    private final IdleInodes idleInodes = new IdleInodes(IdleInodes.DEFAULT_MAX);
    private final Map<ErofsImage, AtomicLong> decodedSinceDrop = java.util.Collections.synchronizedMap(new java.util.WeakHashMap<>());

    /**
     * Decoding many files leaves the heap grown with short-lived buffers; a daemon that then sits
     * idle should not keep that memory. After a burst of at least this much, once decoding has
     * paused for {@link #COMPACT_AFTER_IDLE_NANOS}, full collections shrink the heap back (the
     * JVM runs with MaxHeapFreeRatio set, so the freed space is returned to the OS). Four of them:
     * the serial collector damps shrinking over consecutive collections (none of the excess at
     * the first, then 10%, 40%, all of it at the fourth), so that programs calling System.gc()
     * between phases do not shrink and regrow; a daemon going idle wants the memory back.
     */
    private static final long COMPACT_AFTER_BYTES = 32L << 20;
    private static final long COMPACT_AFTER_IDLE_NANOS = 1_000_000_000L;
    private final AtomicLong decodedSinceCompaction = new AtomicLong();
    /** Heap in use after the last compaction (only the housekeeping thread touches it). */
    private long liveAfterCompaction;
    private volatile long lastDecodeNanos;
    private final java.util.concurrent.ScheduledExecutorService housekeeping =
            Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "sharing-housekeeping");
                t.setDaemon(true);
                return t;
            });

    final AtomicLong passthroughOpens = new AtomicLong();
    final AtomicLong cachedOpens = new AtomicLong();
    final AtomicLong sharedBytes = new AtomicLong();
    final AtomicLong fallbacks = new AtomicLong();
    final AtomicLong fingerprintMismatches = new AtomicLong();
    final AtomicLong hashedFiles = new AtomicLong();

    private ContentSharing(ContentStore store, Path indexDir, Options options) {
        this.store = store;
        this.indexDir = indexDir;
        this.options = options;
        long heapShare = Runtime.getRuntime().maxMemory() / 2;
        if (options.pageCacheBytes() > heapShare) {
            LOG.warning("page cache of " + options.pageCacheBytes() + " bytes would not fit beside the rest of the daemon in its "
                    + Runtime.getRuntime().maxMemory() + "-byte heap; using " + heapShare + " (raise -Xmx to have more)");
        }
        this.pageCache = new PageCache(Math.min(options.pageCacheBytes(), heapShare));
        if (indexDir != null) { // only then is anything decoded in bulk
            housekeeping.scheduleWithFixedDelay(this::compactWhenIdle, 1, 1, java.util.concurrent.TimeUnit.SECONDS);
        }
        this.background = Executors.newFixedThreadPool(Math.max(1, Runtime.getRuntime().availableProcessors() / 2), r -> {
            Thread t = new Thread(r, "cas-materialize");
            t.setDaemon(true);
            t.setPriority(Thread.MIN_PRIORITY);
            return t;
        });
    }

    /**
     * Sharing through a store at {@code storeDir} ({@code sha256/} files, {@code tmp/}, and the
     * digest indexes in {@code index/}) of at most {@code budgetBytes}. With passthrough off in
     * {@code options} no store files are written, but digests are still computed and remembered
     * there, so the daemon's page cache is shared by content across images.
     */
    public static ContentSharing withStore(Path storeDir, long budgetBytes, Options options) throws IOException {
        OwnerOnly.tightenTree(storeDir); // the digest indexes too
        OwnerOnly.directory(storeDir);
        ContentStore store = options.passthrough() ? ContentStore.open(storeDir, budgetBytes) : null;
        return new ContentSharing(store, storeDir.resolve("index"), options);
    }

    /** No store and no digests: pages are shared only between mounts of the same image. */
    public static ContentSharing inProcessOnly(Options options) {
        return new ContentSharing(null, null, new Options(false, options.syncLimit(), options.pageCacheBytes()));
    }

    private static final ContentSharing NONE = new ContentSharing(null, null, new Options(false, 0, 0));

    /** Nothing shared at all: no store, no page cache (every READ decodes). One instance for all. */
    public static ContentSharing none() {
        return NONE;
    }

    /**
     * Names an image file's content for the digests remembered per inode: its real path and
     * identity (device, inode, size, mtime), so a rewritten file is never taken for the old one.
     * (The CSI plugin may later name downloaded blobs by their digest instead.)
     */
    public static String fileKey(Path image) throws IOException {
        Map<String, Object> a = java.nio.file.Files.readAttributes(image, "unix:dev,ino,size,lastModifiedTime");
        return "file:" + image.toRealPath() + ":" + a.get("dev") + ":" + a.get("ino") + ":" + a.get("size") + ":"
                + ((java.nio.file.attribute.FileTime) a.get("lastModifiedTime")).to(java.util.concurrent.TimeUnit.NANOSECONDS);
    }

    /** Whether files may pass through (a store exists and passthrough was not turned off). */
    public boolean passthroughWanted() {
        return store != null && options.passthrough();
    }

    public PageCache pageCache() {
        return pageCache;
    }

    /** The store, or null. */
    public ContentStore store() {
        return store;
    }

    DigestIndex index(String imageKey) throws IOException {
        if (indexDir == null) {
            return null;
        }
        try {
            return indexes.computeIfAbsent(imageKey, k -> {
                try {
                    return DigestIndex.open(indexDir, k);
                } catch (IOException e) {
                    throw new java.io.UncheckedIOException(e);
                }
            });
        } catch (java.io.UncheckedIOException e) {
            throw e.getCause();
        }
    }

    /** What is known about an inode's content at its first open: its verified digest and its store file, each possibly null. */
    record Resolved(Digest digest, ContentStore.Lease lease) {
        static final Resolved NOTHING = new Resolved(null, null);
    }

    /**
     * At the first open of an inode: its verified digest (remembered, or computed now for a file
     * up to the sync limit) and, if {@code wantLease}, its store file, held (found, or written now
     * from the same decoded bytes). A larger file not known yet is queued for the background,
     * which hashes it (and stores it): it is served cached until a later first open.
     */
    Resolved resolve(ErofsImage image, String imageKey, Inode inode, FileData data, boolean wantLease) {
        Resolved r = resolveOnce(image, imageKey, inode, data, wantLease);
        if (r.lease() != null) {
            r.lease().restoreFrom(restoreSource(image, inode));
        }
        return r;
    }

    /** Reads an inode's content from its image again, opening its data only when needed (a damaged store copy is rare). */
    private static ContentStore.ContentWriter restoreSource(ErofsImage image, Inode inode) {
        return sink -> stream(image.openData(inode), inode.size(), sink::write);
    }

    private Resolved resolveOnce(ErofsImage image, String imageKey, Inode inode, FileData data, boolean wantLease) {
        if (indexDir == null || inode.size() == 0) {
            return Resolved.NOTHING;
        }
        boolean lease = wantLease && passthroughWanted();
        Digest known = null;
        try {
            DigestIndex index = index(imageKey);
            known = index.get(inode.nid());
            if (known != null && lease) {
                ContentStore.Lease l = store.acquire(known, source(data, inode.size()));
                if (l != null) {
                    sharedBytes.addAndGet(l.size());
                    return new Resolved(known, l);
                }
            }
            if (known != null && !lease) {
                return new Resolved(known, null);
            }
            if (inode.size() > options.syncLimit()) {
                queue(image, imageKey, inode);
                return new Resolved(known, null);
            }
            // streaming, with a reused buffer: a first open costs no allocation the size of the file
            if (known == null) {
                MessageDigest md = Digest.sha256();
                stream(data, inode.size(), md::update);
                decoded(image, inode.size());
                known = verify(image, inode, Digest.of(md.digest()));
                index.put(inode.nid(), known);
            }
            if (!lease) {
                return new Resolved(known, null);
            }
            ContentStore.Lease l = store.acquire(known, source(data, inode.size()));
            if (l != null) {
                sharedBytes.addAndGet(l.size());
                return new Resolved(known, l);
            }
            l = store.materialize(known, inode.size(), sink -> stream(data, inode.size(), sink::write));
            decoded(image, inode.size());
            return new Resolved(known, l);
        } catch (StoreFullException e) {
            storeFull(e);
            return new Resolved(known, null);
        } catch (IOException | RuntimeException e) {
            fallbacks.incrementAndGet();
            cannotStore(image, inode, e, "; serving it from the daemon's page cache");
            return new Resolved(known, null);
        }
    }

    /**
     * Logs why a file could not be hashed or stored: a problem of the image goes to its
     * {@link ImageProblems} (one line with its path, rate-limited); anything else is one line,
     * with the stack trace only under CSI_DRIVER_EROFS_DEBUG=1.
     */
    private static void cannotStore(ErofsImage image, Inode inode, Exception e, String consequence) {
        if (e instanceof ErofsException bad) {
            ImageProblems.of(image).report(inode.nid(), bad);
            return;
        }
        String line = "cannot store " + inode.label() + " of " + image.name() + ": " + e + consequence;
        if (DEBUG) {
            LOG.log(Level.WARNING, line, e);
        } else {
            LOG.warning(line);
        }
    }

    private static final boolean DEBUG = "1".equals(System.getenv("CSI_DRIVER_EROFS_DEBUG"));

    private void storeFull(StoreFullException e) {
        fallbacks.incrementAndGet();
        if (warnedFull.compareAndSet(false, true)) {
            LOG.warning(e.getMessage() + "; files that are not stored yet are served from the daemon's page cache instead"
                    + " (logged once)");
        }
    }

    /** Compares our digest with the image's fingerprint claim, if any; our digest wins either way. */
    private Digest verify(ErofsImage image, Inode inode, Digest computed) {
        hashedFiles.incrementAndGet();
        try {
            Optional<ContentDigest> claim = image.contentDigest(inode);
            if (claim.isPresent() && !claim.get().hex().equals(computed.hex())) {
                fingerprintMismatches.incrementAndGet();
                LOG.warning(inode.label() + ": the image's fingerprint says " + claim.get() + " but the content is " + computed
                        + "; using the content's digest");
            }
        } catch (ErofsException e) {
            LOG.warning(inode.label() + ": unreadable fingerprint xattr: " + e.getMessage());
        }
        return computed;
    }

    /**
     * Counts bytes decoded from {@code image} to hash or store them, and drops the image's page
     * cache every few MiB: what gets cached from then on is the stored copy (or, without
     * passthrough, the daemon's pages), and the image's own blocks would only double it.
     */
    private void decoded(ErofsImage image, long n) {
        decodedSinceCompaction.addAndGet(n);
        lastDecodeNanos = System.nanoTime();
        AtomicLong since = decodedSinceDrop.computeIfAbsent(image, k -> new AtomicLong());
        if (since.addAndGet(n) >= DROP_IMAGE_CACHE_EVERY) {
            since.set(0);
            image.dropPageCache();
        }
    }

    /** Stores a large file in the background (once per image and inode at a time). */
    private void queue(ErofsImage image, String imageKey, Inode inode) {
        String key = imageKey + "#" + inode.nid();
        if (!queued.add(key)) {
            return;
        }
        try {
            background.execute(() -> {
                try {
                    storeLarge(image, imageKey, inode);
                } catch (StoreFullException e) {
                    storeFull(e);
                } catch (Exception e) {
                    fallbacks.incrementAndGet();
                    cannotStore(image, inode, e, "");
                } finally {
                    queued.remove(key);
                }
            });
        } catch (RejectedExecutionException shuttingDown) {
            queued.remove(key);
        }
    }

    /**
     * Hashes a large file streaming, then (with passthrough) stores it streaming unless the store
     * has it: two decodes only for new content.
     */
    private void storeLarge(ErofsImage image, String imageKey, Inode inode) throws IOException {
        DigestIndex index = index(imageKey);
        FileData data = image.openData(inode);
        Digest d = index.get(inode.nid());
        if (d == null) {
            MessageDigest md = Digest.sha256();
            stream(data, inode.size(), md::update);
            decoded(image, inode.size());
            d = verify(image, inode, Digest.of(md.digest()));
            index.put(inode.nid(), d);
        }
        if (!passthroughWanted()) {
            return;
        }
        ContentStore.Lease have = store.acquire(d);
        if (have != null) {
            have.close();
            return;
        }
        try (ContentStore.Lease l = store.materialize(d, inode.size(), sink -> {
            try {
                stream(data, inode.size(), sink::write);
            } catch (ErofsException e) {
                throw new IOException(e.getMessage(), e);
            }
        })) {
            decoded(image, l.size());
        }
        image.dropPageCache();
    }

    /** The content of an inode from its image, to restore a corrupt store copy with. */
    private static ContentStore.ContentWriter source(FileData data, long size) {
        return sink -> stream(data, size, sink::write);
    }

    /**
     * Before another open passes through to {@code lease}'s file: whether it still holds its
     * content (see {@link ContentStore.Lease#verify}), restored from {@code image} if it was
     * damaged. False: the lease is dead.
     */
    boolean verify(ContentStore.Lease lease, ErofsImage image, Inode inode) {
        try {
            return lease.verify(restoreSource(image, inode));
        } catch (IOException | RuntimeException e) {
            LOG.warning("checking the store file of " + inode.label() + ": " + e.getMessage());
            return false;
        }
    }

    private interface Chunks {
        void accept(byte[] b, int off, int len) throws IOException;
    }

    private static void stream(FileData data, long size, Chunks out) throws IOException {
        byte[] buf = STREAM_BUFFERS.take();
        try {
            long pos = 0;
            while (pos < size) {
                int r = data.read(pos, buf, 0, (int) Math.min(buf.length, size - pos));
                if (r <= 0) {
                    throw new ErofsException("content", pos, "ends before its size " + size);
                }
                out.accept(buf, 0, r);
                pos += r;
            }
        } finally {
            STREAM_BUFFERS.give(buf);
        }
    }

    /**
     * Runs every second. Idle after a burst of decoding: full collections until the heap is
     * shrunk (see {@link #COMPACT_AFTER_BYTES}). Still decoding, with the heap grown to twice what
     * was live after the last collection (16 MiB more at least): one full collection. Objects
     * that live a little while (idle inodes pushed out of their list, a file's decoder state)
     * reach the old generation, which the serial collector grows rather than collects; without
     * this, reading 40 images at once took the heap to 150 MiB for 25 MiB of live data.
     */
    private void compactWhenIdle() {
        if (decodedSinceCompaction.get() < COMPACT_AFTER_BYTES) {
            return;
        }
        Runtime rt = Runtime.getRuntime();
        long used = rt.totalMemory() - rt.freeMemory();
        boolean idle = queued.isEmpty() && System.nanoTime() - lastDecodeNanos >= COMPACT_AFTER_IDLE_NANOS;
        if (!idle && used < Math.max(2 * liveAfterCompaction, liveAfterCompaction + (16L << 20))) {
            return;
        }
        decodedSinceCompaction.set(0);
        if (idle) {
            releaseIdleBuffers();
        }
        for (int i = 0; i < (idle ? 4 : 1); i++) {
            System.gc(); // explicit on purpose: see COMPACT_AFTER_BYTES
        }
        liveAfterCompaction = rt.totalMemory() - rt.freeMemory();
    }

    /**
     * Gives back what only a busy daemon needs: the kept streaming, READ and reply buffers and the
     * metadata page cache (about 5 MiB together once used). Whatever needs them next allocates or
     * reads again, which costs little next to the decoding that follows an idle spell.
     */
    static void releaseIdleBuffers() {
        STREAM_BUFFERS.release();
        ErofsFilesystem.releaseReadBuffers();
        FuseSession.releaseIdleBuffers();
        ImageSource.releaseCache();
    }

    IdleInodes idleInodes() {
        return idleInodes;
    }

    /** Waits until queued background stores are done (tests, benchmarks). */
    public void awaitBackground() throws InterruptedException {
        while (!queued.isEmpty()) {
            Thread.sleep(10);
        }
        if (store != null) {
            store.flush();
        }
    }

    /** What sharing did so far, for logs and metrics. */
    public record Stats(long passthroughOpens, long cachedOpens, long sharedBytes, long fallbacks, long fingerprintMismatches,
                        long hashedFiles, ContentStore.Stats store, long pageCacheBytes, long pageCacheMax, double pageCacheHitRatio) {
        /** One line for logs. */
        public String describe() {
            StringBuilder b = new StringBuilder();
            b.append("opens: ").append(passthroughOpens).append(" passthrough, ").append(cachedOpens).append(" cached");
            if (store != null) {
                b.append("; store: ").append(store.hits()).append(" hits, ").append(store.misses()).append(" misses, ")
                        .append(store.materializedFiles()).append(" files (").append(mib(store.materializedBytes()))
                        .append(") written, ").append(mib(sharedBytes)).append(" served from content already stored, ")
                        .append(store.files()).append(" files (").append(mib(store.sizeBytes())).append(") of a ")
                        .append(mib(store.budget())).append(" budget");
                if (store.corrupt() > 0) {
                    b.append(", ").append(store.corrupt()).append(" corrupt copies replaced");
                }
            }
            b.append("; page cache: ").append(mib(pageCacheBytes)).append(" of ").append(mib(pageCacheMax))
                    .append(String.format(", hit ratio %.2f", pageCacheHitRatio));
            if (fallbacks > 0) {
                b.append("; ").append(fallbacks).append(" files could not be stored");
            }
            if (fingerprintMismatches > 0) {
                b.append("; ").append(fingerprintMismatches).append(" fingerprints did not match the content");
            }
            return b.toString();
        }

        private static String mib(long bytes) {
            return String.format("%.1f MiB", bytes / 1048576.0);
        }
    }

    public Stats stats() {
        return new Stats(passthroughOpens.get(), cachedOpens.get(), sharedBytes.get(), fallbacks.get(), fingerprintMismatches.get(),
                hashedFiles.get(), store == null ? null : store.stats(), pageCache.sizeBytes(), pageCache.maxBytes(), pageCache.hitRatio());
    }

    @Override
    public void close() {
        if (this == NONE) {
            return; // shared by every filesystem built without sharing
        }
        housekeeping.shutdownNow();
        background.shutdownNow();
        for (DigestIndex i : indexes.values()) {
            try {
                i.close();
            } catch (IOException e) {
                LOG.warning("closing " + i.path() + ": " + e.getMessage());
            }
        }
        if (store != null) {
            store.close();
        }
    }
}
