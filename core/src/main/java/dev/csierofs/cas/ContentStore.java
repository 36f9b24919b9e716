package dev.csierofs.cas;

import dev.csierofs.sys.Libc;
import dev.csierofs.sys.SyscallException;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
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
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The content store on node disk: one file per distinct content, named by its SHA-256
 * ({@code <root>/sha256/ab/abcd...}). It is what FUSE passthrough opens point at, so every mount
 * whose file has that content shares one page cache.
 *
 * <p>Rules that keep it trustworthy:
 * <ul>
 * <li>A file is written under {@code <root>/tmp}, hashed while written, and refused unless it
 * hashes to the digest asked for. It may be used at once (through an fd); a background thread
 * then fsyncs it and renames it into place, so a crash never leaves a partial file under a
 * digest name, and the files left in {@code tmp} are deleted at the next start.</li>
 * <li>A file found on disk at start is hashed again before its first use; a file whose size or
 * change time differs from when it was last checked is hashed again too. A mismatch deletes it
 * (the caller materializes it again): a corrupt file is never served.</li>
 * <li>A byte budget, kept by evicting the least recently used files that nothing holds
 * ({@link Lease}). When the budget is taken by files in use, or the disk is full,
 * {@link StoreFullException} says so and nothing is left behind.</li>
 * </ul>
 */
public final class ContentStore implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ContentStore.class.getName());
    private static final int COPY_BUFFER = 1 << 20;
    /** Recency survives restarts through mtime; touching it on every use would cost a syscall per open. */
    private static final long TOUCH_INTERVAL_MS = 3_600_000;

    private final Path root;
    private final Path files;
    private final Path tmp;
    private final long budget;
    /** Every stored (or being committed) file, least recently used first. Guarded by {@code this}. */
    private final LinkedHashMap<Digest, Entry> entries = new LinkedHashMap<>(1024, 0.75f, true);
    /** Materializations under way, so two callers wanting one digest write it once. Guarded by {@code this}. */
    private final Map<Digest, CompletableFuture<Void>> inFlight = new HashMap<>();
    private long bytes; // sizes of all entries plus reservations; guarded by this
    private final List<Runnable> reclaimers = new java.util.concurrent.CopyOnWriteArrayList<>();
    /** Written files waiting to be made durable and renamed, in order; a null entry is a flush marker. */
    private record Pending(Entry entry, FileChannel out, CompletableFuture<Void> flushed) {
    }

    private final java.util.concurrent.LinkedBlockingQueue<Pending> pending = new java.util.concurrent.LinkedBlockingQueue<>();
    private final Thread committer = Thread.ofPlatform().daemon().name("cas-commit").unstarted(this::commitLoop);
    private volatile boolean closing;

    private final AtomicLong hits = new AtomicLong();
    private final AtomicLong misses = new AtomicLong();
    private final AtomicLong materializedBytes = new AtomicLong();
    private final AtomicLong materializedFiles = new AtomicLong();
    private final AtomicLong corrupt = new AtomicLong();
    private final AtomicLong evictions = new AtomicLong();
    private final AtomicLong full = new AtomicLong();

    /** One store file. Mutable fields are guarded by the entry itself (path, check) or the store (pins). */
    private static final class Entry {
        final Digest digest;
        final long size;
        /** Where an uncommitted file is written; null once committed (it is then at {@link #pathOf}). */
        Path tmpPath;
        boolean committed;
        /** What the file looked like when its content was last checked; null: not checked yet. */
        FileState checked;
        long touchedMs;
        int pins; // guarded by the store
        boolean removed; // guarded by the store

        Entry(Digest digest, long size, Path tmpPath, boolean committed, long touchedMs) {
            this.digest = digest;
            this.size = size;
            this.tmpPath = tmpPath;
            this.committed = committed;
            this.touchedMs = touchedMs;
        }
    }

    /** Size, inode and change time: a write, truncation or replacement changes at least one. */
    private record FileState(long size, long dev, long ino, long ctimeNanos) {
        static FileState of(Path p) throws IOException {
            Map<String, Object> a = Files.readAttributes(p, "unix:size,ino,dev,ctime");
            FileTime ctime = (FileTime) a.get("ctime");
            return new FileState((Long) a.get("size"), (Long) a.get("dev"), (Long) a.get("ino"), ctime.to(TimeUnit.NANOSECONDS));
        }
    }

    /** Writes a file's content, in order, into a sink. */
    @FunctionalInterface
    public interface ContentWriter {
        void writeTo(ContentSink sink) throws IOException;
    }

    /** Takes content bytes. */
    @FunctionalInterface
    public interface ContentSink {
        void write(byte[] b, int off, int len) throws IOException;
    }

    /**
     * A store file held in use: it is not evicted until closed. Open it with
     * {@link #openReadOnly()} (the path may change once, when the file is committed).
     */
    public final class Lease implements AutoCloseable {
        private final Entry entry;
        private final boolean hit;
        private boolean closed;

        private Lease(Entry entry, boolean hit) {
            this.entry = entry;
            this.hit = hit;
        }

        public Digest digest() {
            return entry.digest;
        }

        public long size() {
            return entry.size;
        }

        /** Whether the content was already in the store (shared) rather than written for this lease. */
        public boolean hit() {
            return hit;
        }

        /** Where the file is now. */
        public Path path() {
            synchronized (entry) {
                return pathOf(entry);
            }
        }

        /** A new O_RDONLY fd of the file; the caller closes it. */
        public int openReadOnly() throws SyscallException {
            synchronized (entry) { // the commit renames under this lock
                return Libc.open(pathOf(entry).toString().getBytes(StandardCharsets.UTF_8), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
            }
        }

        @Override
        public void close() {
            synchronized (ContentStore.this) {
                if (!closed) {
                    closed = true;
                    entry.pins--;
                }
            }
        }
    }

    private ContentStore(Path root, long budget) {
        this.root = root;
        this.files = root.resolve("sha256");
        this.tmp = root.resolve("tmp");
        this.budget = budget;
    }

    /**
     * Opens (creating if needed) the store at {@code root} with a budget of {@code budgetBytes}:
     * deletes what an interrupted earlier run left in {@code tmp}, lists the stored files (most
     * recently used last, by mtime) and evicts down to the budget if it shrank.
     */
    public static ContentStore open(Path root, long budgetBytes) throws IOException {
        if (budgetBytes < 0) {
            throw new IllegalArgumentException("store budget must be 0 or more bytes, got " + budgetBytes);
        }
        ContentStore s = new ContentStore(root, budgetBytes);
        Files.createDirectories(s.files);
        Files.createDirectories(s.tmp);
        int partial = 0;
        try (DirectoryStream<Path> left = Files.newDirectoryStream(s.tmp)) {
            for (Path p : left) {
                Files.deleteIfExists(p);
                partial++;
            }
        }
        if (partial > 0) {
            LOG.info("content store " + root + ": removed " + partial + " unfinished file(s) left by an interrupted run");
        }
        s.scan();
        s.committer.start();
        return s;
    }

    private void scan() throws IOException {
        record Found(Digest digest, Path path, long size, long mtime) {
        }
        List<Found> found = new ArrayList<>();
        try (DirectoryStream<Path> shards = Files.newDirectoryStream(files)) {
            for (Path shard : shards) {
                if (!Files.isDirectory(shard)) {
                    continue;
                }
                try (DirectoryStream<Path> in = Files.newDirectoryStream(shard)) {
                    for (Path p : in) {
                        String name = p.getFileName().toString();
                        Digest d;
                        try {
                            d = new Digest(name);
                        } catch (IllegalArgumentException notOurs) {
                            LOG.warning("content store: ignoring " + p + " (not named by a SHA-256)");
                            continue;
                        }
                        if (!shard.getFileName().toString().equals(name.substring(0, 2)) || !Files.isRegularFile(p)) {
                            LOG.warning("content store: ignoring misplaced " + p);
                            continue;
                        }
                        found.add(new Found(d, p, Files.size(p), Files.getLastModifiedTime(p).toMillis()));
                    }
                }
            }
        }
        found.sort(Comparator.comparingLong(Found::mtime));
        synchronized (this) {
            for (Found f : found) {
                entries.put(f.digest, new Entry(f.digest, f.size, null, true, f.mtime));
                bytes += f.size;
            }
            makeRoom(0);
        }
    }

    /** Where {@code e}'s file is now. */
    private Path pathOf(Entry e) {
        Path tmp = e.tmpPath;
        return tmp != null ? tmp : pathOf(e.digest);
    }

    /** The final path of {@code d}. */
    Path pathOf(Digest d) {
        return files.resolve(d.hex().substring(0, 2)).resolve(d.hex());
    }

    /**
     * The stored file with content {@code d}, checked, and held until the lease is closed; null
     * if the store does not have it (or had a corrupt copy, now deleted).
     */
    public Lease acquire(Digest d) throws IOException {
        return acquire(d, true);
    }

    /** {@code count}: whether a miss counts in the statistics (not when {@link #materialize} looks again). */
    private Lease acquire(Digest d, boolean count) throws IOException {
        Entry e;
        synchronized (this) {
            e = entries.get(d);
            if (e == null) {
                if (count) {
                    misses.incrementAndGet();
                }
                return null;
            }
            e.pins++;
        }
        try {
            check(e);
        } catch (ContentMismatchException | NoSuchFileException bad) {
            corrupt.incrementAndGet();
            LOG.warning("content store: " + bad.getMessage() + "; deleting it, it will be written again");
            synchronized (this) {
                e.pins--;
                remove(e);
            }
            misses.incrementAndGet();
            return null;
        } catch (IOException | RuntimeException other) {
            synchronized (this) {
                e.pins--;
            }
            throw other;
        }
        hits.incrementAndGet();
        touch(e);
        return new Lease(e, true);
    }

    /** Hashes the file unless it was checked and has not changed since. */
    private void check(Entry e) throws IOException {
        synchronized (e) {
            FileState now = FileState.of(pathOf(e));
            if (now.equals(e.checked)) {
                return;
            }
            if (now.size() != e.size) {
                throw new ContentMismatchException(pathOf(e) + " has " + now.size() + " bytes, " + e.size + " expected");
            }
            MessageDigest md = Digest.sha256();
            ByteBuffer buf = ByteBuffer.allocate(COPY_BUFFER);
            long n = 0;
            try (FileChannel in = FileChannel.open(pathOf(e), StandardOpenOption.READ)) {
                int r;
                while ((r = in.read(buf.clear())) > 0) {
                    md.update(buf.array(), 0, r);
                    n += r;
                }
            }
            Digest got = Digest.of(md.digest());
            if (n != e.size || !got.equals(e.digest)) {
                throw new ContentMismatchException(pathOf(e) + " hashes to " + got + " (" + n + " bytes)");
            }
            e.checked = now;
        }
    }

    private void touch(Entry e) {
        long now = System.currentTimeMillis();
        synchronized (e) {
            if (!e.committed || now - e.touchedMs < TOUCH_INTERVAL_MS) {
                return;
            }
            e.touchedMs = now;
            try {
                Files.setLastModifiedTime(pathOf(e), FileTime.fromMillis(now)); // mtime: not part of FileState
            } catch (IOException ignored) {
                // recency after a restart is a hint only
            }
        }
    }

    /**
     * Stores content of digest {@code expected} and {@code size} bytes, written by
     * {@code writer}, unless it is there already; returns it held. Concurrent calls for one digest
     * write it once. Fails with {@link ContentMismatchException} (content differs from the digest
     * or size), {@link StoreFullException} (budget taken by files in use, or disk full); nothing is
     * left behind on failure.
     */
    public Lease materialize(Digest expected, long size, ContentWriter writer) throws IOException {
        if (size < 0) {
            throw new IllegalArgumentException("negative size " + size);
        }
        while (true) {
            Lease have = acquire(expected, false); // callers look first (and count the miss) before they write
            if (have != null) {
                return have;
            }
            CompletableFuture<Void> mine = new CompletableFuture<>();
            CompletableFuture<Void> other;
            synchronized (this) {
                other = inFlight.putIfAbsent(expected, mine);
            }
            if (other != null) {
                try {
                    other.get(); // someone else writes it; then take theirs
                } catch (InterruptedException ie) {
                    Thread.currentThread().interrupt();
                    throw new java.io.InterruptedIOException("interrupted waiting for " + expected);
                } catch (java.util.concurrent.ExecutionException failed) {
                    // theirs failed (perhaps their content was wrong): try with ours
                }
                continue;
            }
            try {
                return write(expected, size, writer);
            } catch (IOException | RuntimeException e) {
                mine.completeExceptionally(e);
                throw e;
            } finally {
                synchronized (this) {
                    inFlight.remove(expected, mine);
                }
                mine.complete(null);
            }
        }
    }

    private Lease write(Digest expected, long size, ContentWriter writer) throws IOException {
        if (!reserve(size)) {
            // files held only because someone keeps them ready (idle passthrough inodes) can go
            for (Runnable r : reclaimers) {
                r.run();
            }
            if (!reserve(size)) {
                full.incrementAndGet();
                synchronized (this) {
                    if (budget == 0) {
                        throw new StoreFullException("content store " + root + " has a budget of 0 bytes: it stores nothing");
                    }
                    throw new StoreFullException("content store " + root + " cannot take " + size + " more bytes: its budget of "
                            + budget + " bytes is held by files in use (" + bytes + " bytes stored)");
                }
            }
        }
        Path t = tmp.resolve(expected.hex() + "." + UUID.randomUUID());
        boolean kept = false;
        FileChannel out = null;
        try {
            out = FileChannel.open(t, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            MessageDigest md = Digest.sha256();
            long[] written = {0};
            FileChannel o = out;
            writer.writeTo((b, off, len) -> {
                if (written[0] + len > size) {
                    throw new ContentMismatchException("content of " + expected + " is longer than " + size + " bytes");
                }
                md.update(b, off, len);
                ByteBuffer bb = ByteBuffer.wrap(b, off, len);
                while (bb.hasRemaining()) {
                    o.write(bb);
                }
                written[0] += len;
            });
            Digest got = Digest.of(md.digest());
            if (written[0] != size || !got.equals(expected)) {
                throw new ContentMismatchException("content expected to be " + expected + " (" + size + " bytes) is " + got
                        + " (" + written[0] + " bytes)");
            }
            Entry e = new Entry(expected, size, t, false, System.currentTimeMillis());
            e.checked = FileState.of(t);
            synchronized (this) {
                e.pins = 1;
                entries.put(expected, e);
            }
            FileChannel toCommit = out;
            pending.add(new Pending(e, toCommit, null));
            kept = true;
            materializedFiles.incrementAndGet();
            materializedBytes.addAndGet(size);
            return new Lease(e, false);
        } catch (IOException e) {
            if (isNoSpace(e)) {
                full.incrementAndGet();
                throw new StoreFullException("content store " + root + ": the disk is full (" + e.getMessage() + ")", e);
            }
            throw e;
        } finally {
            if (!kept) {
                synchronized (this) {
                    bytes -= size;
                }
                if (out != null) {
                    try {
                        out.close();
                    } catch (IOException ignored) {
                        // being deleted anyway
                    }
                }
                Files.deleteIfExists(t);
            }
        }
    }

    private static boolean isNoSpace(IOException e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t.getMessage() != null && (t.getMessage().contains("No space left on device") || t.getMessage().contains("Disk quota exceeded"))) {
                return true;
            }
        }
        return false;
    }

    /**
     * The committer: takes whatever has been written since its last round, makes it durable with
     * one syncfs(2) for the whole batch (one fsync per file would cost a disk flush per small file
     * and fall far behind a first read of thousands of files), then renames each file to its
     * digest name and fsyncs each directory it entered.
     */
    private void commitLoop() {
        List<Pending> batch = new ArrayList<>();
        while (true) {
            try {
                batch.add(pending.take());
            } catch (InterruptedException stop) {
                return;
            }
            pending.drainTo(batch, 4095);
            commitBatch(batch);
            for (Pending p : batch) {
                if (p.flushed() != null) {
                    p.flushed().complete(null);
                }
            }
            batch.clear();
            if (closing && pending.isEmpty()) {
                return;
            }
        }
    }

    private void commitBatch(List<Pending> batch) {
        List<Pending> files = batch.stream().filter(p -> p.entry() != null).toList();
        if (files.isEmpty()) {
            return;
        }
        try {
            if (files.size() == 1) {
                files.get(0).out().force(true);
            } else {
                int fd = Libc.open(tmp.toString().getBytes(StandardCharsets.UTF_8), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
                try {
                    Libc.syncfs(fd);
                } finally {
                    Libc.close(fd);
                }
            }
        } catch (IOException | RuntimeException failed) {
            LOG.log(Level.WARNING, "content store: flushing " + files.size() + " new file(s) failed; they stay in " + tmp
                    + " and go at the next start", failed);
            files.forEach(p -> closeQuietly(p.out()));
            return;
        }
        java.util.Set<Path> dirs = new java.util.LinkedHashSet<>();
        for (Pending p : files) {
            closeQuietly(p.out());
            Path dir = rename(p.entry());
            if (dir != null) {
                dirs.add(dir);
            }
        }
        for (Path dir : dirs) {
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            } catch (IOException failed) {
                LOG.warning("content store: fsync of " + dir + " failed: " + failed.getMessage());
            }
        }
    }

    private static void closeQuietly(FileChannel ch) {
        try {
            ch.close();
        } catch (IOException ignored) {
            // its data is already flushed or being given up
        }
    }

    /** Gives a durable file its digest name; returns the directory it entered, or null. */
    private Path rename(Entry e) {
        Path target = pathOf(e.digest);
        try {
            synchronized (this) {
                if (e.removed) { // found corrupt meanwhile (remove already deleted the file)
                    return null;
                }
            }
            Files.createDirectories(target.getParent());
            synchronized (e) {
                try {
                    Files.move(e.tmpPath, target, StandardCopyOption.ATOMIC_MOVE);
                } catch (AtomicMoveNotSupportedException impossible) {
                    throw new IOException("rename within " + root + " is not atomic", impossible);
                }
                e.tmpPath = null;
                e.committed = true;
                e.checked = FileState.of(target); // rename changes ctime; the content was checked while written
            }
            return target.getParent();
        } catch (IOException | RuntimeException failed) {
            // the open fds keep working; the file stays in tmp and goes at the next start
            LOG.log(Level.WARNING, "content store: committing " + e.digest + " failed", failed);
            return null;
        }
    }

    /** Makes room for and reserves {@code size} bytes; false if the files in use leave no room. */
    private synchronized boolean reserve(long size) {
        makeRoom(size);
        if (bytes + size > budget) {
            return false;
        }
        bytes += size;
        return true;
    }

    /**
     * Registers something to run, outside the store's lock, when the budget is held by files in
     * use: holders that keep files only in case they are needed again let them go.
     */
    public void onPressure(Runnable reclaimer) {
        reclaimers.add(reclaimer);
    }

    public void removePressure(Runnable reclaimer) {
        reclaimers.remove(reclaimer);
    }

    /** Evicts least recently used files nothing holds until {@code need} more bytes fit. Holds the lock. */
    private void makeRoom(long need) {
        if (bytes + need <= budget) {
            return;
        }
        Iterator<Entry> it = entries.values().iterator();
        List<Entry> victims = new ArrayList<>();
        long freed = 0;
        while (it.hasNext() && bytes - freed + need > budget) {
            Entry e = it.next();
            if (e.pins == 0 && e.committed) {
                victims.add(e);
                freed += e.size;
            }
        }
        for (Entry e : victims) {
            remove(e);
            evictions.incrementAndGet();
        }
    }

    /** Forgets and deletes an entry. Holds the lock; the file goes even if someone still has it open (Unix semantics). */
    private void remove(Entry e) {
        if (e.removed) {
            return;
        }
        e.removed = true;
        entries.remove(e.digest, e);
        bytes -= e.size;
        try {
            Files.deleteIfExists(pathOf(e));
        } catch (IOException failed) {
            LOG.warning("content store: cannot delete " + pathOf(e) + ": " + failed.getMessage());
        }
    }

    /** Waits until every written file is committed (tests, shutdown). */
    public void flush() throws InterruptedException {
        CompletableFuture<Void> done = new CompletableFuture<>();
        pending.add(new Pending(null, null, done));
        try {
            done.get();
        } catch (java.util.concurrent.ExecutionException impossible) {
            throw new IllegalStateException(impossible);
        }
    }

    public Path root() {
        return root;
    }

    public long budget() {
        return budget;
    }

    /** Bytes stored (including files being committed). */
    public synchronized long sizeBytes() {
        return bytes;
    }

    public synchronized int fileCount() {
        return entries.size();
    }

    /** Files held by at least one lease (in use: never evicted). */
    public synchronized int heldCount() {
        int n = 0;
        for (Entry e : entries.values()) {
            if (e.pins > 0) {
                n++;
            }
        }
        return n;
    }

    /** Counters: lookups that found the content, lookups that did not, files and bytes written, corrupt files found, evictions, refusals. */
    public record Stats(long hits, long misses, long materializedFiles, long materializedBytes, long corrupt, long evictions,
                        long full, long sizeBytes, long budget, int files) {
    }

    public Stats stats() {
        synchronized (this) {
            return new Stats(hits.get(), misses.get(), materializedFiles.get(), materializedBytes.get(), corrupt.get(),
                    evictions.get(), full.get(), bytes, budget, entries.size());
        }
    }

    @Override
    public void close() {
        closing = true;
        pending.add(new Pending(null, null, null)); // wakes the committer for its last round
        try {
            committer.join(60_000);
            if (committer.isAlive()) {
                LOG.warning("content store: commits still running after 60 s; unfinished files go at the next start");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
