package dev.csierofs.cas;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The content store on a real directory: naming, verification, dedupe, budget, crash leftovers. */
class ContentStoreTest {

    static byte[] content(int seed, int size) {
        byte[] b = new byte[size];
        new Random(seed).nextBytes(b);
        return b;
    }

    static Digest digest(byte[] b) {
        return Digest.of(Digest.sha256().digest(b));
    }

    static ContentStore.Lease put(ContentStore s, byte[] b) throws IOException {
        return s.materialize(digest(b), b.length, sink -> sink.write(b, 0, b.length));
    }

    @Test
    void storesUnderItsDigestAndFindsItAgainAfterARestart(@TempDir Path tmp) throws Exception {
        byte[] b = content(1, 100_000);
        Digest d = digest(b);
        try (ContentStore s = ContentStore.open(tmp, 1 << 20)) {
            assertNull(s.acquire(d), "not stored yet");
            try (ContentStore.Lease l = put(s, b)) {
                assertFalse(l.hit());
                assertEquals(b.length, l.size());
            }
            assertEquals(1, s.stats().misses(), "a look and a write of new content: one miss, not two");
            s.flush();
            Path p = tmp.resolve("sha256").resolve(d.hex().substring(0, 2)).resolve(d.hex());
            assertArrayEquals(b, Files.readAllBytes(p), "the file is named by its content's SHA-256");
            try (ContentStore.Lease again = put(s, b)) {
                assertTrue(again.hit(), "the same content is stored once");
            }
            assertEquals(1, s.fileCount());
        }
        try (ContentStore s = ContentStore.open(tmp, 1 << 20); ContentStore.Lease l = s.acquire(d)) {
            assertNotNull(l, "a restarted store knows its files");
            assertArrayEquals(b, Files.readAllBytes(l.path()));
            assertEquals(1, s.stats().hits());
        }
    }

    @Test
    void contentThatDoesNotMatchItsDigestIsRefusedAndNothingStays(@TempDir Path tmp) throws Exception {
        byte[] b = content(2, 5000);
        byte[] other = content(3, 5000);
        try (ContentStore s = ContentStore.open(tmp, 1 << 20)) {
            ContentMismatchException e = assertThrows(ContentMismatchException.class,
                    () -> s.materialize(digest(b), b.length, sink -> sink.write(other, 0, other.length)));
            assertTrue(e.getMessage().contains(digest(b).toString()), e.getMessage());
            assertThrows(ContentMismatchException.class,
                    () -> s.materialize(digest(b), b.length - 1, sink -> sink.write(b, 0, b.length)), "longer than its size");
            assertEquals(0, s.fileCount());
            assertEquals(0, s.sizeBytes(), "reservations are given back");
            s.flush();
            try (Stream<Path> left = Files.walk(tmp)) {
                assertEquals(0, left.filter(Files::isRegularFile).count(), "nothing left behind");
            }
        }
    }

    @Test
    void corruptOrTruncatedFilesAreFoundAndNeverServed(@TempDir Path tmp) throws Exception {
        byte[] a = content(4, 70_000);
        byte[] b = content(5, 70_000);
        Path pa;
        Path pb;
        try (ContentStore s = ContentStore.open(tmp, 1 << 20)) {
            try (ContentStore.Lease la = put(s, a); ContentStore.Lease lb = put(s, b)) {
                s.flush();
                pa = la.path();
                pb = lb.path();
            }
            // while running: a file changed on disk (its ctime moves) is hashed again before use
            byte[] flipped = Files.readAllBytes(pa);
            flipped[12345] ^= 0x10;
            Files.write(pa, flipped);
            assertNull(s.acquire(digest(a)), "a bit flip is detected");
            assertFalse(Files.exists(pa), "and the bad copy deleted");
            try (ContentStore.Lease again = put(s, a)) {
                assertFalse(again.hit());
                s.flush();
                assertArrayEquals(a, Files.readAllBytes(again.path()), "written again, correct");
            }
        }
        // after a restart every file is hashed before its first use
        try (var ch = java.nio.channels.FileChannel.open(pb, java.nio.file.StandardOpenOption.WRITE)) {
            ch.truncate(1000);
        }
        try (ContentStore s = ContentStore.open(tmp, 1 << 20)) {
            assertNull(s.acquire(digest(b)), "a truncated file is detected");
            assertEquals(1, s.stats().corrupt());
            try (ContentStore.Lease la = s.acquire(digest(a))) {
                assertNotNull(la, "the good file is kept");
            }
        }
    }

    @Test
    void unfinishedFilesFromACrashAreRemovedAtStart(@TempDir Path tmp) throws Exception {
        try (ContentStore s = ContentStore.open(tmp, 1 << 20)) {
            // nothing
        }
        Path partial = Files.write(tmp.resolve("tmp").resolve("0123.partial"), new byte[100]);
        byte[] b = content(6, 3000);
        Digest d = digest(b);
        Path misplacedDir = Files.createDirectories(tmp.resolve("sha256").resolve(d.hex().substring(0, 2)));
        Path wrong = Files.write(misplacedDir.resolve(d.hex()), new byte[3000]); // right name, wrong bytes
        try (ContentStore s = ContentStore.open(tmp, 1 << 20)) {
            assertFalse(Files.exists(partial), "tmp leftovers go at start");
            assertNull(s.acquire(d), "a file whose bytes do not match its name is never served");
            assertFalse(Files.exists(wrong));
        }
    }

    @Test
    void budgetEvictsLeastRecentlyUsedFilesThatNothingHolds(@TempDir Path tmp) throws Exception {
        byte[] a = content(7, 40_000);
        byte[] b = content(8, 40_000);
        byte[] c = content(9, 40_000);
        try (ContentStore s = ContentStore.open(tmp, 100_000)) {
            put(s, a).close();
            ContentStore.Lease held = put(s, b); // in use: never evicted
            s.flush();
            s.acquire(digest(a)).close(); // a is now more recently used than b, but b is held
            put(s, c).close();
            s.flush();
            assertNull(s.acquire(digest(a)), "the least recently used file nothing holds went");
            try (ContentStore.Lease lb = s.acquire(digest(b))) {
                assertNotNull(lb);
            }
            assertEquals(80_000, s.sizeBytes());
            assertEquals(1, s.stats().evictions());
            // everything held: the budget cannot be met, and the refusal says why
            ContentStore.Lease hc = s.acquire(digest(c));
            byte[] d = content(10, 40_000);
            StoreFullException full = assertThrows(StoreFullException.class, () -> put(s, d));
            assertTrue(full.getMessage().contains("held by files in use"), full.getMessage());
            held.close();
            hc.close();
            put(s, d).close();
        }
    }

    @Test
    void filesHeldOnlyInCaseTheyAreNeededGoWhenTheBudgetIsShort(@TempDir Path tmp) throws Exception {
        try (ContentStore s = ContentStore.open(tmp, 100_000)) {
            ContentStore.Lease[] idle = {put(s, content(20, 60_000))};
            s.flush();
            s.onPressure(() -> { // like a mount keeping an idle inode ready
                if (idle[0] != null) {
                    idle[0].close();
                    idle[0] = null;
                }
            });
            put(s, content(21, 60_000)).close();
            assertNull(idle[0], "the reclaimer ran");
            assertEquals(1, s.fileCount(), "the released file made room");
        }
    }

    @Test
    void budgetZeroStoresNothing(@TempDir Path tmp) throws Exception {
        try (ContentStore s = ContentStore.open(tmp, 0)) {
            assertThrows(StoreFullException.class, () -> put(s, content(11, 10)));
        }
    }

    /**
     * The budget (1 GiB) is far above a 2 MiB disk that something else fills: the store deletes
     * its unused files to make room for a new one, keeps the ones in use, and refuses only when
     * nothing it may delete would make room; every store file and directory is owner-only.
     */
    @Test
    void aDiskFilledByOthersMakesTheStoreDeleteUnusedFilesFirst(@TempDir Path tmp) throws Exception {
        Path small = Files.createDirectory(tmp.resolve("small"));
        Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", small.toString()).inheritIO().start();
        org.junit.jupiter.api.Assumptions.assumeTrue(p.waitFor() == 0, "cannot mount a tmpfs (needs root)");
        try {
            try (ContentStore s = ContentStore.open(small.resolve("store"), 1L << 30)) {
                ContentStore.Lease inUse = put(s, content(20, 300_000));
                put(s, content(21, 300_000)).close();
                put(s, content(22, 300_000)).close();
                s.flush();
                try (var out = Files.newOutputStream(small.resolve("filler"))) {
                    byte[] b = new byte[4096];
                    while (true) {
                        out.write(b);
                    }
                } catch (java.io.IOException full) {
                    assertTrue(full.getMessage().contains("No space left"), full.getMessage());
                }
                put(s, content(23, 400_000)).close();
                assertEquals(2, s.fileCount(), "the two unused files went, the one in use and the new one stay");
                assertEquals(2, s.stats().evictions());
                assertTrue(Files.exists(inUse.path()));
                try (Stream<Path> all = Files.walk(small.resolve("store"))) {
                    for (Path f : all.toList()) {
                        assertEquals(Files.isDirectory(f) ? "rwx------" : "rw-------",
                                java.nio.file.attribute.PosixFilePermissions.toString(Files.getPosixFilePermissions(f)), f.toString());
                    }
                }
                StoreFullException e = assertThrows(StoreFullException.class, () -> put(s, content(24, 800_000)));
                assertTrue(e.getMessage().contains(small.resolve("store").toString()) && e.getMessage().contains("bytes free"),
                        e.getMessage());
                inUse.close();
            }
        } finally {
            new ProcessBuilder("umount", small.toString()).inheritIO().start().waitFor();
        }
    }

    @Test
    void aFullDiskIsReportedAsFullAndLeavesNothing(@TempDir Path tmp) throws Exception {
        Path small = Files.createDirectory(tmp.resolve("small"));
        Process p = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", small.toString()).inheritIO().start();
        org.junit.jupiter.api.Assumptions.assumeTrue(p.waitFor() == 0, "cannot mount a tmpfs (needs root)");
        try {
            try (ContentStore s = ContentStore.open(small, 1L << 30)) {
                StoreFullException e = assertThrows(StoreFullException.class, () -> put(s, content(12, 1 << 20)));
                assertTrue(e.getMessage().contains("do not fit on its disk") && e.getMessage().contains("bytes free"), e.getMessage());
                assertEquals(0, s.sizeBytes());
                try (Stream<Path> left = Files.walk(small)) {
                    assertEquals(0, left.filter(Files::isRegularFile).count(), "the partial file is removed");
                }
                put(s, content(13, 1000)).close(); // and small files still fit
            }
        } finally {
            new ProcessBuilder("umount", small.toString()).inheritIO().start().waitFor();
        }
    }

    @Test
    void concurrentWritersOfOneContentWriteItOnce(@TempDir Path tmp) throws Exception {
        byte[] b = content(14, 500_000);
        AtomicInteger writes = new AtomicInteger();
        CountDownLatch go = new CountDownLatch(1);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try (ContentStore s = ContentStore.open(tmp, 1 << 22)) {
            List<Future<Boolean>> fs = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                fs.add(pool.submit(() -> {
                    go.await();
                    try (ContentStore.Lease l = s.materialize(digest(b), b.length, sink -> {
                        writes.incrementAndGet();
                        sink.write(b, 0, b.length);
                    })) {
                        return Files.size(l.path()) == b.length;
                    }
                }));
            }
            go.countDown();
            for (Future<Boolean> f : fs) {
                assertTrue(f.get());
            }
            assertEquals(1, writes.get(), "one writer, the others waited for it");
            assertEquals(1, s.fileCount());
        } finally {
            pool.shutdownNow();
        }
    }
}
