package dev.csierofs.blobs;

import dev.csierofs.blobs.BlobFetchException.Failure;
import dev.csierofs.cas.Digest;

import java.io.IOException;
import java.io.InterruptedIOException;
import java.net.URI;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Logger;

/**
 * Downloaded images on node disk, one file per digest: {@code <root>/sha256/<hex>}.
 *
 * <ul>
 * <li>A download goes to {@code <root>/tmp}, hashed while written; content that is not the digest
 * asked for is refused and deleted. A good one is fsynced and renamed into place, so a name under
 * {@code sha256/} never holds a partial file; whatever {@code tmp} holds at start is deleted.</li>
 * <li>One download per digest: callers asking while it runs wait for it and share its result or
 * its failure.</li>
 * <li>A blob found on disk at start is hashed before its first use in this process; a corrupt one
 * is deleted and downloaded again.</li>
 * <li>{@link #fetch} returns the blob held; held blobs are never deleted. Blobs nothing holds are
 * deleted least recently used first (recency survives restarts through mtime) when the store
 * needs room beyond its budget. A blob larger than the budget is still downloaded when asked
 * for, and goes once nothing holds it. Nothing is evicted at start: volumes published before a
 * restart take their blobs again first.</li>
 * </ul>
 */
public final class BlobStore implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(BlobStore.class.getName());
    private static final int BUFFER = 1 << 20;
    /** Downloads at least this large (or of unknown size) log their progress. */
    private static final long PROGRESS_MIN_BYTES = 64L << 20;
    private static final long PROGRESS_INTERVAL_NANOS = TimeUnit.SECONDS.toNanos(30);
    /** Disk space a download leaves free (or 5% of a small disk): a full node disk evicts pods (kubelet's DiskPressure). */
    static final long DISK_MARGIN = 1L << 30;

    private final Path root;
    private final Path files;
    private final Path tmp;
    private final long budget;
    private final HttpsFetcher fetcher;
    /** Every blob on disk, least recently used first. Guarded by {@code this}. */
    private final LinkedHashMap<Digest, Entry> entries = new LinkedHashMap<>(64, 0.75f, true);
    /** The one fetch (check or download) under way per digest. Guarded by {@code this}. */
    private final Map<Digest, CompletableFuture<Entry>> inFlight = new HashMap<>();
    /** The URL each in-flight job fetches from (guarded by this). */
    private final Map<CompletableFuture<Entry>, URI> jobUrls = new HashMap<>();
    /** Sizes of all entries plus the announced sizes of downloads under way. Guarded by {@code this}. */
    private long bytes;

    private final AtomicLong downloads = new AtomicLong();
    private final AtomicLong downloadFailures = new AtomicLong();
    private final AtomicLong downloadedBytes = new AtomicLong();
    private final AtomicLong corrupt = new AtomicLong();
    private final AtomicLong evictions = new AtomicLong();

    /** One blob file. Fields are guarded by the store. */
    private static final class Entry {
        final Digest digest;
        final Path path;
        final long size;
        /** Hashed (or downloaded) by this process. */
        boolean verified;
        int refs;
        boolean removed;

        Entry(Digest digest, Path path, long size, boolean verified) {
            this.digest = digest;
            this.path = path;
            this.size = size;
            this.verified = verified;
        }
    }

    /** A verified blob held by one caller: never deleted until released. */
    public final class Blob implements AutoCloseable {
        private final Entry entry;
        private boolean released; // guarded by the store

        private Blob(Entry entry) {
            this.entry = entry;
        }

        public Digest digest() {
            return entry.digest;
        }

        /** The blob's file (a fixed name: the same for every caller and across restarts). */
        public Path path() {
            return entry.path;
        }

        public long size() {
            return entry.size;
        }

        /** Lets the blob go (idempotent); once nothing holds it, it may be evicted. */
        public void release() {
            synchronized (BlobStore.this) {
                if (released) {
                    return;
                }
                released = true;
                if (--entry.refs == 0) {
                    makeRoom(0);
                }
            }
        }

        @Override
        public void close() {
            release();
        }
    }

    private BlobStore(Path root, long budget, HttpsFetcher fetcher) {
        this.root = root;
        this.files = root.resolve("sha256");
        this.tmp = root.resolve("tmp");
        this.budget = budget;
        this.fetcher = fetcher;
    }

    /**
     * Opens (creating if needed) the store at {@code root}: deletes unfinished downloads and lists
     * the blobs there (to be hashed at their first use). The store closes {@code fetcher}.
     */
    public static BlobStore open(Path root, long budgetBytes, HttpsFetcher fetcher) throws IOException {
        if (budgetBytes < 0) {
            throw new IllegalArgumentException("blob budget must be 0 or more bytes, got " + budgetBytes);
        }
        BlobStore s = new BlobStore(root, budgetBytes, fetcher);
        dev.csierofs.cas.OwnerOnly.directory(s.files);
        dev.csierofs.cas.OwnerOnly.directory(s.tmp);
        int partial = 0;
        try (DirectoryStream<Path> left = Files.newDirectoryStream(s.tmp)) {
            for (Path p : left) {
                Files.deleteIfExists(p);
                partial++;
            }
        }
        if (partial > 0) {
            LOG.info("blob store " + root + ": removed " + partial + " unfinished download(s) left by an earlier run");
        }
        s.scan();
        return s;
    }

    private void scan() throws IOException {
        record Found(Digest digest, Path path, long size, long mtime) {
        }
        List<Found> found = new ArrayList<>();
        try (DirectoryStream<Path> in = Files.newDirectoryStream(files)) {
            for (Path p : in) {
                Digest d;
                try {
                    d = new Digest(p.getFileName().toString());
                } catch (IllegalArgumentException notOurs) {
                    LOG.warning("blob store: ignoring " + p + " (not named by a SHA-256)");
                    continue;
                }
                if (!Files.isRegularFile(p)) {
                    LOG.warning("blob store: ignoring " + p + " (not a regular file)");
                    continue;
                }
                found.add(new Found(d, p, Files.size(p), Files.getLastModifiedTime(p).toMillis()));
            }
        }
        found.sort(Comparator.comparingLong(Found::mtime));
        synchronized (this) {
            for (Found f : found) {
                entries.put(f.digest, new Entry(f.digest, f.path, f.size, false));
                bytes += f.size;
            }
        }
        if (!found.isEmpty()) {
            LOG.info("blob store " + root + ": " + found.size() + " blob(s), " + bytes + " bytes; each is checked at its first use");
        }
    }

    /** The final path of {@code d}. */
    public Path pathOf(Digest d) {
        return files.resolve(d.hex());
    }

    /**
     * The blob of {@code digest}, held: checked if found on disk, else downloaded from {@code url}
     * and verified. Concurrent calls for one digest share one check or download (from the URL of
     * the first caller: the content is the same by its digest) and its failure.
     */
    public Blob fetch(URI url, Digest digest) throws IOException {
        boolean ownUrlTried = false;
        while (true) {
            CompletableFuture<Entry> job;
            boolean mine = false;
            Blob have = null;
            synchronized (this) {
                Entry e = entries.get(digest);
                if (e != null && e.verified) {
                    have = hold(e);
                }
                job = have != null ? null : inFlight.get(digest);
                if (job == null && have == null) {
                    job = new CompletableFuture<>();
                    inFlight.put(digest, job);
                    jobUrls.put(job, url);
                    mine = true;
                }
            }
            if (have != null) {
                touch(have.entry);
                return have;
            }
            if (mine) {
                Entry got;
                try {
                    got = checkOrDownload(url, digest); // held for us
                } catch (IOException | RuntimeException | Error failed) {
                    synchronized (this) {
                        inFlight.remove(digest, job);
                        jobUrls.remove(job);
                    }
                    job.completeExceptionally(failed);
                    throw failed;
                }
                synchronized (this) {
                    inFlight.remove(digest, job);
                    jobUrls.remove(job);
                }
                job.complete(got);
                touch(got);
                return new Blob(got);
            }
            URI theirs;
            synchronized (this) {
                theirs = jobUrls.get(job);
            }
            Entry shared;
            try {
                shared = await(job, digest);
            } catch (BlobFetchException e) {
                // another volume's URL for the same digest failed in a way ours may not (nothing there,
                // refused): try ours once rather than inherit their failure
                boolean urlSpecific = e.failure() == Failure.NOT_FOUND || e.failure() == Failure.REFUSED;
                if (urlSpecific && !ownUrlTried && theirs != null && !theirs.equals(url)) {
                    ownUrlTried = true;
                    continue;
                }
                throw e;
            }
            synchronized (this) {
                if (!shared.removed) {
                    return hold(shared);
                }
            }
            // evicted between its download and our turn (its downloader let it go at once): fetch again
        }
    }

    /** Holds the lock. */
    private Blob hold(Entry e) {
        e.refs++;
        return new Blob(e);
    }

    private static Entry await(CompletableFuture<Entry> job, Digest digest) throws IOException {
        try {
            return job.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new InterruptedIOException("interrupted waiting for the download of " + digest);
        } catch (ExecutionException e) {
            // the one download's failure is every waiter's failure
            if (e.getCause() instanceof IOException io) {
                throw io;
            }
            if (e.getCause() instanceof RuntimeException re) {
                throw re;
            }
            throw (Error) e.getCause();
        }
    }

    /** Recency for the next start's eviction order; a hint only. */
    private static void touch(Entry e) {
        try {
            Files.setLastModifiedTime(e.path, FileTime.fromMillis(System.currentTimeMillis()));
        } catch (IOException ignored) {
            // eviction order after a restart is a hint
        }
    }

    /** The one fetcher of {@code digest}: checks the copy on disk if there is one, else downloads. Returns it held. */
    private Entry checkOrDownload(URI url, Digest digest) throws IOException {
        Entry found;
        synchronized (this) {
            found = entries.get(digest);
            if (found != null) {
                found.refs++; // not evicted while being hashed
            }
        }
        if (found != null) {
            Digest actual;
            try {
                actual = hash(found.path);
            } catch (java.nio.file.NoSuchFileException gone) {
                actual = null; // deleted behind our back: download it again
            } catch (IOException | RuntimeException e) {
                synchronized (this) {
                    found.refs--;
                }
                throw e;
            }
            synchronized (this) {
                if (digest.equals(actual)) {
                    found.verified = true;
                    return found;
                }
                found.refs--;
                remove(found);
            }
            if (actual != null) {
                corrupt.incrementAndGet();
            }
            LOG.warning("blob store: " + found.path + (actual == null ? " is gone" : " hashes to " + actual + ", not " + digest)
                    + "; downloading it again");
        }
        return download(url, digest);
    }

    private static Digest hash(Path file) throws IOException {
        MessageDigest md = Digest.sha256();
        ByteBuffer buf = ByteBuffer.allocate(BUFFER);
        try (FileChannel in = FileChannel.open(file, StandardOpenOption.READ)) {
            int n;
            while ((n = in.read(buf.clear())) > 0) {
                md.update(buf.array(), 0, n);
            }
        }
        return Digest.of(md.digest());
    }

    private Entry download(URI url, Digest digest) throws IOException {
        Path part = tmp.resolve(digest.hex() + "." + UUID.randomUUID());
        long started = System.nanoTime();
        long reserved = 0;
        boolean done = false;
        String shown = HttpsFetcher.withoutQuery(url); // presigned URLs carry credentials in the query
        LOG.info("downloading " + shown + " (" + digest + ")");
        try (HttpsFetcher.Response body = fetcher.get(url);
             FileChannel out = FileChannel.open(part, java.util.Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                     dev.csierofs.cas.OwnerOnly.FILE_MODE)) {
            long length = body.length();
            java.nio.file.FileStore disk = Files.getFileStore(tmp);
            long usable = disk.getUsableSpace();
            long margin = Math.min(DISK_MARGIN, disk.getTotalSpace() / 20);
            if (length >= 0 && length > usable - margin) {
                throw new BlobFetchException(Failure.NO_SPACE, "downloading " + shown + ": " + length + " bytes do not fit on the disk of "
                        + root + " (" + usable + " bytes free, " + margin + " kept free); free disk space or lower --blob-budget");
            }
            if (length >= 0) {
                reserved = length;
                reserve(digest, length);
            }
            MessageDigest md = Digest.sha256();
            byte[] buf = new byte[BUFFER];
            long n = 0;
            boolean logProgress = length < 0 || length >= PROGRESS_MIN_BYTES;
            long nextTenth = length > 0 ? length / 10 : Long.MAX_VALUE;
            long lastLog = started;
            int r;
            while ((r = body.read(buf)) >= 0) {
                md.update(buf, 0, r);
                ByteBuffer bb = ByteBuffer.wrap(buf, 0, r);
                while (bb.hasRemaining()) {
                    out.write(bb);
                }
                n += r;
                if (length < 0 && n > usable - margin) { // no announced length: stop before the disk is full
                    throw new BlobFetchException(Failure.NO_SPACE, "downloading " + shown + ": more than " + n + " bytes, which do not "
                            + "fit on the disk of " + root + " (" + usable + " bytes were free, " + margin + " kept free)");
                }
                long now = System.nanoTime();
                if (logProgress && (n >= nextTenth || now - lastLog >= PROGRESS_INTERVAL_NANOS)) {
                    LOG.info("downloading " + shown + ": " + n + (length >= 0 ? " of " + length + " bytes (" + n * 100 / length + "%)"
                            : " bytes") + " in " + seconds(started, now) + " s");
                    lastLog = now;
                    while (n >= nextTenth) {
                        nextTenth += length / 10;
                    }
                }
            }
            Digest actual = Digest.of(md.digest());
            if (!actual.equals(digest)) {
                throw new BlobFetchException(Failure.DIGEST_MISMATCH, shown + " served " + n + " bytes with digest " + actual + ", not the "
                        + digest + " the volume names: fix the digest in the volume attributes, or the content on the server");
            }
            out.force(true);
            Path target = pathOf(digest);
            Files.move(part, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            try (FileChannel dir = FileChannel.open(files, StandardOpenOption.READ)) {
                dir.force(true);
            } catch (IOException notDurable) { // the blob is complete and in place; a crash now may only lose it
                LOG.warning("blob store: fsync of " + files + " failed: " + notDurable.getMessage());
            }
            Entry e = new Entry(digest, target, n, true);
            e.refs = 1;
            synchronized (this) {
                bytes -= reserved;
                reserved = 0;
                entries.put(digest, e);
                bytes += n;
                makeRoom(0);
                if (bytes > budget && length < 0) { // an announced length was reported by reserve()
                    LOG.info("blob store " + root + ": " + bytes + " bytes, over its budget of " + budget + " bytes: the blobs in use "
                            + "hold them; unused ones go as soon as room is needed");
                }
            }
            done = true;
            downloads.incrementAndGet();
            downloadedBytes.addAndGet(n);
            LOG.info("downloaded " + shown + (body.servedFrom().equals(shown) ? "" : " (from " + body.servedFrom() + ")") + ": "
                    + n + " bytes in " + seconds(started, System.nanoTime()) + " s, digest verified");
            return e;
        } catch (IOException e) {
            IOException failed = isNoSpace(e) ? new BlobFetchException(Failure.NO_SPACE, "downloading " + shown + ": the disk of "
                    + root + " is full (" + e.getMessage() + ")", e) : e;
            LOG.warning("download failed: " + failed.getMessage());
            throw failed;
        } catch (RuntimeException e) {
            LOG.warning("download of " + shown + " failed: " + e);
            throw e;
        } finally {
            if (!done) {
                downloadFailures.incrementAndGet();
                synchronized (this) {
                    bytes -= reserved;
                }
                Files.deleteIfExists(part);
            }
        }
    }

    /** Makes room for a download of {@code length} bytes and counts it; says so when the budget cannot take it. */
    private synchronized void reserve(Digest digest, long length) {
        makeRoom(length);
        bytes += length;
        if (bytes > budget) {
            LOG.info("blob store " + root + ": " + digest + " (" + length + " bytes) does not fit the budget of " + budget + " bytes"
                    + (length > budget ? "" : " beside the blobs in use") + "; downloading it anyway (blobs in use are never deleted)");
        }
    }

    private static String seconds(long from, long to) {
        return String.format("%.1f", (to - from) / 1e9);
    }

    private static boolean isNoSpace(IOException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getMessage() != null && (t.getMessage().contains("No space left on device") || t.getMessage().contains("Disk quota exceeded"))) {
                return true;
            }
        }
        return false;
    }

    /** Deletes least recently used blobs nothing holds until {@code need} more bytes fit the budget. Holds the lock. */
    private void makeRoom(long need) {
        if (bytes + need <= budget) {
            return;
        }
        List<Entry> victims = new ArrayList<>();
        long freed = 0;
        for (Iterator<Entry> it = entries.values().iterator(); it.hasNext() && bytes - freed + need > budget; ) {
            Entry e = it.next();
            if (e.refs == 0) {
                victims.add(e);
                freed += e.size;
            }
        }
        for (Entry e : victims) {
            remove(e);
            evictions.incrementAndGet();
            LOG.info("blob store: evicted " + e.digest + " (" + e.size + " bytes, unused) to stay within " + budget + " bytes");
        }
    }

    /** Forgets and deletes a blob. Holds the lock. */
    private void remove(Entry e) {
        if (e.removed) {
            return;
        }
        e.removed = true;
        entries.remove(e.digest, e);
        bytes -= e.size;
        try {
            Files.deleteIfExists(e.path);
        } catch (IOException failed) {
            LOG.warning("blob store: cannot delete " + e.path + ": " + failed.getMessage());
        }
    }

    public Path root() {
        return root;
    }

    /**
     * Bytes stored (and announced by downloads under way), the budget, blobs on disk and those held,
     * downloads done and failed, bytes downloaded, corrupt blobs found, evictions.
     */
    public record Stats(long bytes, long budget, int blobs, int held, long downloads, long downloadFailures,
                        long downloadedBytes, long corrupt, long evictions) {
    }

    public synchronized Stats stats() {
        int held = 0;
        for (Entry e : entries.values()) {
            if (e.refs > 0) {
                held++;
            }
        }
        return new Stats(bytes, budget, entries.size(), held, downloads.get(), downloadFailures.get(), downloadedBytes.get(),
                corrupt.get(), evictions.get());
    }

    /** Stops downloads under way (they fail and leave nothing behind). */
    @Override
    public void close() {
        fetcher.close();
    }
}
