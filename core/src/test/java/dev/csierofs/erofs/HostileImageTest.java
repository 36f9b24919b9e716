package dev.csierofs.erofs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.Deque;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.CRC32C;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Hostile images: every fixture, mutated in seeded, reproducible ways aimed at its structures
 * (superblock fields, inode slots, dirents, xattr areas, chunk tables, compressed indexes and
 * data, truncation, absurd sizes and counts, directory cycles), then read completely. The only
 * acceptable outcomes are success or an {@link ErofsException} with a message; any other
 * exception or error, a broken read contract, a case running longer than a few seconds or one
 * allocating absurd amounts of memory fails the test, naming the seed, case, fixture and mutation.
 *
 * <p>Reproduce one case: {@code -Dhostile.seed=S -Dhostile.case=N}; more cases:
 * {@code -Dhostile.count=N}; only some fixtures: {@code -Dhostile.fixtures=plain,lz4}; keep the mutated
 * images: {@code -Dhostile.keep=/some/dir}.
 */
class HostileImageTest {

    static final long DEFAULT_SEED = 0x5EED_E20F_2024L;
    static final int DEFAULT_CASES = 4000;
    /** Per-case wall-clock limit. */
    static final long CASE_TIMEOUT_MS = Long.getLong("hostile.timeoutMs", 5_000);
    /**
     * Per-case allocation limit (total bytes allocated by the case's thread). Reading a whole
     * fixture allocates well under 100 MiB; legal per-structure caps (a 12 MiB decoded extent,
     * a 256 KiB xattr body) repeated over every inode stay below this, an allocation sized by a
     * corrupt 32- or 64-bit number does not.
     */
    static final long CASE_ALLOC_LIMIT = Long.getLong("hostile.allocLimit", 2048L << 20);
    /** Files up to this size are read in full; larger ones (sparse or corrupt sizes) in windows. */
    static final long FULL_READ_LIMIT = 16L << 20;
    /** Decoded bytes read per case at most (sum over files). */
    static final long READ_BUDGET = 48L << 20;
    static final int MAX_INODES = 20_000;
    static final int MAX_REPORTED = 25;

    @TempDir
    Path tmp;

    // ==================================================================== the generated test

    @Test
    void generatedMutationsOnlyFailWithErofsException() throws Exception {
        long seed = Long.decode(System.getProperty("hostile.seed", Long.toString(DEFAULT_SEED)));
        int count = Integer.getInteger("hostile.count", DEFAULT_CASES);
        String only = System.getProperty("hostile.case");
        List<String> names = new ArrayList<>(Fixtures.names());
        String filter = System.getProperty("hostile.fixtures");
        if (filter != null && !filter.isBlank()) {
            names.retainAll(List.of(filter.split(",")));
        }
        assertTrue(!names.isEmpty(), "no fixtures");
        long t0 = System.nanoTime();
        List<Model> models = new ArrayList<>();
        for (String n : names) {
            models.add(Model.of(n));
        }
        long tModels = System.nanoTime();

        int[] cases;
        if (only != null) {
            cases = Arrays.stream(only.split(",")).mapToInt(Integer::parseInt).toArray();
        } else {
            cases = new int[count];
            for (int i = 0; i < count; i++) {
                cases[i] = i;
            }
        }
        int lanes = only != null ? 1 : Math.max(1, Math.min(2, Runtime.getRuntime().availableProcessors()));
        Stats stats = new Stats();
        List<String> failures = java.util.Collections.synchronizedList(new ArrayList<>());
        AtomicInteger next = new AtomicInteger();
        AtomicInteger timeouts = new AtomicInteger();
        ExecutorService coord = Executors.newFixedThreadPool(lanes);
        List<Future<?>> laneFutures = new ArrayList<>();
        for (int lane = 0; lane < lanes; lane++) {
            String laneName = "lane" + lane;
            laneFutures.add(coord.submit(() -> {
                Path file = tmp.resolve(laneName + ".erofs");
                java.util.concurrent.atomic.AtomicReference<Thread> thread = new java.util.concurrent.atomic.AtomicReference<>();
                ExecutorService worker = newWorker(thread);
                try {
                    for (int k; (k = next.getAndIncrement()) < cases.length; ) {
                        if (timeouts.get() >= 3 || failures.size() >= 200) {
                            break; // stuck threads would skew everything after this
                        }
                        int id = cases[k];
                        Model m = models.get(id % models.size());
                        Case c = Case.make(seed, id, m);
                        Path caseFile = file;
                        Future<CaseResult> f = worker.submit(() -> runCase(c, caseFile));
                        try {
                            CaseResult res = f.get(CASE_TIMEOUT_MS, TimeUnit.MILLISECONDS);
                            stats.add(c, res);
                            if (res.alloc > CASE_ALLOC_LIMIT) {
                                failures.add(c.header() + "\n  allocated " + (res.alloc >> 20) + " MiB (limit "
                                        + (CASE_ALLOC_LIMIT >> 20) + " MiB): some allocation follows an on-disk number");
                            }
                        } catch (TimeoutException e) {
                            timeouts.incrementAndGet();
                            StackTraceElement[] where = thread.get().getStackTrace();
                            f.cancel(true);
                            worker.shutdownNow();
                            worker = newWorker(thread);
                            file = tmp.resolve(laneName + "-" + timeouts.get() + ".erofs"); // the stuck thread keeps the old one
                            failures.add(c.header() + "\n  did not finish within " + CASE_TIMEOUT_MS + " ms; stuck at:\n"
                                    + frames(where, 12));
                        } catch (ExecutionException e) {
                            failures.add(c.header() + "\n  " + trace(e.getCause(), 14));
                        }
                    }
                } finally {
                    worker.shutdownNow();
                }
                return null;
            }));
        }
        for (Future<?> f : laneFutures) {
            f.get();
        }
        coord.shutdown();
        long t1 = System.nanoTime();
        System.out.printf("HostileImageTest: seed=0x%x cases=%d fixtures=%d lanes=%d model=%d ms run=%d ms%n",
                seed, cases.length, models.size(), lanes, (tModels - t0) / 1_000_000, (t1 - tModels) / 1_000_000);
        System.out.print(stats.table());
        if (!failures.isEmpty()) {
            StringBuilder sb = new StringBuilder();
            sb.append(failures.size()).append(" hostile case(s) failed (seed 0x").append(Long.toHexString(seed))
                    .append("; rerun one with -Dhostile.seed=").append(seed).append(" -Dhostile.case=N):\n");
            failures.stream().limit(MAX_REPORTED).forEach(s -> sb.append(s).append("\n"));
            fail(sb.toString());
        }
    }

    /** One generated case: which fixture, which mutation, the mutated bytes, the extra devices. */
    record Case(long seed, int id, Model model, String kind, String desc, byte[] bytes, List<Path> devices) {
        static Case make(long seed, int id, Model m) {
            SplittableRandom r = new SplittableRandom(seed ^ (0x9E3779B97F4A7C15L * (id + 1)));
            Mut mut = new Mut(m, r);
            String kind = Mutations.apply(mut);
            return new Case(seed, id, m, kind, String.join("; ", mut.desc), mut.bytes(), mut.devices());
        }

        String header() {
            return "case " + id + " seed=0x" + Long.toHexString(seed) + " fixture=" + model.name + " kind=" + kind + " ["
                    + (desc.length() > 400 ? desc.substring(0, 400) + "..." : desc) + "]";
        }
    }

    record CaseResult(boolean opened, int errors, int inodes, long alloc, long nanos) {
    }

    static CaseResult runCase(Case c, Path file) throws Exception {
        com.sun.management.ThreadMXBean mx = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
        Files.write(file, c.bytes);
        String keep = System.getProperty("hostile.keep");
        if (keep != null) {
            Files.write(Path.of(keep).resolve("case-" + c.id + "-" + c.model.name + ".erofs"), c.bytes);
        }
        long a0 = mx.getCurrentThreadAllocatedBytes();
        long t0 = System.nanoTime();
        Walk w = new Walk(new SplittableRandom(c.seed * 31 + c.id));
        boolean opened = w.openAndWalk(file, c.devices);
        long alloc = mx.getCurrentThreadAllocatedBytes() - a0;
        return new CaseResult(opened, w.errors, w.inodes, alloc, System.nanoTime() - t0);
    }

    /** A single daemon thread running one case at a time; {@code thread} tells which, to show where a stuck case is. */
    private static ExecutorService newWorker(java.util.concurrent.atomic.AtomicReference<Thread> thread) {
        return Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, "hostile-worker");
            t.setDaemon(true);
            thread.set(t);
            return t;
        });
    }

    static String frames(StackTraceElement[] st, int max) {
        StringBuilder sb = new StringBuilder();
        for (int i = 0; i < Math.min(max, st.length); i++) {
            sb.append("    at ").append(st[i]).append('\n');
        }
        return sb.toString();
    }

    static String trace(Throwable t, int maxFrames) {
        StringBuilder sb = new StringBuilder(t.toString()).append('\n').append(frames(t.getStackTrace(), maxFrames));
        for (Throwable c = t.getCause(); c != null && c != c.getCause(); c = c.getCause()) {
            sb.append("  caused by ").append(c).append('\n').append(frames(c.getStackTrace(), 6));
        }
        return sb.toString();
    }

    /** Per-kind outcome counts, printed after the run so one can see the mutations reach deep. */
    static final class Stats {
        private final Map<String, long[]> byKind = new ConcurrentHashMap<>();
        private final java.util.concurrent.ConcurrentSkipListMap<Long, String> slowest = new java.util.concurrent.ConcurrentSkipListMap<>();
        private final java.util.concurrent.ConcurrentSkipListMap<Long, String> hungriest = new java.util.concurrent.ConcurrentSkipListMap<>();

        private static void top(java.util.concurrent.ConcurrentSkipListMap<Long, String> m, long v, String what) {
            m.put(v, what);
            while (m.size() > 3) {
                m.pollFirstEntry();
            }
        }

        void add(Case c, CaseResult r) {
            top(slowest, r.nanos * 64 + (c.id & 63), "case " + c.id + " " + c.model.name + "/" + c.kind);
            top(hungriest, r.alloc * 64 + (c.id & 63), "case " + c.id + " " + c.model.name + "/" + c.kind);
            long[] s = byKind.computeIfAbsent(c.kind, k -> new long[4]);
            synchronized (s) {
                s[0]++;
                if (!r.opened) {
                    s[1]++;
                } else if (r.errors > 0) {
                    s[2]++;
                } else {
                    s[3]++;
                }
            }
        }

        String table() {
            StringBuilder sb = new StringBuilder("  kind            cases  open-refused  opened-some-errors  clean\n");
            new TreeMap<>(byKind).forEach((k, s) -> sb.append(String.format("  %-15s %6d %13d %19d %6d%n", k, s[0], s[1], s[2], s[3])));
            sb.append("  slowest:");
            slowest.descendingMap().forEach((v, w) -> sb.append(String.format(" %s %d ms;", w, v / 64 / 1_000_000)));
            sb.append("\n  most allocating:");
            hungriest.descendingMap().forEach((v, w) -> sb.append(String.format(" %s %d MiB;", w, (v / 64) >> 20)));
            return sb.append('\n').toString();
        }
    }

    // ==================================================================== reading everything

    /** Thrown when the reader breaks a contract without throwing (a short read, an empty message). */
    static final class ContractViolation extends RuntimeException {
        ContractViolation(String msg, Throwable cause) {
            super(msg, cause);
        }
    }

    static final String[] PROBE_XATTRS = {"user.same-a", "trusted.overlay.opaque", "security.capability", "user.x",
        "system.posix_acl_access", "system.posix_acl_default", "trusted.erofs.fingerprint", "lustre.x", "user."};
    static final String[] PROBE_PATHS = {"/srv/tower/t01/t02/t03/t04/t05/t06/t07/t08/t09/t10/t11/t12/floor-12.txt",
        "/srv/links/abs", "/srv/crowd/f-0070", "/usr/lib/x86_64-linux-gnu/libmd.so.0.0.5", "/etc/../etc/./x", "/nope"};

    /**
     * Reads a whole image, continuing past every rejected structure so that one corrupt inode
     * does not hide the rest: every inode reachable from the root, its xattrs (list, get, content
     * digest), symlink target, every directory (readdir, resumed readdir, lookups) and every byte
     * of every regular file (windows only for files beyond {@link #FULL_READ_LIMIT}).
     */
    static class Walk {
        final SplittableRandom r;
        final byte[] buf = new byte[1 << 17];
        long budget = READ_BUDGET;
        int errors;
        int inodes;

        Walk(SplittableRandom r) {
            this.r = r;
        }

        void rejected(ErofsException e) {
            checkMessage(e);
            errors++;
        }

        static void checkMessage(ErofsException e) {
            String m = e.getMessage();
            if (m == null || m.isBlank() || m.strip().endsWith(":") || e.structure() == null || e.structure().isBlank()) {
                throw new ContractViolation("ErofsException without a usable message: \"" + m + "\"", e);
            }
        }

        /** Returns whether the image opened. */
        boolean openAndWalk(Path file, List<Path> devices) throws IOException {
            ErofsImage img;
            try {
                img = ErofsImage.open(file, devices);
            } catch (ErofsException e) {
                rejected(e);
                return false;
            }
            try (img) {
                walk(img);
            }
            return true;
        }

        void walk(ErofsImage img) throws IOException {
            img.superblock().volumeName();
            img.deviceSlots().forEach(DeviceSlot::tagText);
            img.xattrPrefixes();
            for (String p : PROBE_PATHS) {
                try {
                    img.resolve(p);
                } catch (ErofsException e) {
                    rejected(e);
                }
            }
            try {
                // the walk fsck and extract use: errors reported, the rest of the tree still walked
                new TreeWalker(img, (path, e) -> rejected(e)).walk((path, ino) -> {
                });
            } catch (ErofsException e) {
                rejected(e);
            }
            try {
                img.root();
            } catch (ErofsException e) {
                rejected(e);
            }
            Deque<Long> todo = new ArrayDeque<>();
            Set<Long> seen = new HashSet<>();
            todo.push(img.rootNid());
            while (!todo.isEmpty() && seen.size() < MAX_INODES) {
                long nid = todo.pop();
                if (!seen.add(nid)) {
                    continue;
                }
                Inode ino;
                try {
                    ino = img.inode(nid);
                } catch (ErofsException e) {
                    rejected(e);
                    continue;
                }
                inodes++;
                visit(img, ino, todo);
            }
        }

        void visit(ErofsImage img, Inode ino, Deque<Long> todo) {
            try {
                img.xattrs().list(ino);
            } catch (ErofsException e) {
                rejected(e);
            }
            try {
                img.xattrs().get(ino, PROBE_XATTRS[r.nextInt(PROBE_XATTRS.length)]);
            } catch (ErofsException e) {
                rejected(e);
            }
            try {
                img.contentDigest(ino);
            } catch (ErofsException e) {
                rejected(e);
            }
            if (ino.isSymlink()) {
                try {
                    byte[] t = img.readlink(ino);
                    if (t.length != ino.size()) {
                        throw new ContractViolation(ino.label() + ": readlink gave " + t.length + " bytes for i_size " + ino.size(), null);
                    }
                } catch (ErofsException e) {
                    rejected(e);
                }
            }
            if (ino.isRegular() || (ino.isDevice() && r.nextInt(8) == 0)) {
                try {
                    readData(img, ino);
                } catch (ErofsException e) {
                    rejected(e);
                }
            }
            if (ino.isDirectory()) {
                try {
                    listDir(img, ino, todo);
                } catch (ErofsException e) {
                    rejected(e);
                }
            }
        }

        void listDir(ErofsImage img, Inode ino, Deque<Long> todo) throws ErofsException {
            Directory d = img.directory(ino);
            List<Dirent> all = new ArrayList<>();
            d.readdir(0, e -> {
                all.add(e);
                return all.size() < 100_000;
            });
            for (int i = all.size() - 1; i >= 0; i--) {
                Dirent e = all.get(i);
                if (!e.isDot() && !e.isDotDot()) {
                    todo.push(e.nid());
                }
            }
            int probes = Math.min(all.size(), 6);
            for (int i = 0; i < probes; i++) {
                Dirent e = all.get(r.nextInt(all.size()));
                try {
                    d.lookup(e.name());
                } catch (ErofsException x) {
                    rejected(x);
                }
            }
            byte[][] absent = {{1}, "zzzz-not-there".getBytes(StandardCharsets.US_ASCII), new byte[255], {}};
            Arrays.fill(absent[2], (byte) 'z');
            for (byte[] n : absent) {
                try {
                    d.lookup(n);
                } catch (ErofsException x) {
                    rejected(x);
                }
            }
            if (!all.isEmpty()) {
                Dirent from = all.get(r.nextInt(all.size()));
                int[] left = {50};
                try {
                    d.readdir(from.nextCookie(), e -> --left[0] > 0);
                } catch (ErofsException x) {
                    rejected(x);
                }
                try {
                    d.readdir(r.nextLong(), e -> --left[0] > 0);
                } catch (ErofsException x) {
                    rejected(x);
                }
                try {
                    img.lookup(ino, all.get(r.nextInt(all.size())).name());
                } catch (ErofsException x) {
                    rejected(x);
                }
            }
        }

        void readData(ErofsImage img, Inode ino) throws ErofsException {
            FileData fd = img.openData(ino);
            long size = ino.size();
            if (size <= FULL_READ_LIMIT && size <= budget) {
                budget -= size;
                long pos = 0;
                while (pos < size) {
                    int want = r.nextInt(8) == 0 ? 1 + r.nextInt(buf.length) : buf.length;
                    pos += readChecked(fd, ino, pos, want);
                }
            } else {
                int win = 1 << 16;
                long[] starts = {0, Math.max(0, size - win), r.nextLong(size), r.nextLong(size), (size / 2) & ~4095L};
                for (long s : starts) {
                    if (budget < win) {
                        break;
                    }
                    budget -= win;
                    readChecked(fd, ino, s, win);
                }
            }
            if (size > 0) {
                readChecked(fd, ino, size - 1, 1);
            }
            if (fd.read(size, buf, 0, 16) != 0 || fd.read(size + 4096, buf, 0, 16) != 0 || fd.read(0, buf, 0, 0) != 0) {
                throw new ContractViolation(ino.label() + ": read at or past end of file returned data", null);
            }
            try {
                if (fd.read(-1, buf, 0, 16) != 0 || fd.read(Long.MIN_VALUE, buf, 0, 16) != 0) {
                    throw new ContractViolation(ino.label() + ": read at a negative position returned data", null);
                }
            } catch (ErofsException e) {
                checkMessage(e); // refusing a negative position is right; not a problem of the image
            }
            int n = fd.read(0, buf, buf.length - 10, 10);
            if (n != Math.min(10, size)) {
                throw new ContractViolation(ino.label() + ": read into the end of the buffer gave " + n, null);
            }
        }

        int readChecked(FileData fd, Inode ino, long pos, int want) throws ErofsException {
            int n = fd.read(pos, buf, 0, want);
            long expect = Math.min(want, ino.size() - pos);
            if (n != expect) {
                throw new ContractViolation(ino.label() + ": read(" + pos + ", " + want + ") returned " + n + ", expected " + expect
                        + " (i_size " + ino.size() + ", layout " + ino.layout() + ")", null);
            }
            return n;
        }
    }

    // ==================================================================== where things are

    record Region(long start, int len) {
    }

    /** An inode slot in the primary device. */
    record InodeRef(long nid, long iloc, int isize, int xsize, int layout, int mode, long size, long tailPos, boolean dir) {
    }

    /** A dirent in a directory block of the primary device, with the nids from the root to its directory. */
    record DirentRef(long pos, long blockStart, int blockLen, int index, int count, long dirNid, long childNid, boolean childDir,
            boolean dot, long[] ancestors) {
    }

    record Table(long start, int unit, int count) {
    }

    /** A fixture and where its structures are, learned from a clean walk through the reader. */
    static final class Model {
        private static final Map<String, Model> CACHE = new ConcurrentHashMap<>();
        final String name;
        final Path path;
        final byte[] clean;
        final List<Path> devices;
        int blkszbits;
        long metaBase;
        long rootNid;
        boolean compressed;
        final List<InodeRef> inodes = new ArrayList<>();
        final List<InodeRef> xattrInodes = new ArrayList<>();
        final List<DirentRef> dirents = new ArrayList<>();
        final List<DirentRef> subdirs = new ArrayList<>();
        final List<Region> dirBlocks = new ArrayList<>();
        final List<Region> sharedXattrs = new ArrayList<>();
        final List<Region> prefixes = new ArrayList<>();
        final List<Table> chunkTables = new ArrayList<>();
        final List<Region> zIndexes = new ArrayList<>();
        final List<Long> dataBlocks = new ArrayList<>();
        Region deviceTable;
        String openError;

        private Model(String name) throws IOException {
            this.name = name;
            this.path = Fixtures.image(name);
            this.clean = Files.readAllBytes(path);
            this.devices = Fixtures.devices(name);
        }

        static Model of(String name) throws IOException {
            try {
                return CACHE.computeIfAbsent(name, n -> {
                    try {
                        Model m = new Model(n);
                        m.discover();
                        return m;
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                });
            } catch (java.io.UncheckedIOException e) {
                throw e.getCause();
            }
        }

        int blksz() {
            return 1 << blkszbits;
        }

        private void discover() throws IOException {
            byte[] b = clean;
            blkszbits = b[Superblock.OFFSET + 12] & 0xff;
            int incompat = Le.i32(b, Superblock.OFFSET + 80);
            compressed = (incompat & (Features.INCOMPAT_ZERO_PADDING | Features.INCOMPAT_COMPR_CFGS)) != 0;
            BitSet claimed = new BitSet();
            claimed.set(0);
            try (ErofsImage img = ErofsImage.open(path, devices)) {
                Superblock sb = img.superblock();
                metaBase = sb.metaBlkaddr() << sb.blkszbits();
                rootNid = sb.rootNid();
                if (sb.extraDevices() > 0) {
                    deviceTable = new Region((long) sb.devtSlotoff() * DeviceSlot.SIZE, sb.extraDevices() * DeviceSlot.SIZE);
                    claim(claimed, deviceTable);
                }
                if (sb.xattrPrefixCount() > 0 && sb.hasCompat(Features.COMPAT_PLAIN_XATTR_PFX)) {
                    long pos = sb.xattrPrefixStart() << 2;
                    for (int i = 0; i < sb.xattrPrefixCount() && pos + 2 <= b.length; i++) {
                        pos = (pos + 3) & ~3L;
                        int len = Le.u16(b, (int) pos);
                        prefixes.add(new Region(pos, 2 + len));
                        claim(claimed, prefixes.getLast());
                        pos += 2 + len;
                    }
                }
                Deque<long[]> todo = new ArrayDeque<>();
                Set<Long> seen = new HashSet<>();
                todo.add(new long[] {sb.rootNid()});
                if (sb.packedNid() != 0) {
                    todo.add(new long[] {sb.packedNid()});
                }
                if (sb.metaboxNid() != 0) {
                    todo.add(new long[] {sb.metaboxNid()});
                }
                Set<Long> sharedSeen = new HashSet<>();
                while (!todo.isEmpty()) {
                    long[] chain = todo.poll();
                    long nid = chain[chain.length - 1];
                    if (!seen.add(nid)) {
                        continue;
                    }
                    Inode ino;
                    try {
                        ino = img.inode(nid);
                    } catch (ErofsException e) {
                        continue;
                    }
                    compressed |= ino.isCompressed();
                    if (!ino.inMetabox()) {
                        record(img, sb, ino, chain, claimed, sharedSeen);
                    }
                    if (ino.isDirectory()) {
                        try {
                            img.directory(ino).readdir(0, d -> {
                                if (!d.isDot() && !d.isDotDot()) {
                                    long[] c = Arrays.copyOf(chain, chain.length + 1);
                                    c[chain.length] = d.nid();
                                    todo.add(c);
                                }
                                return true;
                            });
                        } catch (ErofsException e) {
                            // compressed directories before z/ lands, for example
                        }
                    }
                }
            } catch (ErofsException e) {
                openError = e.getMessage();
                compressed = true;
            }
            int nblocks = b.length >> blkszbits;
            for (int blk = claimed.nextClearBit(0); blk < nblocks; blk = claimed.nextClearBit(blk + 1)) {
                dataBlocks.add((long) blk);
            }
        }

        private void claim(BitSet claimed, Region r) {
            if (r.start < 0 || r.len <= 0 || r.start >= clean.length) {
                return;
            }
            long end = Math.min(clean.length, r.start + r.len);
            claimed.set((int) (r.start >> blkszbits), (int) ((end - 1) >> blkszbits) + 1);
        }

        private void record(ErofsImage img, Superblock sb, Inode ino, long[] chain, BitSet claimed, Set<Long> sharedSeen) {
            int bs = blksz();
            InodeRef ref = new InodeRef(ino.nid(), ino.iloc(), ino.inodeSize(), ino.xattrSize(), ino.layout(), ino.mode(), ino.size(),
                    ino.tailPos(), ino.isDirectory());
            inodes.add(ref);
            long extent = ino.tailPos() - ino.iloc();
            if (ino.layout() == Inode.FLAT_INLINE) {
                extent += ino.size() % bs;
            }
            claim(claimed, new Region(ino.iloc(), (int) Math.min(extent, bs)));
            if (ino.xattrSize() > 0 && ino.tailPos() <= clean.length) {
                xattrInodes.add(ref);
                long base = ino.iloc() + ino.inodeSize();
                int shared = clean[(int) base + 4] & 0xff;
                long area = sb.xattrBlkaddr() << sb.blkszbits();
                for (int i = 0; i < shared && 12 + 4 * i + 4 <= ino.xattrSize(); i++) {
                    long at = area + Le.u32(clean, (int) base + 12 + 4 * i) * 4;
                    if (at + 4 <= clean.length && sharedSeen.add(at)) {
                        int len = 4 + (clean[(int) at] & 0xff) + Le.u16(clean, (int) at + 2);
                        sharedXattrs.add(new Region(at, len));
                        claim(claimed, sharedXattrs.getLast());
                    }
                }
            }
            if (ino.layout() == Inode.CHUNK_BASED) {
                int unit = (ino.chunkFormat() & 0x20) != 0 ? 8 : 4;
                int chunkBits = blkszbits + (ino.chunkFormat() & 0x1f);
                long n = (ino.size() + (1L << chunkBits) - 1) >>> chunkBits;
                long start = (ino.tailPos() + unit - 1) / unit * unit;
                if (n > 0 && start + n * unit <= clean.length) {
                    chunkTables.add(new Table(start, unit, (int) n));
                    claim(claimed, new Region(start, (int) n * unit));
                }
            }
            if (ino.isCompressed()) {
                long lclusters = (ino.size() + bs - 1) / bs;
                int len = (int) Math.min(8 + 8 * lclusters + 16, 8192);
                zIndexes.add(new Region(ino.tailPos(), len));
                claim(claimed, zIndexes.getLast());
            }
            if (ino.isDirectory() && (ino.layout() == Inode.FLAT_PLAIN || ino.layout() == Inode.FLAT_INLINE)) {
                long size = ino.size();
                long blockedEnd = ino.layout() == Inode.FLAT_INLINE ? size / bs * bs : size;
                List<Region> blocks = new ArrayList<>();
                for (long off = 0; off < blockedEnd && ino.startBlk() != Inode.NULL_ADDR; off += bs) {
                    blocks.add(new Region((ino.startBlk() << blkszbits) + off, (int) Math.min(bs, size - off)));
                }
                if (size > blockedEnd) {
                    blocks.add(new Region(ino.tailPos(), (int) (size - blockedEnd)));
                }
                for (Region blk : blocks) {
                    if (blk.start + blk.len > clean.length || blk.len < Dirent.SIZE) {
                        continue;
                    }
                    dirBlocks.add(blk);
                    claim(claimed, blk);
                    int p = (int) blk.start;
                    int count = Le.u16(clean, p + 8) / Dirent.SIZE;
                    for (int i = 0; i < count; i++) {
                        int e = p + i * Dirent.SIZE;
                        int nameoff = Le.u16(clean, e + 8);
                        int nameEnd = i + 1 < count ? Le.u16(clean, e + 20) : nameoff + 1;
                        boolean dot = nameEnd - nameoff <= 2 && clean[p + nameoff] == '.'
                                && (nameEnd - nameoff == 1 || clean[p + nameoff + 1] == '.' || clean[p + nameoff + 1] == 0);
                        DirentRef d = new DirentRef(e, blk.start, blk.len, i, count, ino.nid(), Le.i64(clean, e),
                                clean[e + 10] == Dirent.FT_DIR, dot, chain);
                        dirents.add(d);
                        if (d.childDir && !dot) {
                            subdirs.add(d);
                        }
                    }
                }
            }
        }
    }

    // ==================================================================== mutating

    /** The bytes being mutated, with a log of what was done to them. */
    static final class Mut {
        final Model m;
        final SplittableRandom r;
        byte[] b;
        final List<String> desc = new ArrayList<>();
        boolean keepChecksum; // leave a mutated superblock's checksum stale
        int truncateTo = -1;

        Mut(Model m, SplittableRandom r) {
            this.m = m;
            this.r = r;
            this.b = m.clean.clone();
        }

        boolean in(long pos, int len) {
            return pos >= 0 && pos <= b.length - len;
        }

        void put(long pos, int width, long v, String what) {
            if (!in(pos, width)) {
                desc.add(what + "@" + pos + " (past end, skipped)");
                return;
            }
            for (int i = 0; i < width; i++) {
                b[(int) pos + i] = (byte) (v >>> (8 * i));
            }
            desc.add(what + "@" + pos + ":=0x" + Long.toHexString(width == 8 ? v : v & ((1L << (8 * width)) - 1)));
        }

        long get(long pos, int width) {
            long v = 0;
            for (int i = width - 1; i >= 0; i--) {
                v = (v << 8) | (b[(int) pos + i] & 0xff);
            }
            return v;
        }

        void flip(long pos, String what) {
            if (!in(pos, 1)) {
                return;
            }
            int bit = r.nextInt(8);
            b[(int) pos] ^= (byte) (1 << bit);
            desc.add(what + "@" + pos + "^bit" + bit);
        }

        void randomBytes(long pos, int n, String what) {
            for (int i = 0; i < n; i++) {
                if (in(pos + i, 1)) {
                    b[(int) pos + i] = (byte) r.nextInt(256);
                }
            }
            desc.add(what + "@" + pos + " " + n + " random bytes");
        }

        /** Mutates {@code n} random bytes of a region, by bit flips or random values. */
        void scribble(Region reg, int n, String what) {
            if (reg.len <= 0) {
                return;
            }
            boolean flips = r.nextBoolean();
            for (int i = 0; i < n; i++) {
                long pos = reg.start + r.nextInt(reg.len);
                if (flips) {
                    flip(pos, what);
                } else {
                    randomBytes(pos, 1, what);
                }
            }
        }

        long pick(long... vals) {
            return vals[r.nextInt(vals.length)];
        }

        <T> T any(List<T> l) {
            return l.get(r.nextInt(l.size()));
        }

        byte[] bytes() {
            fixChecksumIfWanted();
            if (truncateTo >= 0 && truncateTo < b.length) {
                return Arrays.copyOf(b, truncateTo);
            }
            return b;
        }

        private void fixChecksumIfWanted() {
            if (!keepChecksum) {
                fixChecksum(b);
            }
        }

        /** Extra devices to pass: the fixture's, or as many as a mutated device table asks for (up to 4). */
        List<Path> devices() {
            if (b.length < Superblock.OFFSET + 128) {
                return m.devices;
            }
            int incompat = Le.i32(b, Superblock.OFFSET + 80);
            int n = (incompat & Features.INCOMPAT_DEVICE_TABLE) != 0 ? Le.u16(b, Superblock.OFFSET + 86) : 0;
            if (n == m.devices.size() || n > 4) {
                return m.devices;
            }
            List<Path> d = new ArrayList<>(m.devices.subList(0, Math.min(n, m.devices.size())));
            while (d.size() < n) {
                d.add(m.path); // any readable file serves as a (hostile) extra device
            }
            return d;
        }
    }

    /** Recomputes the superblock checksum the kernel's way, if the image asks for one and is long enough. */
    static void fixChecksum(byte[] b) {
        int o = Superblock.OFFSET;
        if (b.length < o + 128 || (Le.i32(b, o + 8) & Features.COMPAT_SB_CHKSUM) == 0) {
            return;
        }
        int bits = b[o + 12] & 0xff;
        if (bits < 9 || bits > Superblock.MAX_BLKSZBITS) {
            return;
        }
        int blksz = 1 << bits;
        int len = blksz > o ? blksz - o : blksz;
        if (b.length < o + len) {
            return;
        }
        byte[] copy = Arrays.copyOfRange(b, o, o + len);
        copy[4] = copy[5] = copy[6] = copy[7] = 0;
        CRC32C crc = new CRC32C();
        crc.update(copy);
        int v = (int) ~crc.getValue();
        b[o + 4] = (byte) v;
        b[o + 5] = (byte) (v >>> 8);
        b[o + 6] = (byte) (v >>> 16);
        b[o + 7] = (byte) (v >>> 24);
    }

    /** The mutation kinds, each aimed at one structure. */
    static final class Mutations {
        private static final int SB = Superblock.OFFSET;

        private record Kind(String name, int weight, java.util.function.Predicate<Model> applies,
                java.util.function.Consumer<Mut> apply) {
        }

        private static final List<Kind> KINDS = List.of(
                new Kind("sb-bits", 5, m -> true, Mutations::sbBits),
                new Kind("sb-field", 12, m -> true, Mutations::sbField),
                new Kind("inode-field", 14, m -> !m.inodes.isEmpty(), Mutations::inodeField),
                new Kind("inode-bytes", 5, m -> !m.inodes.isEmpty(), Mutations::inodeBytes),
                new Kind("dirent", 12, m -> !m.dirents.isEmpty(), Mutations::dirent),
                new Kind("dir-cycle", 4, m -> !m.subdirs.isEmpty(), Mutations::dirCycle),
                new Kind("nid-past-end", 3, m -> !m.dirents.isEmpty(), Mutations::nidPastEnd),
                new Kind("xattr-inline", 8, m -> !m.xattrInodes.isEmpty(), Mutations::xattrInline),
                new Kind("xattr-shared", 3, m -> !m.sharedXattrs.isEmpty(), Mutations::xattrShared),
                new Kind("xattr-prefix", 2, m -> !m.prefixes.isEmpty(), Mutations::xattrPrefix),
                new Kind("chunk-table", 7, m -> !m.chunkTables.isEmpty(), Mutations::chunkTable),
                new Kind("device-table", 2, m -> m.deviceTable != null, Mutations::deviceTable),
                new Kind("z-index", 9, m -> !m.zIndexes.isEmpty(), Mutations::zIndex),
                new Kind("z-data", 6, m -> m.compressed && !m.dataBlocks.isEmpty(), Mutations::zData),
                new Kind("absurd", 6, m -> true, Mutations::absurd),
                new Kind("truncate", 5, m -> true, Mutations::truncate),
                new Kind("random", 3, m -> true, Mutations::random),
                new Kind("multi", 4, m -> true, Mutations::multi));

        /** Applies one mutation picked by weight among those that apply to the fixture; returns its kind. */
        static String apply(Mut mut) {
            Kind k = pick(mut, false);
            k.apply.accept(mut);
            return k.name;
        }

        private static Kind pick(Mut mut, boolean inner) {
            List<Kind> ok = KINDS.stream().filter(k -> k.applies.test(mut.m) && !(inner && k.name.equals("multi"))).toList();
            int total = ok.stream().mapToInt(Kind::weight).sum();
            int x = mut.r.nextInt(total);
            for (Kind k : ok) {
                x -= k.weight;
                if (x < 0) {
                    return k;
                }
            }
            throw new AssertionError();
        }

        static void multi(Mut mut) {
            int n = 2 + mut.r.nextInt(3);
            for (int i = 0; i < n; i++) {
                Kind k = pick(mut, true);
                mut.desc.add("[" + k.name + "]");
                k.apply.accept(mut);
            }
        }

        static void sbBits(Mut mut) {
            Region sb = new Region(SB, 128 + 16 * (mut.b[SB + 13] & 0xff));
            mut.scribble(sb, 1 + mut.r.nextInt(4), "superblock");
            mut.keepChecksum = mut.r.nextInt(4) == 0;
        }

        static void sbField(Mut mut) {
            SplittableRandom r = mut.r;
            Model m = mut.m;
            mut.keepChecksum = r.nextInt(8) == 0;
            long blocks = m.clean.length >> m.blkszbits;
            switch (r.nextInt(21)) {
                case 0 -> mut.put(SB + 8, 4, r.nextBoolean() ? r.nextInt() : Le.i32(mut.b, SB + 8) ^ (1 << r.nextInt(6)), "feature_compat");
                case 1 -> mut.put(SB + 12, 1, mut.pick(0, 8, 9, 10, 11, 12, 13, 14, 16, 17, 31, 64, 255), "blkszbits");
                case 2 -> mut.put(SB + 13, 1, mut.pick(1, 2, 3, 255, r.nextInt(256)), "sb_extslots");
                case 3 -> mut.put(SB + 14, 2, mut.pick(0, 1, 0xffff, r.nextInt(65536), m.rootNid + 1,
                        m.inodes.isEmpty() ? 0 : mut.any(m.inodes).nid()), "root_nid");
                case 4 -> mut.put(SB + 36, 4, mut.pick(0, 1, 0xffffffffL, blocks / 2), "blocks");
                case 5 -> mut.put(SB + 40, 4, mut.pick(1, 0xffffffffL, 0xfffffL, blocks - 1, blocks, r.nextInt(1 << 20)), "meta_blkaddr");
                case 6 -> mut.put(SB + 44, 4, mut.pick(0, 1, 0xffffffffL, blocks, r.nextInt((int) Math.max(1, blocks))), "xattr_blkaddr");
                case 7 -> {
                    int bit = r.nextInt(4) == 0 ? 1 << (9 + r.nextInt(23)) : 1 << r.nextInt(9);
                    mut.put(SB + 80, 4, Le.i32(mut.b, SB + 80) ^ bit, "feature_incompat");
                }
                case 8 -> mut.put(SB + 80, 4, r.nextBoolean() ? Features.INCOMPAT_SUPPORTED : r.nextInt() & Features.INCOMPAT_SUPPORTED,
                        "feature_incompat");
                case 9 -> mut.put(SB + 84, 2, mut.pick(0, 0xffff, 0x10, 0xf, r.nextInt(65536)), "available_compr_algs");
                case 10 -> {
                    mut.put(SB + 80, 4, Le.i32(mut.b, SB + 80) | Features.INCOMPAT_DEVICE_TABLE, "feature_incompat");
                    mut.put(SB + 86, 2, mut.pick(1, 2, 3, 4, 255, 0xffff), "extra_devices");
                    if (r.nextBoolean()) {
                        mut.put(SB + 88, 2, mut.pick(0, 1, 8, 32, 0xffff, r.nextInt(65536)), "devt_slotoff");
                    }
                }
                case 11 -> mut.put(SB + 88, 2, mut.pick(0, 0xffff, r.nextInt(65536)), "devt_slotoff");
                case 12 -> mut.put(SB + 90, 1, mut.pick(1, 3, 255), "dirblkbits");
                case 13 -> {
                    if (r.nextBoolean()) {
                        mut.put(SB + 80, 4, Le.i32(mut.b, SB + 80) | Features.INCOMPAT_XATTR_PREFIXES, "feature_incompat");
                    }
                    if (r.nextBoolean()) {
                        mut.put(SB + 8, 4, Le.i32(mut.b, SB + 8) ^ Features.COMPAT_PLAIN_XATTR_PFX, "feature_compat");
                    }
                    mut.put(SB + 91, 1, mut.pick(1, 2, 127, 128, 255, r.nextInt(256)), "xattr_prefix_count");
                    if (r.nextBoolean()) {
                        mut.put(SB + 92, 4, mut.pick(0, 1, 0xffffffffL, r.nextInt(m.clean.length / 4)), "xattr_prefix_start");
                    }
                }
                case 14 -> mut.put(SB + 92, 4, mut.pick(0, 0xffffffffL, r.nextInt(m.clean.length / 4), Le.u32(mut.b, SB + 92) + 1),
                        "xattr_prefix_start");
                case 15 -> mut.put(SB + 96, 8, mut.pick(1, m.rootNid, r.nextInt(1 << 16), 1L << 40, Long.MAX_VALUE, -1L,
                        m.inodes.isEmpty() ? 7 : mut.any(m.inodes).nid(), Le.i64(mut.b, SB + 96) + 1), "packed_nid");
                case 16 -> {
                    if (r.nextBoolean()) {
                        mut.put(SB + 8, 4, Le.i32(mut.b, SB + 8) | Features.COMPAT_ISHARE_XATTRS, "feature_compat");
                    }
                    mut.put(SB + 105, 1, mut.pick(0, 1, 255, r.nextInt(256)), "ishare_xattr_prefix_id");
                }
                case 17 -> {
                    if (r.nextBoolean()) {
                        mut.put(SB + 80, 4, Le.i32(mut.b, SB + 80) | Features.INCOMPAT_48BIT, "feature_incompat");
                    }
                    mut.put(SB + 112, 8, mut.pick(1, m.rootNid, 1L << 62, -1L, Superblock.METABOX_BIT | m.rootNid, r.nextLong()),
                            "rootnid_8b");
                }
                case 18 -> {
                    if (r.nextBoolean()) {
                        mut.put(SB + 80, 4, Le.i32(mut.b, SB + 80) | Features.INCOMPAT_METABOX, "feature_incompat");
                    }
                    if ((mut.b[SB + 13] & 0xff) < 1) {
                        mut.put(SB + 13, 1, 1, "sb_extslots");
                    }
                    mut.put(SB + 128, 8, mut.pick(0, 1, m.rootNid, r.nextInt(1 << 16), Long.MAX_VALUE, -1L,
                            m.inodes.isEmpty() ? 3 : mut.any(m.inodes).nid()), "metabox_nid");
                }
                case 19 -> mut.put(SB + 16 + 8 * r.nextInt(3), 8, r.nextLong(), "inos/epoch/fixed_nsec");
                default -> {
                    // the checksum itself
                    mut.put(SB + 4, 4, r.nextInt(), "checksum");
                    mut.keepChecksum = true;
                }
            }
        }

        static void inodeField(Mut mut) {
            SplittableRandom r = mut.r;
            InodeRef ino = mut.any(mut.m.inodes);
            long at = ino.iloc();
            boolean ext = ino.isize() == Inode.EXTENDED_SIZE;
            long bs = mut.m.blksz();
            String w = "inode " + ino.nid() + " ";
            switch (r.nextInt(ext ? 12 : 9)) {
                case 0 -> {
                    int format = (int) mut.get(at, 2);
                    mut.put(at, 2, switch (r.nextInt(5)) {
                        case 0 -> format ^ 1;
                        case 1 -> (format & ~0xe) | (r.nextInt(8) << 1);
                        case 2 -> format ^ 0x10;
                        case 3 -> 0xffff;
                        default -> r.nextInt(0x20);
                    }, w + "i_format");
                }
                case 1 -> mut.put(at + 2, 2, mut.pick(0, 1, 2, 3, 4, 0xffff, 0xfffe, r.nextInt(65536), mut.get(at + 2, 2) + 1,
                        mut.get(at + 2, 2) - 1), w + "i_xattr_icount");
                case 2 -> {
                    int type = (int) mut.pick(0, Inode.S_IFDIR, Inode.S_IFREG, Inode.S_IFLNK, Inode.S_IFCHR, Inode.S_IFBLK,
                            Inode.S_IFIFO, Inode.S_IFSOCK, 0170000, 0030000);
                    mut.put(at + 4, 2, r.nextInt(4) == 0 ? r.nextInt(65536) : (ino.mode() & 07777) | type, w + "i_mode");
                }
                case 3 -> mut.put(at + 6, 2, mut.pick(0, 1, 0xffff, r.nextInt(65536)), w + "i_nb");
                case 4, 5 -> {
                    if (ext) {
                        mut.put(at + 8, 8, mut.pick(1L << 62, Long.MAX_VALUE, -1L, 1L << 32, ino.size() + bs, ino.size() + 1,
                                ino.size() - 1, 0, r.nextLong(1L << 40), ino.size() * 3), w + "i_size");
                    } else {
                        mut.put(at + 8, 4, mut.pick(0, 1, 0xffffffffL, ino.size() + 1, Math.max(0, ino.size() - 1), ino.size() + bs,
                                ino.size() * 2 + 5000, r.nextInt(1 << 24), bs - 1, bs + 1), w + "i_size");
                    }
                }
                case 6, 7 -> {
                    long off = ext ? 16 : 16;
                    long cur = mut.get(at + off, 4);
                    mut.put(at + off, 4, mut.pick(0, 1, 0xffffffffL, 0xfffffffeL, cur + 1, cur - 1, cur ^ (1L << r.nextInt(32)),
                            mut.m.clean.length >> mut.m.blkszbits, r.nextInt(), cur & 0xffff ^ r.nextInt(128)), w + "i_u");
                }
                case 8 -> mut.put(at + 20, 4, r.nextInt(), w + "i_ino");
                case 9 -> mut.put(at + 24 + 4 * r.nextInt(2), 4, r.nextInt(), w + "uid/gid");
                case 10 -> mut.put(at + 40, 4, mut.pick(999_999_999, 1_000_000_000, 0xffffffffL, r.nextInt()), w + "i_mtime_nsec");
                default -> mut.put(at + 44, 4, mut.pick(0, 0xffffffffL, r.nextInt()), w + "i_nlink");
            }
        }

        static void inodeBytes(Mut mut) {
            InodeRef ino = mut.any(mut.m.inodes);
            mut.scribble(new Region(ino.iloc(), ino.isize()), 1 + mut.r.nextInt(4), "inode " + ino.nid());
        }

        static void dirent(Mut mut) {
            SplittableRandom r = mut.r;
            Model m = mut.m;
            DirentRef d = mut.any(m.dirents);
            String w = "dir " + d.dirNid() + " entry " + d.index() + " ";
            int nameoff = (int) mut.get(d.pos() + 8, 2);
            switch (r.nextInt(8)) {
                case 0 -> mut.put(d.pos(), 8, mut.pick(r.nextLong(), r.nextInt(1 << 20), d.childNid() + 1, d.childNid() - 1,
                        m.rootNid, d.dirNid(), Superblock.METABOX_BIT | d.childNid(), -1L, 1L << 57, 1L << 58,
                        mut.any(m.dirents).childNid()), w + "nid");
                case 1, 2 -> mut.put(d.pos() + 8, 2, mut.pick(0, 1, 11, 12, 13, 0xffff, 0xfff0, d.blockLen(), d.blockLen() - 1,
                        d.blockLen() + 1, nameoff + 1, nameoff - 1, nameoff + 200, (long) d.count() * Dirent.SIZE - 1,
                        r.nextInt(65536), r.nextInt(d.blockLen() + 1)), w + "nameoff");
                case 3 -> mut.put(d.pos() + 10, 1, r.nextInt(256), w + "file_type");
                case 4 -> {
                    long nameAt = d.blockStart() + nameoff;
                    mut.put(nameAt + (d.blockLen() > nameoff ? r.nextInt(Math.min(4, d.blockLen() - nameoff)) : 0), 1,
                            mut.pick(0, '/', '.', 0xff, 0x80, r.nextInt(256)), w + "name byte");
                }
                case 5 -> {
                    // the entry count, which the first nameoff implies
                    mut.put(d.blockStart() + 8, 2, mut.pick(Dirent.SIZE * (1 + r.nextInt(d.count() + 3)), d.count() * Dirent.SIZE + 1,
                            d.blockLen(), 0, Dirent.SIZE * 400L), w + "first nameoff");
                }
                case 6 -> {
                    // swap two entries: names out of order
                    int j = r.nextInt(d.count());
                    long a = d.pos(), b2 = d.blockStart() + (long) j * Dirent.SIZE;
                    if (mut.in(a, 12) && mut.in(b2, 12)) {
                        byte[] tmp = Arrays.copyOfRange(mut.b, (int) a, (int) a + 12);
                        System.arraycopy(mut.b, (int) b2, mut.b, (int) a, 12);
                        System.arraycopy(tmp, 0, mut.b, (int) b2, 12);
                        mut.desc.add(w + "swapped with entry " + j);
                    }
                }
                default -> mut.scribble(new Region(d.blockStart(), d.blockLen()), 1 + r.nextInt(6), w + "block");
            }
        }

        static void dirCycle(Mut mut) {
            DirentRef d = mut.any(mut.m.subdirs);
            long[] anc = d.ancestors();
            long target;
            String how;
            if (mut.r.nextInt(3) > 0) {
                target = anc[mut.r.nextInt(anc.length)];
                how = "an ancestor (cycle)";
            } else {
                target = mut.any(mut.m.subdirs).childNid();
                how = "another directory (hard-linked directory)";
            }
            mut.put(d.pos(), 8, target, "dir " + d.dirNid() + " subdir entry " + d.index() + " nid -> " + how);
        }

        static void nidPastEnd(Mut mut) {
            Model m = mut.m;
            DirentRef d = mut.any(m.dirents);
            long last = (m.clean.length - m.metaBase) / 32;
            mut.put(d.pos(), 8, mut.pick(last, last - 1, last + 1, last + mut.r.nextInt(100_000), (Long.MAX_VALUE >> 6) + 1,
                    Long.MAX_VALUE >> 6, Long.MAX_VALUE, Superblock.METABOX_BIT | last), "dir " + d.dirNid() + " entry " + d.index() + " nid");
        }

        static void xattrInline(Mut mut) {
            SplittableRandom r = mut.r;
            InodeRef ino = mut.any(mut.m.xattrInodes);
            long base = ino.iloc() + ino.isize();
            String w = "inode " + ino.nid() + " xattr ";
            int shared = (int) mut.get(base + 4, 1);
            switch (r.nextInt(7)) {
                case 0 -> mut.put(base, 4, mut.pick(0, 0xffffffffL, r.nextInt()), w + "h_name_filter");
                case 1 -> mut.put(base + 4, 1, mut.pick(255, 0, shared + 1, Math.max(0, shared - 1), r.nextInt(256),
                        (ino.xsize() - 12) / 4, (ino.xsize() - 12) / 4 + 1), w + "h_shared_count");
                case 2 -> {
                    if (shared > 0) {
                        long at = base + 12 + 4L * r.nextInt(shared);
                        long cur = mut.get(at, 4);
                        mut.put(at, 4, mut.pick(0xffffffffL, 0x3fffffffL, cur + 1, cur + 1000, r.nextInt(), 0), w + "shared id");
                    } else {
                        mut.put(base + 4, 1, 1 + r.nextInt(3), w + "h_shared_count");
                    }
                }
                default -> {
                    // an inline entry: e_name_len, e_name_index, e_value_size
                    long p = base + 12 + 4L * shared;
                    long end = base + ino.xsize();
                    List<Long> entries = new ArrayList<>();
                    while (p + 4 <= end && mut.in(p, 4)) {
                        entries.add(p);
                        p += (4 + mut.get(p, 1) + mut.get(p + 2, 2) + 3) & ~3L;
                    }
                    if (entries.isEmpty()) {
                        mut.scribble(new Region(base, ino.xsize()), 2, w + "body");
                        return;
                    }
                    long e = mut.any(entries);
                    switch (r.nextInt(4)) {
                        case 0 -> mut.put(e, 1, mut.pick(0, 1, 255, r.nextInt(256), mut.get(e, 1) + 4), w + "e_name_len");
                        case 1 -> mut.put(e + 1, 1, mut.pick(0, 5, 7, 0x80, 0x81, 0xff, r.nextInt(256)), w + "e_name_index");
                        case 2 -> mut.put(e + 2, 2, mut.pick(0, 0xffff, mut.get(e + 2, 2) + 1, mut.get(e + 2, 2) + 4,
                                r.nextInt(65536)), w + "e_value_size");
                        default -> mut.scribble(new Region(e, (int) Math.min(64, end - e)), 1 + r.nextInt(3), w + "entry");
                    }
                }
            }
        }

        static void xattrShared(Mut mut) {
            Region e = mut.any(mut.m.sharedXattrs);
            SplittableRandom r = mut.r;
            switch (r.nextInt(4)) {
                case 0 -> mut.put(e.start(), 1, mut.pick(0, 255, r.nextInt(256)), "shared xattr e_name_len");
                case 1 -> mut.put(e.start() + 1, 1, mut.pick(0, 7, 0x80, 0xff, r.nextInt(256)), "shared xattr e_name_index");
                case 2 -> mut.put(e.start() + 2, 2, mut.pick(0xffff, 0, r.nextInt(65536)), "shared xattr e_value_size");
                default -> mut.scribble(e, 1 + r.nextInt(3), "shared xattr");
            }
        }

        static void xattrPrefix(Mut mut) {
            Region p = mut.any(mut.m.prefixes);
            SplittableRandom r = mut.r;
            switch (r.nextInt(3)) {
                case 0 -> mut.put(p.start(), 2, mut.pick(0, 1, 2, 256, 257, 0xffff, r.nextInt(65536)), "long prefix length");
                case 1 -> mut.put(p.start() + 2, 1, mut.pick(0, 5, 7, 0x80, 0xff, r.nextInt(256)), "long prefix base index");
                default -> mut.scribble(p, 1 + r.nextInt(3), "long prefix");
            }
        }

        static void chunkTable(Mut mut) {
            SplittableRandom r = mut.r;
            Table t = mut.any(mut.m.chunkTables);
            long e = t.start() + (long) t.unit() * r.nextInt(t.count());
            long blocks = mut.m.clean.length >> mut.m.blkszbits;
            if (t.unit() == 4) {
                mut.put(e, 4, mut.pick(0xffffffffL, 0xfffffffeL, 0, blocks, blocks - 1, r.nextInt(), mut.get(e, 4) + 1), "block map entry");
            } else {
                switch (r.nextInt(4)) {
                    case 0 -> mut.put(e, 2, mut.pick(0xffff, 1, r.nextInt(65536)), "chunk index startblk_hi");
                    case 1 -> mut.put(e + 2, 2, mut.pick(1, 2, 3, 0xffff, r.nextInt(65536)), "chunk index device_id");
                    case 2 -> mut.put(e + 4, 4, mut.pick(0xffffffffL, 0xfffffffeL, blocks, r.nextInt(), mut.get(e + 4, 4) + 1),
                            "chunk index startblk_lo");
                    default -> mut.scribble(new Region(e, 8), 1 + r.nextInt(3), "chunk index");
                }
            }
        }

        static void deviceTable(Mut mut) {
            SplittableRandom r = mut.r;
            Region t = mut.m.deviceTable;
            long slot = t.start() + DeviceSlot.SIZE * (long) r.nextInt(Math.max(1, t.len() / DeviceSlot.SIZE));
            switch (r.nextInt(4)) {
                case 0 -> mut.put(slot + 64, 4, mut.pick(0, 1, 0xffffffffL, r.nextInt()), "device blocks");
                case 1 -> mut.put(slot + 68, 4, mut.pick(0, 1, 0xffffffffL, r.nextInt(), mut.m.clean.length >> mut.m.blkszbits),
                        "device uniaddr");
                case 2 -> mut.put(slot + 72, 4, r.nextInt(), "device blocks_hi/uniaddr_hi");
                default -> mut.scribble(new Region(slot, DeviceSlot.SIZE), 2, "device slot");
            }
        }

        static void zIndex(Mut mut) {
            SplittableRandom r = mut.r;
            Region z = mut.any(mut.m.zIndexes);
            long h = (z.start() + 7) & ~7L; // z_erofs_map_header
            switch (r.nextInt(8)) {
                case 0 -> mut.put(h, 4, mut.pick(0, 0xffffffffL, r.nextInt(), 0x80000000L), "z h_fragmentoff");
                case 1 -> mut.put(h + 2, 2, mut.pick(0xffff, 1, 4096, 4097, r.nextInt(65536)), "z h_idata_size");
                case 2 -> mut.put(h + 4, 2, mut.pick(0xffff, r.nextInt(65536), mut.get(h + 4, 2) ^ (1L << r.nextInt(16))), "z h_advise");
                case 3 -> mut.put(h + 6, 1, mut.pick(0xff, 0x11, 0x04, 0x0f, 0x40, r.nextInt(256)), "z h_algorithmtype");
                case 4 -> mut.put(h + 7, 1, mut.pick(0xff, 0x0f, 0x08, 0x80, r.nextInt(256), mut.get(h + 7, 1) + 1), "z h_clusterbits");
                default -> {
                    // lcluster indexes after the header
                    int len = (int) Math.min(z.len() - (h + 8 - z.start()), 4096);
                    if (len <= 0) {
                        mut.scribble(z, 2, "z index");
                        return;
                    }
                    long e = h + 8 + (r.nextInt(len) & ~1);
                    switch (r.nextInt(4)) {
                        case 0 -> mut.put(e, 2, mut.pick(0xffff, 0, 1, 2, 3, 0x8000, r.nextInt(65536)), "z index u16");
                        case 1 -> mut.put(e & ~3L, 4, mut.pick(0xffffffffL, 0, r.nextInt(), mut.m.clean.length >> mut.m.blkszbits),
                                "z index u32");
                        default -> mut.scribble(new Region(e, Math.min(16, len)), 1 + r.nextInt(4), "z index");
                    }
                }
            }
        }

        static void zData(Mut mut) {
            SplittableRandom r = mut.r;
            long blk = mut.any(mut.m.dataBlocks);
            int bs = mut.m.blksz();
            long start = blk << mut.m.blkszbits;
            switch (r.nextInt(5)) {
                case 0 -> mut.scribble(new Region(start, bs), 1 + r.nextInt(8), "data block " + blk);
                case 1 -> {
                    int off = r.nextInt(bs), n = 1 + r.nextInt(bs - off);
                    Arrays.fill(mut.b, (int) (start + off), (int) Math.min(mut.b.length, start + off + n), (byte) 0);
                    mut.desc.add("data block " + blk + " zeroed [" + off + ", +" + n + ")");
                }
                case 2 -> {
                    int off = r.nextInt(bs), n = 1 + r.nextInt(Math.min(512, bs - off));
                    mut.randomBytes(start + off, n, "data block " + blk);
                }
                case 3 -> {
                    // the first bytes, where headers of compressed streams live
                    mut.scribble(new Region(start, 16), 1 + r.nextInt(3), "data block " + blk + " head");
                }
                default -> {
                    int off = r.nextInt(bs), n = 1 + r.nextInt(bs - off);
                    Arrays.fill(mut.b, (int) (start + off), (int) Math.min(mut.b.length, start + off + n), (byte) 0xff);
                    mut.desc.add("data block " + blk + " 0xff [" + off + ", +" + n + ")");
                }
            }
        }

        /** Absurd sizes and counts in the places that size allocations and loops. */
        static void absurd(Mut mut) {
            SplittableRandom r = mut.r;
            Model m = mut.m;
            switch (r.nextInt(8)) {
                case 0 -> {
                    List<InodeRef> ext = m.inodes.stream().filter(i -> i.isize() == Inode.EXTENDED_SIZE).toList();
                    if (ext.isEmpty()) {
                        InodeRef i = m.inodes.isEmpty() ? null : mut.any(m.inodes);
                        if (i != null) {
                            mut.put(i.iloc() + 8, 4, 0xffffffffL, "inode " + i.nid() + " i_size");
                        }
                    } else {
                        InodeRef i = mut.any(ext);
                        mut.put(i.iloc() + 8, 8, mut.pick(1L << 62, (1L << 62) + 1, Long.MAX_VALUE, 1L << 48), "inode " + i.nid() + " i_size");
                    }
                }
                case 1 -> {
                    if (!m.xattrInodes.isEmpty()) {
                        InodeRef i = mut.any(m.xattrInodes);
                        mut.put(i.iloc() + i.isize() + 4, 1, 255, "inode " + i.nid() + " h_shared_count");
                    } else {
                        mut.put(Superblock.OFFSET + 91, 1, 255, "xattr_prefix_count");
                    }
                }
                case 2 -> {
                    if (!m.dirents.isEmpty()) {
                        DirentRef d = mut.any(m.dirents);
                        mut.put(d.pos() + 8, 2, 0xffff, "dir " + d.dirNid() + " entry " + d.index() + " nameoff");
                    } else {
                        mut.put(SB + 91, 1, 255, "xattr_prefix_count");
                    }
                }
                case 3 -> {
                    mut.put(SB + 80, 4, Le.i32(mut.b, SB + 80) | Features.INCOMPAT_DEVICE_TABLE, "feature_incompat");
                    mut.put(SB + 86, 2, mut.pick(4, 0xffff, 0x8000), "extra_devices");
                }
                case 4 -> {
                    mut.put(SB + 91, 1, 255, "xattr_prefix_count");
                    mut.put(SB + 80, 4, Le.i32(mut.b, SB + 80) | Features.INCOMPAT_XATTR_PREFIXES, "feature_incompat");
                }
                case 5 -> {
                    if (!m.inodes.isEmpty()) {
                        InodeRef i = mut.any(m.inodes);
                        mut.put(i.iloc() + 2, 2, 0xffff, "inode " + i.nid() + " i_xattr_icount");
                    }
                }
                case 6 -> mut.put(SB + 13, 1, 255, "sb_extslots");
                default -> {
                    // a symlink or directory claiming a huge size
                    List<InodeRef> l = m.inodes.stream().filter(i -> (i.mode() & Inode.S_IFMT) == Inode.S_IFLNK || i.dir()).toList();
                    if (!l.isEmpty()) {
                        InodeRef i = mut.any(l);
                        if (i.isize() == Inode.EXTENDED_SIZE) {
                            mut.put(i.iloc() + 8, 8, mut.pick(1L << 62, 4096, 4095, 65536, 1L << 31), "inode " + i.nid() + " i_size");
                        } else {
                            mut.put(i.iloc() + 8, 4, mut.pick(0xffffffffL, 4096, 4095, 65536, 1L << 31), "inode " + i.nid() + " i_size");
                        }
                    }
                }
            }
        }

        static void truncate(Mut mut) {
            SplittableRandom r = mut.r;
            Model m = mut.m;
            int len = m.clean.length;
            int to = switch (r.nextInt(6)) {
                case 0 -> r.nextInt(SB + 300);
                case 1 -> SB + 128 + r.nextInt(m.blksz());
                case 2 -> m.dirBlocks.isEmpty() ? r.nextInt(len) : (int) Math.min(len - 1, mut.any(m.dirBlocks).start() + r.nextInt(64));
                case 3 -> len - 1 - r.nextInt(Math.min(len - 1, 3 * m.blksz()));
                case 4 -> m.inodes.isEmpty() ? r.nextInt(len) : (int) Math.min(len - 1, mut.any(m.inodes).iloc() + r.nextInt(64));
                default -> r.nextInt(len);
            };
            mut.truncateTo = to;
            mut.desc.add("truncated to " + to + " of " + len + " bytes");
        }

        static void random(Mut mut) {
            SplittableRandom r = mut.r;
            int n = 1 + r.nextInt(16);
            for (int i = 0; i < n; i++) {
                if (r.nextBoolean()) {
                    mut.flip(r.nextInt(mut.b.length), "anywhere");
                } else {
                    mut.randomBytes(r.nextInt(mut.b.length), 1 + r.nextInt(8), "anywhere");
                }
            }
        }
    }

    // ==================================================================== named hostile cases

    private Path write(String name, byte[] b) throws IOException {
        Path p = tmp.resolve(name);
        Files.write(p, b);
        return p;
    }

    private static ErofsException refusedByOpen(Path p) {
        return assertThrows(ErofsException.class, () -> ErofsImage.open(p).close());
    }

    /** Reads the whole image with the walker of the generated test; returns the ErofsExceptions met. */
    private static List<ErofsException> readAll(Path p, List<Path> devices) throws IOException {
        List<ErofsException> seen = new ArrayList<>();
        Walk w = new Walk(new SplittableRandom(1)) {
            @Override
            void rejected(ErofsException e) {
                super.rejected(e);
                seen.add(e);
            }
        };
        w.openAndWalk(p, devices);
        return seen;
    }

    private static DirentRef direntOf(Model m, String dirPath, String name) throws IOException {
        try (ErofsImage img = ErofsImage.open(m.path, m.devices)) {
            Inode dir = img.resolve(dirPath).orElseThrow();
            long child = img.resolve(dirPath + "/" + name).orElseThrow().nid();
            return m.dirents.stream().filter(d -> d.dirNid() == dir.nid() && d.childNid() == child && !d.dot()).findFirst().orElseThrow();
        }
    }

    private static Inode inodeOf(Model m, String path) throws IOException {
        try (ErofsImage img = ErofsImage.open(m.path, m.devices)) {
            return img.resolve(path).orElseThrow();
        }
    }

    @Test
    void directoryCycleIsRefusedByTheWalker() throws Exception {
        Model m = Model.of("plain");
        DirentRef t03 = direntOf(m, "/srv/tower/t01/t02", "t03");
        long t01 = inodeOf(m, "/srv/tower/t01").nid();
        byte[] b = m.clean.clone();
        for (int i = 0; i < 8; i++) {
            b[(int) t03.pos() + i] = (byte) (t01 >>> (8 * i));
        }
        fixChecksum(b);
        Path p = write("cycle.erofs", b);
        try (ErofsImage img = ErofsImage.open(p)) {
            ErofsException e = assertThrows(ErofsException.class, () -> new TreeWalker(img).walk((path, ino) -> {
            }));
            assertEquals("inode " + t01 + " at offset " + (m.metaBase + 32 * t01) + ": directory reached twice (cycle in the tree)",
                    e.getMessage());
            // a path through the cycle is finite, so it still resolves
            long t02 = img.resolve("/srv/tower/t01/t02").orElseThrow().nid();
            assertEquals(t01, img.resolve("/srv/tower/t01/t02/t03").orElseThrow().nid());
            assertEquals(t02, img.resolve("/srv/tower/t01/t02/t03/t02/t03/t02").orElseThrow().nid());
        }
    }

    @Test
    void unknownIncompatBitIsRefusedByName() throws Exception {
        for (int bit : new int[] {0x200, 0x4000, 0x80000000}) {
            byte[] b = Model.of("plain").clean.clone();
            int o = Superblock.OFFSET + 80;
            int v = Le.i32(b, o) | bit;
            for (int i = 0; i < 4; i++) {
                b[o + i] = (byte) (v >>> (8 * i));
            }
            fixChecksum(b);
            ErofsException e = refusedByOpen(write("incompat.erofs", b));
            assertEquals("superblock at offset 1104: unknown incompatible feature bit(s) 0x" + Integer.toHexString(bit)
                    + " [unknown-incompat-0x" + Integer.toHexString(bit) + "]: this image needs a newer reader", e.getMessage());
        }
    }

    @Test
    void badSuperblockChecksumIsRefused() throws Exception {
        for (String name : List.of("plain", "b512")) {
            byte[] b = Model.of(name).clean.clone();
            b[Superblock.OFFSET + 64] ^= 0x20; // volume name, covered by the checksum
            ErofsException e = refusedByOpen(write("csum.erofs", b));
            assertTrue(e.getMessage().matches("superblock at offset 1028: checksum mismatch: stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}"),
                    e.getMessage());
            fixChecksum(b);
            ErofsImage.open(write("csum-fixed.erofs", b)).close();
        }
    }

    @Test
    void truncatedImagesAreRefusedWithSizes() throws Exception {
        byte[] clean = Model.of("plain").clean;
        ErofsException e = refusedByOpen(write("t1.erofs", Arrays.copyOf(clean, 1000)));
        assertEquals("superblock at offset 1024: image is only 1000 bytes, too small for an EROFS superblock", e.getMessage());
        e = refusedByOpen(write("t2.erofs", Arrays.copyOf(clean, 2000)));
        assertTrue(e.getMessage().startsWith("superblock at offset 1024: image too short for its superblock checksum area"), e.getMessage());
        // cut anywhere past the superblock: refused at once with both sizes, not EIO later on the lost part
        int blocks = clean.length / 4096;
        for (int cut : new int[] {5000, clean.length / 2, clean.length - 4096}) {
            Path p = write("t3-" + cut + ".erofs", Arrays.copyOf(clean, cut));
            e = refusedByOpen(p);
            assertEquals("superblock at offset 1060: " + p + " is truncated: it has " + cut + " bytes but the superblock gives it "
                    + blocks + " blocks of 4096 bytes (" + clean.length + " bytes)", e.getMessage());
        }
        // a partial last block is whole enough (a tar under a tar-index image ends where the tar ends)
        ErofsImage.open(write("t4.erofs", Arrays.copyOf(clean, clean.length - 4095))).close();
    }

    @Test
    void truncatedExtraDeviceIsRefusedWithSizes() throws Exception {
        Model m = Model.of("blobdev");
        byte[] blob = Files.readAllBytes(m.devices.getFirst());
        Path cut = write("cut.blob", Arrays.copyOf(blob, blob.length / 2));
        ErofsException e = assertThrows(ErofsException.class, () -> ErofsImage.open(m.path, List.of(cut)).close());
        assertEquals("device table slot 1 at offset " + e.offset() + ": " + cut + " is truncated: it has " + blob.length / 2
                + " bytes but the device table gives it " + blob.length / 4096 + " blocks of 4096 bytes (" + blob.length + " bytes)",
                e.getMessage());
        ErofsImage.open(m.path, m.devices).close(); // the whole blob opens
    }

    @Test
    void absurdSizeOnPlainFileIsRefused() throws Exception {
        Model m = Model.of("extended");
        Inode f = inodeOf(m, "/srv/sizes/noise/b65536");
        assertEquals(Inode.FLAT_PLAIN, f.layout());
        for (long size : new long[] {1L << 62, Long.MAX_VALUE, 1L << 40}) {
            byte[] b = m.clean.clone();
            boolean overflows = size > Long.MAX_VALUE - (f.startBlk() << 12);
            for (int i = 0; i < 8; i++) {
                b[(int) f.iloc() + 8 + i] = (byte) (size >>> (8 * i));
            }
            fixChecksum(b);
            try (ErofsImage img = ErofsImage.open(write("size.erofs", b))) {
                Inode g = img.resolve("/srv/sizes/noise/b65536").orElseThrow();
                assertEquals(size, g.size());
                if (overflows) {
                    ErofsException e = assertThrows(ErofsException.class, () -> img.openData(g));
                    assertEquals(g.label() + " at offset " + g.iloc() + ": start block " + g.startBlk() + " out of range", e.getMessage());
                    continue;
                }
                // like the kernel: the inode is fine to stat, and reads fail where the device ends
                FileData d = img.openData(g);
                byte[] buf = new byte[16];
                assertEquals(16, d.read(0, buf, 0, 16));
                ErofsException e = assertThrows(ErofsException.class, () -> d.read(size - 16, buf, 0, 16));
                assertEquals(g.label() + " data at offset " + ((g.startBlk() << 12) + size - 16) + ": 16 bytes needed but "
                        + img.primarySize() + " bytes", e.getMessage().replaceFirst("but .* has only ", "but "));
            }
        }
        // the sign bit set: not a size at all
        byte[] b = m.clean.clone();
        b[(int) f.iloc() + 15] = (byte) 0x80;
        fixChecksum(b);
        try (ErofsImage img = ErofsImage.open(write("neg.erofs", b))) {
            ErofsException e = assertThrows(ErofsException.class, () -> img.resolve("/srv/sizes/noise/b65536"));
            assertTrue(e.getMessage().contains("negative size"), e.getMessage());
        }
    }

    @Test
    void hugeHoleDirectoryIsReadNotSilentlyEmpty() throws Exception {
        Model m = Model.of("extended");
        Inode dir = inodeOf(m, "/srv/sizes");
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(m.clean.clone()).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int at = (int) dir.iloc();
        bb.putShort(at, (short) 1); // extended, FLAT_PLAIN
        bb.putShort(at + 6, (short) 0xffff); // start block: all ones, no data blocks
        bb.putInt(at + 16, -1);
        bb.putLong(at + 8, Long.MAX_VALUE); // (size + blksz - 1) overflows
        fixChecksum(bb.array());
        try (ErofsImage img = ErofsImage.open(write("holedir.erofs", bb.array()))) {
            Inode d = img.resolve("/srv/sizes").orElseThrow();
            assertEquals(Inode.NULL_ADDR, d.startBlk());
            ErofsException e = assertThrows(ErofsException.class, () -> img.directory(d).readdir(0, x -> true));
            assertEquals(d.label() + " directory block 0 at offset 8: bad first name offset 0", e.getMessage());
            e = assertThrows(ErofsException.class, () -> img.directory(d).lookup("text".getBytes(StandardCharsets.US_ASCII)));
            assertTrue(e.getMessage().endsWith(": bad first name offset 0"), e.getMessage());
        }
    }

    @Test
    void sharedXattrCountBeyondTheBodyIsRefused() throws Exception {
        Model m = Model.of("plain");
        InodeRef x = m.xattrInodes.getFirst();
        byte[] b = m.clean.clone();
        b[(int) (x.iloc() + x.isize() + 4)] = (byte) 255;
        fixChecksum(b);
        try (ErofsImage img = ErofsImage.open(write("shared.erofs", b))) {
            Inode i = img.inode(x.nid());
            ErofsException e = assertThrows(ErofsException.class, () -> img.xattrs().list(i));
            assertTrue(e.getMessage().endsWith("255 shared xattr ids do not fit in " + x.xsize() + " bytes"), e.getMessage());
        }
    }

    @Test
    void nameoffPastTheBlockIsRefused() throws Exception {
        Model m = Model.of("plain");
        DirentRef d = direntOf(m, "/srv/names", "q");
        byte[] b = m.clean.clone();
        b[(int) d.pos() + 8] = (byte) 0xff;
        b[(int) d.pos() + 9] = (byte) 0xff;
        fixChecksum(b);
        try (ErofsImage img = ErofsImage.open(write("nameoff.erofs", b))) {
            Inode dir = img.resolve("/srv/names").orElseThrow();
            ErofsException e = assertThrows(ErofsException.class, () -> img.directory(dir).readdir(0, x -> true));
            assertTrue(e.getMessage().contains("bad name bounds"), e.getMessage());
        }
    }

    @Test
    void nidPastTheEndIsRefused() throws Exception {
        Model m = Model.of("plain");
        DirentRef d = direntOf(m, "/srv/names", "q");
        long nid = (m.clean.length - m.metaBase) / 32 + 5;
        byte[] b = m.clean.clone();
        for (int i = 0; i < 8; i++) {
            b[(int) d.pos() + i] = (byte) (nid >>> (8 * i));
        }
        fixChecksum(b);
        try (ErofsImage img = ErofsImage.open(write("nid.erofs", b))) {
            ErofsException e = assertThrows(ErofsException.class, () -> img.resolve("/srv/names/q"));
            assertTrue(e.getMessage().startsWith("inode " + nid + " at offset "), e.getMessage());
            assertThrows(ErofsException.class, () -> img.inode(Long.MAX_VALUE));
            assertThrows(ErofsException.class, () -> img.inode(-1L)); // bit 63: the metabox, which this image has not
        }
    }

    /**
     * A chain of {@code depth} nested directories, each a 64-byte slot (compact inode plus its
     * one inline dirent "d"), ending in a fifo: a small image whose tree is deeper than any
     * recursive walk's stack.
     */
    static byte[] deepChain(int depth) {
        int bs = 4096;
        long nids = 2L * depth + 2;
        byte[] b = new byte[(int) (bs + ((nids * 32 + bs - 1) / bs) * bs)];
        java.nio.ByteBuffer bb = java.nio.ByteBuffer.wrap(b).order(java.nio.ByteOrder.LITTLE_ENDIAN);
        int o = Superblock.OFFSET;
        bb.putInt(o, Superblock.MAGIC);
        b[o + 12] = 12; // 4 KiB blocks
        bb.putShort(o + 14, (short) 0); // root nid
        bb.putLong(o + 16, depth + 1L); // inos
        bb.putInt(o + 36, b.length / bs);
        bb.putInt(o + 40, 1); // meta_blkaddr
        for (int k = 0; k <= depth; k++) {
            int at = bs + 64 * k;
            boolean fifo = k == depth;
            bb.putShort(at, (short) (fifo ? 0 : Inode.FLAT_INLINE << 1));
            bb.putShort(at + 4, (short) (fifo ? Inode.S_IFIFO | 0644 : Inode.S_IFDIR | 0755));
            bb.putShort(at + 6, (short) (fifo ? 1 : 2));
            bb.putInt(at + 8, fifo ? 0 : Dirent.SIZE + 1);
            bb.putInt(at + 20, k + 1);
            if (!fifo) {
                bb.putLong(at + 32, 2L * (k + 1)); // dirent "d" -> next slot
                bb.putShort(at + 40, (short) Dirent.SIZE);
                b[at + 42] = (byte) (k + 1 == depth ? Dirent.FT_FIFO : Dirent.FT_DIR);
                b[at + 44] = 'd';
            }
        }
        return b;
    }

    @Test
    void deepDirectoryChainIsWalkedWithoutRecursion() throws Exception {
        int depth = 20_000; // "/d/d/...": 2 bytes a level, so paths pass PATH_MAX at level 2048
        Path p = write("deep.erofs", deepChain(depth));
        try (ErofsImage img = ErofsImage.open(p)) {
            int[] n = {0};
            int[] maxLen = {0};
            List<String> errors = new ArrayList<>();
            new TreeWalker(img, (path, e) -> errors.add(e.getMessage())).walk((path, ino) -> {
                n[0]++;
                maxLen[0] = Math.max(maxLen[0], path.length);
            });
            assertEquals(TreeWalker.MAX_PATH / 2 + 1, n[0]);
            assertEquals(TreeWalker.MAX_PATH - 1, maxLen[0]);
            assertEquals(List.of("inode " + 2 * (TreeWalker.MAX_PATH / 2) + " at offset " + (4096 + 64 * (TreeWalker.MAX_PATH / 2))
                    + ": path of 4096 bytes exceeds PATH_MAX (4096)"), errors);
            ErofsException e = assertThrows(ErofsException.class, () -> new TreeWalker(img).walk((path, ino) -> {
            }));
            assertEquals(errors.getFirst(), e.getMessage());
            // lookups and the inode-by-inode walk go all the way down
            Inode cur = img.root();
            for (int i = 0; i < depth; i++) {
                cur = img.lookup(cur, new byte[] {'d'}).orElseThrow();
            }
            assertEquals(Inode.S_IFIFO, cur.type());
        }
        List<ErofsException> errs = readAll(p, List.of());
        assertEquals(1, errs.size(), errs.toString());
    }

    @Test
    void seedsAreReproducible() throws Exception {
        Model m = Model.of("plain");
        for (int id = 0; id < 50; id++) {
            Case a = Case.make(DEFAULT_SEED, id, m), b = Case.make(DEFAULT_SEED, id, m);
            assertEquals(a.desc(), b.desc());
            assertTrue(Arrays.equals(a.bytes(), b.bytes()));
        }
    }
}
