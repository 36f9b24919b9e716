package dev.csierofs.fuse;

import dev.csierofs.sys.Errno;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every session's requests are read by one process-wide pool on the real kernel: mounts with no
 * traffic cost no thread (only the one poller), a session allowed two workers serves two requests
 * at once, and a mount stuck in a request holds up no other mount.
 */
class ReaderPoolTest {

    /** {@link PassthroughTest.OneFile} whose LOOKUPs of names starting with "stuck" wait for {@link #gate}. */
    static final class Gated extends PassthroughTest.OneFile {
        final CountDownLatch gate = new CountDownLatch(1);
        final AtomicInteger waiting = new AtomicInteger();

        Gated(Path backing) throws java.io.IOException {
            super(backing);
        }

        @Override
        public EntryOut lookup(long parent, byte[] name) throws FuseError {
            if (new String(name, StandardCharsets.UTF_8).startsWith("stuck")) {
                waiting.incrementAndGet();
                try {
                    gate.await(30, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                throw new FuseError(Errno.ENOENT, "no such entry");
            }
            return super.lookup(parent, name);
        }
    }

    private static long threads(String prefix) {
        return Thread.getAllStackTraces().keySet().stream().filter(t -> t.isAlive() && t.getName().startsWith(prefix)).count();
    }

    private static void await(String what, java.util.function.BooleanSupplier done) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (!done.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out waiting until " + what);
            Thread.sleep(20);
        }
    }

    @Test
    void idleMountsCostNoThreadsAndAStuckMountHoldsUpNoOther(@TempDir Path tmp) throws Exception {
        ReaderPool pool = ReaderPool.shared();
        pool.keepAlive(Duration.ofMillis(200));
        byte[] content = new byte[64 << 10];
        new java.util.Random(7).nextBytes(content);
        Path backing = Files.write(tmp.resolve("backing"), content);
        List<FuseSession> sessions = new ArrayList<>();
        List<Gated> filesystems = new ArrayList<>();
        List<Path> dirs = new ArrayList<>();
        ExecutorService clients = Executors.newCachedThreadPool();
        try {
            for (int i = 0; i < 8; i++) {
                Gated fs = new Gated(backing);
                Path dir = Files.createDirectory(tmp.resolve("mnt" + i));
                sessions.add(FuseSession.mount(fs, dir, "csitest", "reader-pool-test", 2, InitNegotiation.Options.defaults()));
                filesystems.add(fs);
                dirs.add(dir);
            }
            // all eight read at once
            List<Future<byte[]>> reads = new ArrayList<>();
            for (Path dir : dirs) {
                reads.add(clients.submit(() -> Files.readAllBytes(dir.resolve("data"))));
            }
            for (Future<byte[]> r : reads) {
                assertArrayEquals(content, r.get(10, TimeUnit.SECONDS));
            }
            // 8 mounts with no traffic: the poller alone (blocking readers were 16 threads)
            await("idle workers end", () -> pool.workerThreads() == 0);
            assertEquals(0, threads("fuse-worker-"), "idle worker threads");
            assertEquals(1, threads("fuse-poll"), "one poller for every mount");
            assertEquals(0, threads("fuse-reader"));

            // two lookups stuck in mount 0: both its workers are busy at once...
            Gated stuck = filesystems.get(0);
            List<Future<?>> blocked = new ArrayList<>();
            for (String name : List.of("stuck1", "stuck2")) {
                blocked.add(clients.submit(() -> Files.exists(dirs.get(0).resolve(name))));
            }
            await("two requests of one mount in progress at once", () -> stuck.waiting.get() == 2);
            // ...and every other mount still answers
            for (int i = 1; i < 8; i++) {
                Path fresh = dirs.get(i).resolve("nothing-" + i);
                assertThrows(NoSuchFileException.class, () -> Files.readAllBytes(fresh));
                assertArrayEquals(content, Files.readAllBytes(dirs.get(i).resolve("data")));
            }
            stuck.gate.countDown();
            for (Future<?> b : blocked) {
                assertEquals(false, b.get(10, TimeUnit.SECONDS));
            }
            // a mount stopped while others run: they keep being served
            assertEquals(0, sessions.remove(0).stop(Duration.ofSeconds(5)));
            for (int i = 1; i < 8; i++) {
                assertArrayEquals(content, Files.readAllBytes(dirs.get(i).resolve("data")));
            }
        } finally {
            for (Gated fs : filesystems) {
                fs.gate.countDown();
            }
            for (FuseSession s : sessions) {
                s.close();
            }
            clients.shutdownNow();
            pool.keepAlive(Duration.ofSeconds(10));
        }
    }
}
