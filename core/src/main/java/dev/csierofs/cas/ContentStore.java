package dev.csierofs.cas;

import dev.csierofs.sys.Libc;
import dev.csierofs.sys.SyscallException;
import dev.csierofs.sys.Verity;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.DirectoryStream;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.FileTime;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
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
    /** How often files in use are looked at (without fs-verity): a change found restores them from their source. */
    public static final int SWEEP_SECONDS = 10;
    private final java.util.concurrent.ScheduledExecutorService sweeper = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().daemon().name("cas-sweep").unstarted(r));
    private volatile boolean closing;

    private final AtomicLong hits = new AtomicLong();
    private final AtomicLong misses = new AtomicLong();
    private final AtomicLong materializedBytes = new AtomicLong();
    private final AtomicLong materializedFiles = new AtomicLong();
    private final AtomicLong corrupt = new AtomicLong();
    private final AtomicLong evictions = new AtomicLong();
    private final AtomicLong full = new AtomicLong();
    private final AtomicLong repaired = new AtomicLong();
    /** Whether the store's filesystem has fs-verity: then every store file has it enabled once committed. */
    private boolean verity;
    private volatile boolean warnedDisk;

    /** One store file. Mutable fields are guarded by the entry itself (path, check) or the store (pins). */
    private static final class Entry {
        final Digest digest;
        final long size;
        /** Where an uncommitted file is written; null once committed (it is then at {@link #pathOf}). */
        Path tmpPath;
        boolean committed;
        /** What the file looked like when its content was last checked; null: not checked yet. */
        FileState checked;
        /** With fs-verity: the digest the kernel must measure once it is enabled (computed while written). */
        byte[] verityDigest;
        /** Where a damaged copy can be restored from (the last holder's image), or null. */
        volatile ContentWriter source;
        /** Bumped when the file at the path is replaced by a new copy: backing files opened before name the old one. */
        int generation;
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

        /**
         * Whether the file still holds the content of its digest, checked before an open is handed
         * to passthrough: its inode, size and change time are compared with when it was last
         * hashed, and only if one differs is it hashed again. Content that no longer matches is
         * counted corrupt and restored from {@code source} (the caller's own copy of the content):
         * in place when the same inode was written to, so every open file and mapping of it reads
         * the right bytes again; else as a new file (a new {@link #generation()}). False when it
         * could not be restored (the lease is then dead: let it go and acquire the content anew).
         */
        public boolean verify(ContentWriter source) throws IOException {
            synchronized (ContentStore.this) {
                if (entry.removed) {
                    return false;
                }
            }
            if (source != null) {
                entry.source = source;
            }
            try {
                check(entry, source);
                return true;
            } catch (ContentMismatchException | NoSuchFileException bad) {
                corrupt(entry, bad);
                return false;
            }
        }

        /**
         * Where the content can be read again (the holder's image), so that a damaged copy found
         * by the periodic {@link #sweep} is restored while it is in use. Kept while any lease holds
         * the file; it should not pin much memory (open the data lazily).
         */
        public void restoreFrom(ContentWriter source) {
            entry.source = source;
        }

        /** Which copy of the content is at {@link #path()}: changes when a corrupt copy is replaced by a new file. */
        public int generation() {
            synchronized (entry) {
                return entry.generation;
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
     * makes it owner-only, deletes what an interrupted earlier run left in {@code tmp}, finds out
     * whether its filesystem has fs-verity, lists the stored files (most recently used last, by
     * mtime) and evicts down to the budget if it shrank.
     */
    public static ContentStore open(Path root, long budgetBytes) throws IOException {
        if (budgetBytes < 0) {
            throw new IllegalArgumentException("store budget must be 0 or more bytes, got " + budgetBytes);
        }
        ContentStore s = new ContentStore(root, budgetBytes);
        OwnerOnly.tightenTree(root);
        OwnerOnly.directory(root);
        OwnerOnly.directory(s.files);
        OwnerOnly.directory(s.tmp);
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
        s.verity = s.probeVerity();
        LOG.info(s.guarantee());
        s.scan();
        s.committer.start();
        if (!s.verity) { // with fs-verity the kernel checks every page read
            s.sweeper.scheduleWithFixedDelay(s::sweep, SWEEP_SECONDS, SWEEP_SECONDS, TimeUnit.SECONDS);
        }
        return s;
    }

    /** Enables fs-verity on a small file in {@code tmp}: whether the store's filesystem has it. */
    private boolean probeVerity() throws IOException {
        Path probe = tmp.resolve("verity-probe." + UUID.randomUUID());
        try {
            Files.write(probe, new byte[]{1}, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
            int fd = Libc.open(probe.toString().getBytes(StandardCharsets.UTF_8), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
            try {
                Verity.enable(fd);
                return Verity.measure(fd) != null;
            } catch (SyscallException e) {
                if (!Verity.unsupported(e)) {
                    LOG.warning("content store " + root + ": fs-verity could not be enabled on a test file (" + e.getMessage()
                            + "); not using it");
                }
                return false;
            } finally {
                Libc.close(fd);
            }
        } finally {
            Files.deleteIfExists(probe);
        }
    }

    /** Whether store files have fs-verity (the kernel checks every page read from them). */
    public boolean verity() {
        return verity;
    }

    /** What this store guarantees about the bytes it serves, for the start-up log. */
    public String guarantee() {
        if (verity) {
            return "content store " + root + ": fs-verity is on: every store file is immutable once written and the kernel "
                    + "checks every page read from it (reads, mmap, passthrough) against its SHA-256 Merkle tree, failing "
                    + "a damaged page with EIO";
        }
        return "content store " + root + ": no fs-verity on its filesystem (ext4 made with -O verity, btrfs or f2fs have it): "
                + "a store file is hashed again before an open passes through to it whenever its inode, size or change time "
                + "differ from when it was hashed, and restored if it no longer matches; damage below the filesystem "
                + "(disk errors, writes to the block device) is found only when a file is hashed again (after a restart)";
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
        return acquire(d, null, true);
    }

    /**
     * As {@link #acquire(Digest)}, and a stored copy found corrupt is restored from {@code source}
     * (see {@link Lease#verify}) rather than deleted, so that mounts using it already read the
     * right bytes again too.
     */
    public Lease acquire(Digest d, ContentWriter source) throws IOException {
        return acquire(d, source, true);
    }

    /** {@code count}: whether a miss counts in the statistics (not when {@link #materialize} looks again). */
    private Lease acquire(Digest d, ContentWriter source, boolean count) throws IOException {
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
            check(e, source);
        } catch (ContentMismatchException | NoSuchFileException bad) {
            synchronized (this) {
                e.pins--;
            }
            corrupt(e, bad);
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

    /** A copy found corrupt and not restored: counted, logged, deleted (the caller writes it again). */
    private void corrupt(Entry e, IOException why) {
        corrupt.incrementAndGet();
        LOG.warning("content store: " + why.getMessage() + "; deleting it, it will be written again");
        synchronized (this) {
            remove(e);
        }
    }

    /**
     * Hashes the file unless it was checked and has not changed since; restores a corrupt copy
     * from {@code source} if given (else throws {@link ContentMismatchException}).
     */
    private void check(Entry e, ContentWriter source) throws IOException {
        synchronized (e) {
            Path p = pathOf(e);
            FileState now;
            try {
                now = FileState.of(p);
            } catch (NoSuchFileException gone) {
                if (source == null || !e.committed) {
                    throw gone;
                }
                now = null;
            }
            if (now != null && now.equals(e.checked)) {
                return;
            }
            ContentMismatchException bad;
            try {
                now = hash(e, p);
                e.checked = now;
                return;
            } catch (ContentMismatchException mismatch) {
                bad = mismatch;
            } catch (NoSuchFileException gone) {
                bad = new ContentMismatchException(p + " is missing");
            }
            if (source == null || !e.committed) {
                throw bad;
            }
            boolean inPlace = now != null && e.checked != null && now.dev() == e.checked.dev() && now.ino() == e.checked.ino()
                    && !verity;
            try {
                if (inPlace) {
                    rewriteInPlace(e, p, source);
                    LOG.warning("content store: " + bad.getMessage() + "; restored in place from the image: every open "
                            + "file and mapping of it reads the right bytes again");
                } else {
                    replace(e, source);
                    LOG.warning("content store: " + bad.getMessage() + "; replaced by a new copy from the image (opens "
                            + "from now on use it)");
                }
                corrupt.incrementAndGet();
                repaired.incrementAndGet();
            } catch (IOException | RuntimeException failed) {
                bad.addSuppressed(failed);
                throw bad;
            }
        }
    }

    /**
     * Hashes {@code p} (and, with fs-verity, enables it first if it is off, so that the bytes
     * hashed are the ones the kernel will check pages against, and compares the kernel's
     * measurement with the digest computed here). Returns the file's state after. A read error
     * (EIO from a damaged fs-verity page, a disk error) counts as a mismatch.
     */
    private FileState hash(Entry e, Path p) throws IOException {
        byte[] measured = null;
        if (verity) {
            measured = enableVerity(p);
        }
        MessageDigest md = Digest.sha256();
        VerityDigest vd = verity ? new VerityDigest() : null;
        ByteBuffer buf = ByteBuffer.allocate(COPY_BUFFER);
        long n = 0;
        try (FileChannel in = FileChannel.open(p, StandardOpenOption.READ)) {
            FileState before = FileState.of(p);
            if (before.size() != e.size) {
                throw new ContentMismatchException(p + " has " + before.size() + " bytes, " + e.size + " expected");
            }
            int r;
            while ((r = in.read(buf.clear())) > 0) {
                md.update(buf.array(), 0, r);
                if (vd != null) {
                    vd.update(buf.array(), 0, r);
                }
                n += r;
            }
        } catch (NoSuchFileException | ContentMismatchException passOn) {
            throw passOn;
        } catch (IOException unreadable) {
            throw new ContentMismatchException(p + " cannot be read (" + unreadable.getMessage() + ")");
        }
        Digest got = Digest.of(md.digest());
        if (n != e.size || !got.equals(e.digest)) {
            throw new ContentMismatchException(p + " hashes to " + got + " (" + n + " bytes)");
        }
        if (vd != null && !Arrays.equals(vd.digest(), measured)) {
            throw new ContentMismatchException(p + ": its fs-verity digest is not the one of its content");
        }
        return FileState.of(p);
    }

    /** Enables fs-verity on {@code p} unless it has it; returns the kernel's measurement. */
    private static byte[] enableVerity(Path p) throws IOException {
        int fd = Libc.open(p.toString().getBytes(StandardCharsets.UTF_8), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        try {
            byte[] measured = Verity.measure(fd);
            if (measured == null) {
                try {
                    Verity.enable(fd);
                } catch (SyscallException e) {
                    if (Verity.busy(e)) {
                        throw new ContentMismatchException(p + " is open for writing by another process");
                    }
                    throw e;
                }
                measured = Verity.measure(fd);
                if (measured == null) {
                    throw new IOException("fs-verity enabled on " + p + " but not measurable");
                }
            }
            return measured;
        } finally {
            Libc.close(fd);
        }
    }

    /** Writes the content over the corrupt copy's own inode, hashing as it goes. Holds {@code e}'s lock. */
    private void rewriteInPlace(Entry e, Path p, ContentWriter source) throws IOException {
        try (FileChannel out = FileChannel.open(p, StandardOpenOption.WRITE)) {
            Digest got = copy(source, e, out);
            if (!got.equals(e.digest)) {
                throw new ContentMismatchException("the image's copy of " + e.digest + " hashes to " + got);
            }
            out.truncate(e.size);
            out.force(true);
        }
        e.checked = FileState.of(p);
    }

    /** Writes the content as a new file and renames it over the corrupt copy. Holds {@code e}'s lock. */
    private void replace(Entry e, ContentWriter source) throws IOException {
        Path t = tmp.resolve(e.digest.hex() + "." + UUID.randomUUID());
        try {
            try (FileChannel out = FileChannel.open(t, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                    OwnerOnly.FILE_MODE)) {
                Digest got = copy(source, e, out);
                if (!got.equals(e.digest)) {
                    throw new ContentMismatchException("the image's copy of " + e.digest + " hashes to " + got);
                }
                out.force(true);
            }
            if (verity) {
                enableVerity(t);
            }
            Path target = pathOf(e);
            OwnerOnly.directory(target.getParent());
            Files.move(t, target, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            e.checked = FileState.of(target);
            e.generation++;
        } finally {
            Files.deleteIfExists(t);
        }
    }

    /** Streams {@code source} into {@code out} from offset 0; returns its digest. Refuses content longer than the entry. */
    private static Digest copy(ContentWriter source, Entry e, FileChannel out) throws IOException {
        MessageDigest md = Digest.sha256();
        long[] at = {0};
        source.writeTo((b, off, len) -> {
            if (at[0] + len > e.size) {
                throw new ContentMismatchException("the image's copy of " + e.digest + " is longer than " + e.size + " bytes");
            }
            md.update(b, off, len);
            ByteBuffer bb = ByteBuffer.wrap(b, off, len);
            while (bb.hasRemaining()) {
                at[0] += out.write(bb, at[0]);
            }
        });
        if (at[0] != e.size) {
            throw new ContentMismatchException("the image's copy of " + e.digest + " has " + at[0] + " bytes, not " + e.size);
        }
        return Digest.of(md.digest());
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
            Lease have = acquire(expected, null, false); // callers look first (and count the miss) before they write
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
                try {
                    return write(expected, size, writer);
                } catch (NoSpaceLeft noSpace) {
                    // the disk filled up under us (other files on it grew): make room and try once more
                    freeDisk(size + margin());
                    try {
                        return write(expected, size, writer);
                    } catch (NoSpaceLeft again) {
                        full.incrementAndGet();
                        throw new StoreFullException("content store " + root + ": the disk is full (" + describeDisk()
                                + "), even after deleting the stored files nothing uses: free disk space there", again.getCause());
                    }
                }
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
        // the budget is an upper bound; the disk (shared with the rest of the state directory) may hold less
        long need = size + margin();
        if (freeDisk(need) < need) {
            synchronized (this) {
                bytes -= size;
            }
            full.incrementAndGet();
            if (!warnedDisk) {
                warnedDisk = true;
                LOG.warning("content store " + root + ": its disk is full (" + describeDisk() + "), below its budget of "
                        + budget + " bytes; it keeps " + margin() + " bytes free for the rest of the state directory and "
                        + "stores no more until files nothing uses can go (logged once)");
            }
            throw new StoreFullException("content store " + root + ": " + size + " more bytes do not fit on its disk ("
                    + describeDisk() + ", " + margin() + " kept free), even after deleting the stored files nothing uses");
        }
        Path t = tmp.resolve(expected.hex() + "." + UUID.randomUUID());
        boolean kept = false;
        FileChannel out = null;
        try {
            out = FileChannel.open(t, Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE), OwnerOnly.FILE_MODE);
            MessageDigest md = Digest.sha256();
            VerityDigest vd = verity ? new VerityDigest() : null;
            long[] written = {0};
            FileChannel o = out;
            writer.writeTo((b, off, len) -> {
                if (written[0] + len > size) {
                    throw new ContentMismatchException("content of " + expected + " is longer than " + size + " bytes");
                }
                md.update(b, off, len);
                if (vd != null) {
                    vd.update(b, off, len);
                }
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
            e.verityDigest = vd != null ? vd.digest() : null;
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
                throw new NoSpaceLeft(e);
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

    /** ENOSPC while writing a store file (retried once after making room). */
    private static final class NoSpaceLeft extends IOException {
        NoSpaceLeft(IOException cause) {
            super(cause.getMessage(), cause);
        }
    }

    /** Whether {@code e} (or its cause) is ENOSPC or EDQUOT. */
    public static boolean isNoSpace(Throwable e) {
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
        Set<Path> dirs = new java.util.LinkedHashSet<>();
        for (Pending p : files) {
            closeQuietly(p.out());
            if (verity && !sealed(p.entry())) {
                continue;
            }
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

    /**
     * Enables fs-verity on a written (and closed) file and checks that the kernel measures the
     * digest computed from the bytes hashed while they were written. False if the file is not
     * to be committed (it changed meanwhile: deleted as corrupt; or fs-verity failed: it stays
     * in tmp, served through the fds open on it, and goes at the next start).
     */
    private boolean sealed(Entry e) {
        synchronized (this) {
            if (e.removed) {
                return false;
            }
        }
        try {
            synchronized (e) {
                byte[] measured = enableVerity(e.tmpPath);
                if (!Arrays.equals(measured, e.verityDigest)) {
                    throw new ContentMismatchException(e.tmpPath + " changed between being written and sealed with fs-verity");
                }
                e.checked = FileState.of(e.tmpPath);
            }
            return true;
        } catch (ContentMismatchException changed) {
            corrupt(e, changed);
            return false;
        } catch (IOException | RuntimeException failed) {
            LOG.log(Level.WARNING, "content store: enabling fs-verity on " + e.tmpPath + " failed", failed);
            return false;
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
            OwnerOnly.directory(target.getParent());
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

    /** Space kept free on the store's disk for everything else in the state directory: 64 MiB, or 5% of a small disk. */
    private long margin() {
        try {
            return Math.min(64L << 20, Files.getFileStore(root).getTotalSpace() / 20);
        } catch (IOException e) {
            return 64L << 20;
        }
    }

    private long usable() {
        try {
            return Files.getFileStore(root).getUsableSpace();
        } catch (IOException e) {
            return Long.MAX_VALUE; // cannot tell: let the write find out
        }
    }

    /** "N bytes free of M on the filesystem at X", for messages. */
    public String describeDisk() {
        try {
            FileStore fs = Files.getFileStore(root);
            return fs.getUsableSpace() + " bytes free of " + fs.getTotalSpace() + " on " + fs;
        } catch (IOException e) {
            return "free space unknown: " + e.getMessage();
        }
    }

    /**
     * Makes at least {@code need} bytes free on the store's disk if deleting stored files that
     * nothing uses can (least recently used first; holders that keep files only in case they are
     * needed again let them go first). For the store itself and for other writers in the state
     * directory that hit ENOSPC. Returns the bytes free after.
     */
    public long freeDisk(long need) {
        long usable = usable();
        if (usable >= need) {
            return usable;
        }
        for (Runnable r : reclaimers) { // an idle passthrough inode keeps its file's blocks allocated even once deleted
            r.run();
        }
        synchronized (this) {
            int before = entries.size();
            long freed = evictUnused(need - usable);
            if (freed > 0) {
                LOG.info("content store " + root + ": deleted " + (before - entries.size()) + " unused file(s) (" + freed
                        + " bytes) because its disk is nearly full");
            }
        }
        return usable();
    }

    /**
     * Looks at every file in use that has a source to restore it from (one stat each; hashed
     * only if its inode, size or change time moved): a damaged one is restored at once, so that
     * processes reading it through files already open or mapped get the right bytes again within
     * {@link #SWEEP_SECONDS} rather than at the next open. Runs every {@link #SWEEP_SECONDS}
     * without fs-verity; returns how many were found damaged.
     */
    public int sweep() {
        List<Entry> inUse = new ArrayList<>();
        synchronized (this) {
            for (Entry e : entries.values()) {
                if (e.pins > 0 && e.committed && e.source != null) {
                    inUse.add(e);
                }
            }
        }
        int damaged = 0;
        for (Entry e : inUse) {
            long before = corrupt.get();
            try {
                check(e, e.source);
            } catch (ContentMismatchException | NoSuchFileException bad) {
                corrupt(e, bad);
            } catch (IOException | RuntimeException failed) {
                LOG.warning("content store: checking " + e.digest + " in use: " + failed.getMessage());
            }
            if (corrupt.get() != before) {
                damaged++;
            }
        }
        return damaged;
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
        if (bytes + need > budget) {
            evictUnused(bytes + need - budget);
        }
    }

    /** Deletes least recently used files nothing holds until {@code toFree} bytes are freed (or none is left). Holds the lock. */
    private long evictUnused(long toFree) {
        List<Entry> victims = new ArrayList<>();
        long freed = 0;
        for (Iterator<Entry> it = entries.values().iterator(); it.hasNext() && freed < toFree; ) {
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
        return freed;
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

    /**
     * Counters: lookups that found the content, lookups that did not, files and bytes written,
     * corrupt copies found (of which {@code repaired} were restored from an image at once, the
     * others deleted to be written again), evictions, refusals (budget or disk full).
     */
    public record Stats(long hits, long misses, long materializedFiles, long materializedBytes, long corrupt, long evictions,
                        long full, long sizeBytes, long budget, int files, long repaired) {
    }

    public Stats stats() {
        synchronized (this) {
            return new Stats(hits.get(), misses.get(), materializedFiles.get(), materializedBytes.get(), corrupt.get(),
                    evictions.get(), full.get(), bytes, budget, entries.size(), repaired.get());
        }
    }

    @Override
    public void close() {
        sweeper.shutdownNow();
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
