package dev.csierofs.fs;

import dev.csierofs.cas.ContentStore;
import dev.csierofs.cas.Digest;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shared page cache through real FUSE mounts: two different images (uncompressed and lz4hc)
 * holding the same files, and one image mounted twice. The kernel's own EROFS mount of each image
 * is the oracle for the bytes.
 */
class ContentSharingTest {
    private static final long MIB = 1 << 20;
    private static Path work;
    private static Path imageA; // plain
    private static Path imageB; // lz4hc, other layout, some other files
    /** Distinct non-empty contents across both images. */
    private static int distinctContents;

    @BeforeAll
    static void buildImages() throws Exception {
        work = Files.createTempDirectory("sharing-test");
        byte[] common = random(1, 300_000);
        byte[] big = random(2, 12 * (int) MIB); // above the sync limit used below: stored in the background
        Path a = work.resolve("a");
        write(a.resolve("lib/libz.so.1"), Files.readAllBytes(Path.of("/usr/lib/x86_64-linux-gnu/libz.so.1")));
        write(a.resolve("bin/sleep"), Files.readAllBytes(Path.of("/bin/sleep")));
        write(a.resolve("data/common.bin"), common);
        write(a.resolve("data/big.bin"), big);
        write(a.resolve("a-only.txt"), "only in a\n".getBytes(StandardCharsets.UTF_8));
        write(a.resolve("small.txt"), "hello\n".getBytes(StandardCharsets.UTF_8));
        write(a.resolve("empty"), new byte[0]);
        Path b = work.resolve("b");
        write(b.resolve("usr/lib/libz.so.1"), Files.readAllBytes(Path.of("/usr/lib/x86_64-linux-gnu/libz.so.1")));
        write(b.resolve("usr/bin/sleep"), Files.readAllBytes(Path.of("/bin/sleep")));
        write(b.resolve("other/common.bin"), common);
        write(b.resolve("other/big.bin"), big);
        write(b.resolve("b-only.txt"), "only in b\n".getBytes(StandardCharsets.UTF_8));
        write(b.resolve("hello.txt"), "hello\n".getBytes(StandardCharsets.UTF_8));
        for (String x : List.of("a/bin/sleep", "b/usr/bin/sleep")) {
            work.resolve(x).toFile().setExecutable(true, false);
        }
        distinctContents = 7; // libz, sleep, common, big, a-only, b-only, hello
        imageA = work.resolve("a.erofs");
        imageB = work.resolve("b.erofs");
        run("mkfs.erofs", "--quiet", imageA.toString(), a.toString());
        run("mkfs.erofs", "--quiet", "-zlz4hc", imageB.toString(), b.toString());
    }

    @AfterAll
    static void cleanUp() throws Exception {
        run("rm", "-rf", work.toString());
    }

    private static byte[] random(int seed, int size) {
        byte[] x = new byte[size];
        new Random(seed).nextBytes(x);
        return x;
    }

    private static void write(Path p, byte[] content) throws IOException {
        Files.createDirectories(p.getParent());
        Files.write(p, content);
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
        return out;
    }

    /** Path to SHA-256 of every regular file under {@code root}, read through the filesystem. */
    private static Map<String, String> hashes(Path root) throws Exception {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                out.put(root.relativize(p).toString(), HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(p))));
            }
        }
        return out;
    }

    /** What the kernel's EROFS shows for {@code image}. */
    private static Map<String, String> kernelView(Path image, Path mnt) throws Exception {
        Files.createDirectories(mnt);
        run("mount", "-t", "erofs", "-o", "ro", image.toString(), mnt.toString());
        try {
            return hashes(mnt);
        } finally {
            run("umount", mnt.toString());
        }
    }

    private static void dropCaches() throws Exception {
        run("sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches");
    }

    private record Mounted(Path dir, ErofsImage image, ErofsFilesystem fs, FuseSession session,
                           java.util.concurrent.atomic.AtomicBoolean closed)
            implements AutoCloseable {
        long reads() {
            return session.requestCounts().getOrDefault("READ", 0L);
        }

        @Override
        public void close() throws Exception {
            if (closed.compareAndSet(false, true)) {
                session.close();
                image.close();
            }
        }
    }

    private static Mounted mount(ContentSharing sharing, Path image, Path dir) throws Exception {
        Files.createDirectories(dir);
        ErofsImage img = ErofsImage.open(image);
        ErofsFilesystem fs = new ErofsFilesystem(img, sharing, "test:" + image);
        return new Mounted(dir, img, fs, FuseSession.mount(fs, dir, "erofs", image.toString(), 2, InitNegotiation.Options.defaults()),
                new java.util.concurrent.atomic.AtomicBoolean());
    }

    private static ContentSharing.Options options() {
        return new ContentSharing.Options(true, 8 * MIB, 64 * MIB);
    }

    /** Lines logged by the sharing and store classes while {@code body} runs. */
    private static List<String> logged(ThrowingRunnable body) throws Exception {
        List<String> lines = java.util.Collections.synchronizedList(new ArrayList<>());
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                lines.add(r.getMessage());
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        List<Logger> loggers = List.of(Logger.getLogger(ContentSharing.class.getName()), Logger.getLogger(ContentStore.class.getName()),
                Logger.getLogger(ErofsFilesystem.class.getName()));
        loggers.forEach(l -> l.addHandler(h));
        try {
            body.run();
        } finally {
            loggers.forEach(l -> l.removeHandler(h));
        }
        return lines;
    }

    private interface ThrowingRunnable {
        void run() throws Exception;
    }

    @Test
    void identicalContentIsStoredOnceAndEveryMountPassesThroughToIt(@TempDir Path tmp) throws Exception {
        Map<String, String> kernelA = kernelView(imageA, tmp.resolve("ka"));
        Map<String, String> kernelB = kernelView(imageB, tmp.resolve("kb"));
        try (ContentSharing sharing = ContentSharing.withStore(tmp.resolve("store"), 1L << 30, options());
             Mounted a1 = mount(sharing, imageA, tmp.resolve("a1"));
             Mounted a2 = mount(sharing, imageA, tmp.resolve("a2"));
             Mounted b1 = mount(sharing, imageB, tmp.resolve("b1"))) {
            assertEquals(kernelA, hashes(a1.dir()), "mount A reads as the kernel's mount of A");
            assertEquals(kernelA, hashes(a2.dir()), "the same image mounted again");
            assertEquals(kernelB, hashes(b1.dir()), "mount B reads as the kernel's mount of B");
            sharing.awaitBackground(); // the 12 MiB file was served cached once and stored meanwhile

            ContentStore store = sharing.store();
            assertEquals(distinctContents, store.fileCount(), "each distinct content stored once");
            for (String h : kernelA.values()) {
                if (!h.equals(HexFormat.of().formatHex(Digest.sha256().digest(new byte[0])))) {
                    Path f = tmp.resolve("store/sha256").resolve(h.substring(0, 2)).resolve(h);
                    assertTrue(Files.isRegularFile(f), "store file named by content: " + f);
                }
            }

            // from now on every non-empty file passes through: no READ reaches the daemon, even with cold caches
            dropCaches();
            long before = a1.reads() + a2.reads() + b1.reads();
            assertEquals(kernelA, hashes(a1.dir()));
            assertEquals(kernelA, hashes(a2.dir()));
            assertEquals(kernelB, hashes(b1.dir()));
            assertEquals(before, a1.reads() + a2.reads() + b1.reads(), "READs reached the daemon for stored content");
            ContentSharing.Stats st = sharing.stats();
            assertTrue(st.passthroughOpens() >= 3L * distinctContents - 3, st.describe());
            assertTrue(st.sharedBytes() > 12 * MIB, "content found already stored: " + st.describe());
            assertTrue(store.heldCount() > 0, "closed files stay ready for passthrough (idle backing ids)");
            a1.close();
            a2.close();
            b1.close();
            assertEquals(0, store.heldCount(), "unmounting lets every store file go");
        }
    }

    /**
     * Idle passthrough inodes are one list for the whole daemon: its bound holds across mounts,
     * the least recently released go first whichever mount they belong to, and an inode pushed
     * out lets its store file go.
     */
    @Test
    void theIdleListIsBoundedForTheWholeDaemon(@TempDir Path tmp) throws Exception {
        try (ContentSharing sharing = ContentSharing.withStore(tmp.resolve("store"), 1L << 30, options());
             Mounted a = mount(sharing, imageA, tmp.resolve("a"));
             Mounted b = mount(sharing, imageB, tmp.resolve("b"))) {
            assertTrue(a.session().passthrough() && b.session().passthrough(), "this kernel offers passthrough");
            sharing.idleInodes().max(3);
            for (Mounted m : List.of(a, b)) {
                hashes(m.dir()); // stores what is not stored yet
                sharing.awaitBackground();
                hashes(m.dir()); // every non-empty file passes through, and is kept ready after its release
                awaitTrue(() -> m.session().openHandles() == 0, "every RELEASE of " + m.dir() + " arrived"); // they are async
                assertEquals(3, m.fs().idleCount(), m.dir() + "'s inodes kept idle");
            }
            assertEquals(0, a.fs().idleCount(), "b's releases, the most recent, pushed out a's");
            assertEquals(3, sharing.idleInodes().count(null));
            assertEquals(3, sharing.store().heldCount(), "only the idle inodes hold store files (b's contents are distinct)");
        }
    }

    private static void awaitTrue(java.util.function.BooleanSupplier done, String what) throws InterruptedException {
        long deadline = System.nanoTime() + java.util.concurrent.TimeUnit.SECONDS.toNanos(10);
        while (!done.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting until " + what);
            Thread.sleep(20);
        }
    }

    /** The same library and program through two mounts of two images: each process sees its own mount's path, never the store. */
    @Test
    void eachMountKeepsItsOwnPathsInProc(@TempDir Path tmp) throws Exception {
        Path storeDir = tmp.resolve("store");
        try (ContentSharing sharing = ContentSharing.withStore(storeDir, 1L << 30, options());
             Mounted a = mount(sharing, imageA, tmp.resolve("a"));
             Mounted b = mount(sharing, imageB, tmp.resolve("b"))) {
            Path libA = a.dir().resolve("lib/libz.so.1");
            Path libB = b.dir().resolve("usr/lib/libz.so.1");
            String out = run("python3", "-c", String.join("\n",
                    "import ctypes, sys",
                    "x = ctypes.CDLL(sys.argv[1]); y = ctypes.CDLL(sys.argv[2])",
                    "print(x.zlibVersion and y.zlibVersion and 'loaded')",
                    "print(open('/proc/self/maps').read())"), libA.toString(), libB.toString());
            assertTrue(out.contains(libA + "\n"), "maps lacks " + libA + ":\n" + out);
            assertTrue(out.contains(libB + "\n"), "maps lacks " + libB + ":\n" + out);
            assertFalse(out.contains(storeDir.toString()), "a store path shows in maps:\n" + out);
            assertEquals(0, a.reads() + b.reads(), "the libraries were read through passthrough");

            for (Path sleep : List.of(a.dir().resolve("bin/sleep"), b.dir().resolve("usr/bin/sleep"))) {
                Process p = new ProcessBuilder(sleep.toString(), "30").start();
                try {
                    assertEquals(sleep.toString(), Files.readSymbolicLink(Path.of("/proc/" + p.pid() + "/exe")).toString());
                    String maps = Files.readString(Path.of("/proc/" + p.pid() + "/maps"));
                    assertTrue(maps.contains(sleep.toString()), maps);
                    assertFalse(maps.contains(storeDir.toString()), maps);
                } finally {
                    p.destroyForcibly().waitFor();
                }
            }
            assertEquals(2, sharing.store().fileCount(), "libz and sleep, stored once each");
        }
    }

    @Test
    void aCorruptStoreFileIsReplacedNeverServed(@TempDir Path tmp) throws Exception {
        Map<String, String> kernelA = kernelView(imageA, tmp.resolve("ka"));
        Path storeDir = tmp.resolve("store");
        try (ContentSharing sharing = ContentSharing.withStore(storeDir, 1L << 30, options());
             Mounted a = mount(sharing, imageA, tmp.resolve("a"))) {
            hashes(a.dir());
            sharing.awaitBackground();
        }
        String common = kernelA.get("data/common.bin");
        String lib = kernelA.get("lib/libz.so.1");
        Path commonFile = storeDir.resolve("sha256").resolve(common.substring(0, 2)).resolve(common);
        Path libFile = storeDir.resolve("sha256").resolve(lib.substring(0, 2)).resolve(lib);
        byte[] bytes = Files.readAllBytes(commonFile);
        bytes[1000] ^= 0x01;
        Files.write(commonFile, bytes); // a bit flip
        try (var ch = java.nio.channels.FileChannel.open(libFile, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(4096); // a truncation
        }
        dropCaches();
        try (ContentSharing sharing = ContentSharing.withStore(storeDir, 1L << 30, options());
             Mounted a = mount(sharing, imageA, tmp.resolve("a"))) {
            List<String> log = logged(() -> assertEquals(kernelA, hashes(a.dir()), "served bytes are the image's, not the corrupt copies"));
            assertEquals(2, sharing.store().stats().corrupt(), String.join("\n", log));
            assertTrue(log.stream().anyMatch(l -> l.contains(common) && (l.contains("written again") || l.contains("replaced by a new copy"))), String.join("\n", log));
            sharing.store().flush();
            assertEquals(common, HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(commonFile))), "re-materialized");
            assertEquals(lib, HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(libFile))), "re-materialized");
        }
    }

    /** Reads {@code p} as user nobody; returns its exit status and output. */
    private static ProcessResult asNobody(String... cmd) throws Exception {
        List<String> full = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"));
        full.addAll(List.of(cmd));
        Process p = new ProcessBuilder(full).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        return new ProcessResult(p.waitFor(), out);
    }

    private record ProcessResult(int status, byte[] out) {
        String text() {
            return new String(out, StandardCharsets.ISO_8859_1);
        }
    }

    private static String mode(Path p) throws IOException {
        return java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(p,
                java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }

    /**
     * The store holds every image's files whatever their mode in the image: another user of the
     * host must not read them there, while the mount still serves each file as its own mode says
     * (through passthrough: the kernel reads the 0600 store file with the daemon's credentials).
     */
    @Test
    void storeFilesAreOwnerOnlyAndAnotherUserReadsOnlyWhatTheMountAllows(@TempDir Path tmp) throws Exception {
        Path src = tmp.resolve("src");
        write(src.resolve("secret.key"), "-----BEGIN PRIVATE KEY----- not for nobody\n".getBytes(StandardCharsets.UTF_8));
        write(src.resolve("public.txt"), random(7, 200_000));
        Files.setPosixFilePermissions(src.resolve("secret.key"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-------"));
        Files.setPosixFilePermissions(src.resolve("public.txt"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        Path image = tmp.resolve("modes.erofs");
        run("mkfs.erofs", "--quiet", image.toString(), src.toString());
        Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x")); // nobody reaches the mount
        // a store left by an older version, with the default umask's modes
        Path storeDir = tmp.resolve("store");
        Path old = Files.createDirectories(storeDir.resolve("index"));
        Files.writeString(old.resolve("left.idx"), "");
        for (Path p : List.of(storeDir, old)) {
            Files.setPosixFilePermissions(p, java.nio.file.attribute.PosixFilePermissions.fromString("rwxr-xr-x"));
        }
        Files.setPosixFilePermissions(old.resolve("left.idx"), java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
        String secret = HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(src.resolve("secret.key"))));
        String open = HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(src.resolve("public.txt"))));
        try (ContentSharing sharing = ContentSharing.withStore(storeDir, 1L << 30, options());
             Mounted m = mount(sharing, image, tmp.resolve("m"))) {
            assertEquals(secret, HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(m.dir().resolve("secret.key")))));
            assertEquals(open, HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(m.dir().resolve("public.txt")))));
            sharing.awaitBackground();
            Path secretCopy = storeDir.resolve("sha256").resolve(secret.substring(0, 2)).resolve(secret);
            Path openCopy = storeDir.resolve("sha256").resolve(open.substring(0, 2)).resolve(open);
            for (Path d : List.of(storeDir, storeDir.resolve("sha256"), secretCopy.getParent(), storeDir.resolve("tmp"),
                    storeDir.resolve("index"))) {
                assertEquals("rwx------", mode(d), d.toString());
            }
            for (Path f : List.of(secretCopy, openCopy, old.resolve("left.idx"))) {
                assertEquals("rw-------", mode(f), f.toString());
            }
            try (Stream<Path> idx = Files.list(storeDir.resolve("index"))) {
                for (Path f : idx.toList()) {
                    assertEquals("rw-------", mode(f), f.toString());
                }
            }
            ProcessResult direct = asNobody("cat", secretCopy.toString());
            assertTrue(direct.status() != 0 && !direct.text().contains("PRIVATE KEY"), "nobody read the store copy: " + direct.text());
            ProcessResult viaMount = asNobody("cat", m.dir().resolve("secret.key").toString());
            assertTrue(viaMount.status() != 0 && viaMount.text().contains("Permission denied"), viaMount.text());
            // what the image lets everyone read, nobody reads through passthrough from the 0600 store copy
            dropCaches();
            long reads = m.reads();
            ProcessResult allowed = asNobody("sha256sum", m.dir().resolve("public.txt").toString());
            assertEquals(0, allowed.status(), allowed.text());
            assertTrue(allowed.text().startsWith(open), allowed.text());
            assertEquals(reads, m.reads(), "served by passthrough, not by the daemon");
        }
    }

    /**
     * Four bytes of a store file overwritten while two mounts use it (one file held open): the
     * next open through either mount finds it changed (its change time moved), counts it corrupt
     * and restores it in place from the image, so that the file already open reads the right
     * bytes again as well; a store file replaced by another inode is replaced for every mount.
     */
    @Test
    void aStoreFileDamagedWhileMountedIsRestoredForEveryMount(@TempDir Path tmp) throws Exception {
        Map<String, String> kernelA = kernelView(imageA, tmp.resolve("ka"));
        String common = kernelA.get("data/common.bin");
        String lib = kernelA.get("lib/libz.so.1");
        Path storeDir = tmp.resolve("store");
        try (ContentSharing sharing = ContentSharing.withStore(storeDir, 1L << 30, options());
             Mounted a1 = mount(sharing, imageA, tmp.resolve("a1"));
             Mounted a2 = mount(sharing, imageA, tmp.resolve("a2"))) {
            assertFalse(sharing.store().verity(), "this test is about a store without fs-verity");
            assertEquals(kernelA, hashes(a1.dir()));
            assertEquals(kernelA, hashes(a2.dir()));
            sharing.awaitBackground();
            Path commonCopy = storeDir.resolve("sha256").resolve(common.substring(0, 2)).resolve(common);
            Path libCopy = storeDir.resolve("sha256").resolve(lib.substring(0, 2)).resolve(lib);
            try (var held = java.nio.channels.FileChannel.open(a1.dir().resolve("data/common.bin"))) {
                try (var ch = java.nio.channels.FileChannel.open(commonCopy, java.nio.file.StandardOpenOption.WRITE)) {
                    ch.write(java.nio.ByteBuffer.wrap("EVIL".getBytes(StandardCharsets.US_ASCII)), 1000);
                }
                dropCaches();
                List<String> log = logged(() -> assertEquals(kernelA, hashes(a2.dir()), "a new open reads the image's bytes"));
                assertEquals(1, sharing.store().stats().corrupt(), String.join("\n", log));
                assertEquals(1, sharing.store().stats().repaired(), String.join("\n", log));
                assertTrue(log.stream().anyMatch(l -> l.contains(common) && l.contains("restored in place")), String.join("\n", log));
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(8);
                held.read(b, 998);
                byte[] expected = java.util.Arrays.copyOfRange(Files.readAllBytes(work.resolve("a/data/common.bin")), 998, 1006);
                assertEquals(HexFormat.of().formatHex(expected), HexFormat.of().formatHex(b.array()), "the file open all along");
            }
            assertEquals(kernelA, hashes(a1.dir()), "the other mount too");
            assertEquals(common, HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(commonCopy))));

            // damaged again while a file is open and nothing opens it: the sweep (every 10 s) restores it
            try (var held = java.nio.channels.FileChannel.open(a2.dir().resolve("data/common.bin"))) {
                try (var ch = java.nio.channels.FileChannel.open(commonCopy, java.nio.file.StandardOpenOption.WRITE)) {
                    ch.write(java.nio.ByteBuffer.wrap("BAD!".getBytes(StandardCharsets.US_ASCII)), 2000);
                }
                assertEquals(1, sharing.store().sweep());
                java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(4);
                held.read(b, 2000);
                byte[] expected = java.util.Arrays.copyOfRange(Files.readAllBytes(work.resolve("a/data/common.bin")), 2000, 2004);
                assertEquals(HexFormat.of().formatHex(expected), HexFormat.of().formatHex(b.array()), "restored under the open file");
                assertEquals(2, sharing.store().stats().repaired());
            }

            // replaced by another file (a new inode), idle in both mounts: the next opens take a good new copy
            awaitTrue(() -> a1.session().openHandles() == 0 && a2.session().openHandles() == 0, "every RELEASE arrived");
            Path evil = tmp.resolve("evil");
            byte[] bad = Files.readAllBytes(libCopy);
            bad[5] ^= 0x55;
            Files.write(evil, bad);
            Files.move(evil, libCopy, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            dropCaches();
            assertEquals(kernelA, hashes(a1.dir()));
            assertEquals(kernelA, hashes(a2.dir()));
            assertEquals(3, sharing.store().stats().corrupt());
            assertEquals(lib, HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(libCopy))));
        }
    }

    @Test
    void aZeroBudgetServesEverythingFromTheDaemonWithOneClearLogLine(@TempDir Path tmp) throws Exception {
        Map<String, String> kernelB = kernelView(imageB, tmp.resolve("kb"));
        try (ContentSharing sharing = ContentSharing.withStore(tmp.resolve("store"), 0, options());
             Mounted b = mount(sharing, imageB, tmp.resolve("b"))) {
            List<String> log = logged(() -> {
                assertEquals(kernelB, hashes(b.dir()));
                sharing.awaitBackground();
                assertEquals(kernelB, hashes(b.dir()));
            });
            ContentSharing.Stats st = sharing.stats();
            assertEquals(0, st.passthroughOpens(), st.describe());
            assertTrue(st.cachedOpens() > 0, st.describe());
            List<String> full = log.stream().filter(l -> l.contains("budget")).toList();
            assertEquals(1, full.size(), "one log line naming the budget: " + log);
            assertTrue(full.get(0).contains("daemon's page cache"), full.get(0));
            assertTrue(st.pageCacheHitRatio() > 0, "the second pass hit the daemon's page cache: " + st.describe());
        }
    }

    @Test
    void aFullDiskDegradesToTheDaemonPageCache(@TempDir Path tmp) throws Exception {
        Map<String, String> kernelA = kernelView(imageA, tmp.resolve("ka"));
        Path small = Files.createDirectory(tmp.resolve("small"));
        run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small.toString());
        try (ContentSharing sharing = ContentSharing.withStore(small, 1L << 30, options());
             Mounted a = mount(sharing, imageA, tmp.resolve("a"))) {
            List<String> log = logged(() -> {
                assertEquals(kernelA, hashes(a.dir()), "every read succeeds");
                sharing.awaitBackground();
                assertEquals(kernelA, hashes(a.dir()));
            });
            assertTrue(log.stream().anyMatch(l -> l.contains("disk is full")), String.join("\n", log));
            assertTrue(sharing.store().stats().full() > 0);
            ContentSharing.Stats st = sharing.stats();
            assertTrue(st.passthroughOpens() > 0 && st.cachedOpens() > 0, "small files still pass through: " + st.describe());
        } finally {
            run("umount", small.toString());
        }
    }

    /** Without passthrough the daemon's page cache is shared by content across images (digests computed once). */
    @Test
    void withoutPassthroughPagesAreSharedAcrossImagesByContent(@TempDir Path tmp) throws Exception {
        Map<String, String> kernelA = kernelView(imageA, tmp.resolve("ka"));
        Map<String, String> kernelB = kernelView(imageB, tmp.resolve("kb"));
        ContentSharing.Options off = new ContentSharing.Options(false, 8 * MIB, 64 * MIB);
        try (ContentSharing sharing = ContentSharing.withStore(tmp.resolve("store"), 1L << 30, off);
             Mounted a = mount(sharing, imageA, tmp.resolve("a"));
             Mounted b = mount(sharing, imageB, tmp.resolve("b"))) {
            assertEquals(kernelA, hashes(a.dir()));
            long missesAfterA = sharing.pageCache().misses();
            assertEquals(kernelB, hashes(b.dir()));
            long newMisses = sharing.pageCache().misses() - missesAfterA;
            // B's shared files (libz, sleep, common) hit A's pages; only b-only.txt, hello.txt and the 12 MiB file
            // (hashed in the background, so still keyed per image) miss
            long bigPages = 12 * MIB / dev.csierofs.cas.PageCache.PAGE_SIZE;
            assertTrue(newMisses <= bigPages + 4, "B missed " + newMisses + " pages that A had read");
            assertNotNull(sharing.stats());
            assertEquals(0, sharing.stats().passthroughOpens());
            assertFalse(Files.exists(tmp.resolve("store/sha256")), "no store files without passthrough");
        }
    }
}
