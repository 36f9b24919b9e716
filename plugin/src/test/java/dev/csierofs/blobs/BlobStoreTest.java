package dev.csierofs.blobs;

import com.sun.net.httpserver.HttpServer;
import dev.csierofs.blobs.BlobFetchException.Failure;
import dev.csierofs.cas.Digest;
import dev.csierofs.erofs.Fixtures;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.net.InetSocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The blob store against a real HTTPS server on loopback, with a certificate made for the test. */
class BlobStoreTest {
    private static TestHttpsServer.Certificate cert;
    private static TestHttpsServer server;
    private static byte[] lz4;
    private static byte[] zstd;
    private static byte[] lzma;

    @TempDir
    Path tmp;

    @BeforeAll
    static void startServer(@TempDir Path certDir) throws Exception {
        cert = TestHttpsServer.Certificate.create(certDir);
        server = TestHttpsServer.start(cert);
        lz4 = Files.readAllBytes(Fixtures.image("lz4"));
        zstd = Files.readAllBytes(Fixtures.image("zstd"));
        lzma = Files.readAllBytes(Fixtures.image("lzma"));
    }

    @AfterAll
    static void stopServer() {
        server.close();
    }

    private static Digest digest(byte[] content) {
        return Digest.of(Digest.sha256().digest(content));
    }

    private BlobStore open(long budget) throws IOException {
        return open(budget, Duration.ofSeconds(20));
    }

    private BlobStore open(long budget, Duration stall) throws IOException {
        return BlobStore.open(tmp.resolve("blobs"), budget,
                new HttpsFetcher(HttpsFetcher.trusting(Optional.of(cert.pem())), Duration.ofSeconds(5), stall));
    }

    private List<Path> files(String dir) throws IOException {
        try (var s = Files.list(tmp.resolve("blobs").resolve(dir))) {
            return s.sorted().toList();
        }
    }

    @Test
    void downloadsVerifiesAndNamesTheBlobByItsDigest() throws Exception {
        server.serve("/one/lz4.erofs", lz4);
        Digest d = digest(lz4);
        try (BlobStore store = open(1L << 30)) {
            BlobStore.Blob blob = store.fetch(server.url("/one/lz4.erofs"), d);
            assertEquals(tmp.resolve("blobs/sha256").resolve(d.hex()), blob.path());
            assertArrayEquals(lz4, Files.readAllBytes(blob.path()));
            assertEquals(d, blob.digest());
            assertEquals(lz4.length, blob.size());
            BlobStore.Blob again = store.fetch(server.url("/one/lz4.erofs"), d);
            assertEquals(blob.path(), again.path());
            assertEquals(1, server.requests("/one/lz4.erofs"), "a blob on hand is not downloaded again");
            BlobStore.Stats s = store.stats();
            assertEquals(1, s.downloads());
            assertEquals(lz4.length, s.downloadedBytes());
            assertEquals(1, s.blobs());
            assertEquals(1, s.held());
            blob.release();
            blob.release(); // idempotent: the other reference still holds it
            assertEquals(1, store.stats().held());
            again.close();
            assertEquals(0, store.stats().held());
            assertEquals(List.of(), files("tmp"), "no download leftovers");
        }
    }

    @Test
    void aWrongDigestIsRefusedAndNothingIsKept() throws Exception {
        server.serve("/wrong/lz4.erofs", lz4);
        Digest claimed = digest(zstd);
        try (BlobStore store = open(1L << 30)) {
            // a presigned URL: its query carries credentials, which no message may show
            java.net.URI presigned = java.net.URI.create(server.url("/wrong/lz4.erofs") + "?X-Amz-Signature=s3cr3t");
            BlobFetchException e = assertThrows(BlobFetchException.class, () -> store.fetch(presigned, claimed));
            assertEquals(Failure.DIGEST_MISMATCH, e.failure());
            assertTrue(e.getMessage().contains(server.url("/wrong/lz4.erofs").toString()), e.getMessage());
            assertFalse(e.getMessage().contains("s3cr3t"), "the query of the URL is not shown: " + e.getMessage());
            assertTrue(e.getMessage().contains(claimed.toString()), "names the expected digest: " + e.getMessage());
            assertTrue(e.getMessage().contains(digest(lz4).toString()), "names the actual digest: " + e.getMessage());
            assertEquals(List.of(), files("sha256"));
            assertEquals(List.of(), files("tmp"));
            assertEquals(0, store.stats().bytes());
            assertEquals(1, store.stats().downloadFailures());
        }
    }

    @Test
    void concurrentFetchesOfOneDigestShareOneDownloadAndItsFailure() throws Exception {
        server.serveAfter("/slow/zstd.erofs", zstd, Duration.ofMillis(500));
        server.status("/slow/missing.erofs", 404);
        Digest d = digest(zstd);
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try (BlobStore store = open(1L << 30)) {
            CyclicBarrier together = new CyclicBarrier(8);
            List<Future<BlobStore.Blob>> calls = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                calls.add(pool.submit(() -> {
                    together.await();
                    return store.fetch(server.url("/slow/zstd.erofs"), d);
                }));
            }
            List<BlobStore.Blob> blobs = new ArrayList<>();
            for (var f : calls) {
                blobs.add(f.get());
            }
            assertEquals(1, server.requests("/slow/zstd.erofs"), "eight callers, one GET");
            for (BlobStore.Blob b : blobs) {
                assertEquals(blobs.get(0).path(), b.path());
            }
            assertEquals(1, store.stats().held());
            blobs.forEach(BlobStore.Blob::release);
            assertEquals(0, store.stats().held());

            Digest missing = digest("missing".getBytes());
            calls.clear();
            CyclicBarrier again = new CyclicBarrier(8);
            AtomicInteger notFound = new AtomicInteger();
            List<Future<?>> failing = new ArrayList<>();
            for (int i = 0; i < 8; i++) {
                failing.add(pool.submit(() -> {
                    again.await();
                    BlobFetchException e = assertThrows(BlobFetchException.class,
                            () -> store.fetch(server.url("/slow/missing.erofs"), missing));
                    if (e.failure() == Failure.NOT_FOUND) {
                        notFound.incrementAndGet();
                    }
                    return null;
                }));
            }
            for (var f : failing) {
                f.get();
            }
            assertEquals(8, notFound.get(), "every caller gets the failure");
            assertTrue(server.requests("/slow/missing.erofs") < 8, "callers arriving during the GET share it");
        } finally {
            pool.shutdownNow();
        }
    }

    /** Two volumes name one digest at different URLs; the first URL is wrong: the second still gets its blob. */
    @Test
    void aWaiterWithAnotherUrlIsNotFailedByTheFirstOnesWrongUrl() throws Exception {
        server.statusAfter("/wrong-place/lz4.erofs", 404, Duration.ofMillis(500));
        server.serve("/right-place/lz4.erofs", lz4);
        Digest d = digest(lz4);
        ExecutorService pool = Executors.newFixedThreadPool(2);
        try (BlobStore store = open(1L << 30)) {
            Future<?> wrong = pool.submit(() -> store.fetch(server.url("/wrong-place/lz4.erofs"), d));
            while (server.requests("/wrong-place/lz4.erofs") == 0) {
                Thread.sleep(10); // the first download is under way
            }
            try (BlobStore.Blob b = store.fetch(server.url("/right-place/lz4.erofs"), d)) {
                assertEquals(d, b.digest());
            }
            var e = assertThrows(java.util.concurrent.ExecutionException.class, wrong::get);
            assertEquals(Failure.NOT_FOUND, ((BlobFetchException) e.getCause()).failure());
            assertEquals(1, server.requests("/right-place/lz4.erofs"));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void redirectsAreFollowedToHttpsOnly() throws Exception {
        server.serve("/store/lzma.erofs", lzma);
        server.redirect("/registry/blob", 307, "/cdn/blob");
        server.redirect("/cdn/blob", 302, server.url("/store/lzma.erofs") + "?X-Signature=secret");
        HttpServer plain = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 0);
        AtomicInteger plainRequests = new AtomicInteger();
        plain.createContext("/", x -> {
            plainRequests.incrementAndGet();
            x.sendResponseHeaders(200, lzma.length);
            x.getResponseBody().write(lzma);
            x.close();
        });
        plain.start();
        String http = "http://127.0.0.1:" + plain.getAddress().getPort() + "/lzma.erofs";
        server.redirect("/downgrade", 302, http);
        try (BlobStore store = open(1L << 30)) {
            BlobStore.Blob b = store.fetch(server.url("/registry/blob"), digest(lzma));
            assertArrayEquals(lzma, Files.readAllBytes(b.path()));
            assertEquals(1, server.requests("/registry/blob"));
            assertEquals(1, server.requests("/cdn/blob"));
            assertEquals(1, server.requests("/store/lzma.erofs"));

            BlobFetchException e = assertThrows(BlobFetchException.class, () -> store.fetch(server.url("/downgrade"), digest(lz4)));
            assertEquals(Failure.REFUSED, e.failure());
            assertTrue(e.getMessage().contains("only https://") && e.getMessage().contains(http), e.getMessage());
            assertEquals(0, plainRequests.get(), "the http:// redirect is not followed");
            assertEquals(List.of(), files("tmp"));
        } finally {
            plain.stop(0);
        }
    }

    @Test
    void httpErrorsNameTheStatusAndTheUrl() throws Exception {
        server.status("/gone.erofs", 404);
        server.status("/busy.erofs", 503);
        server.status("/forbidden.erofs", 403);
        try (BlobStore store = open(1L << 30)) {
            BlobFetchException e = assertThrows(BlobFetchException.class, () -> store.fetch(server.url("/gone.erofs"), digest(lz4)));
            assertEquals(Failure.NOT_FOUND, e.failure());
            assertTrue(e.getMessage().contains("HTTP status 404") && e.getMessage().contains(server.url("/gone.erofs").toString()),
                    e.getMessage());
            e = assertThrows(BlobFetchException.class, () -> store.fetch(server.url("/busy.erofs"), digest(lz4)));
            assertEquals(Failure.TRANSIENT, e.failure(), "a server error may go away");
            assertTrue(e.getMessage().contains("HTTP status 503"), e.getMessage());
            e = assertThrows(BlobFetchException.class, () -> store.fetch(server.url("/forbidden.erofs"), digest(lz4)));
            assertEquals(Failure.REFUSED, e.failure());
            assertEquals(List.of(), files("sha256"));
        }
    }

    @Test
    void truncatedAndStalledResponsesFailCleanly() throws Exception {
        server.truncate("/cut.erofs", lz4, lz4.length / 3);
        server.stall("/stuck.erofs", zstd, 100_000);
        server.serve("/fine.erofs", zstd);
        try (BlobStore store = open(1L << 30, Duration.ofSeconds(1))) {
            BlobFetchException e = assertThrows(BlobFetchException.class, () -> store.fetch(server.url("/cut.erofs"), digest(lz4)));
            assertEquals(Failure.TRANSIENT, e.failure());
            assertTrue(e.getMessage().contains("ended after"), e.getMessage());

            long t0 = System.nanoTime();
            e = assertThrows(BlobFetchException.class, () -> store.fetch(server.url("/stuck.erofs"), digest(zstd)));
            long seconds = (System.nanoTime() - t0) / 1_000_000_000L;
            assertEquals(Failure.TRANSIENT, e.failure());
            assertTrue(e.getMessage().contains("no data for 1 s after 100000 bytes"), e.getMessage());
            assertTrue(seconds < 10, "the stall timeout ends it: " + seconds + " s");
            assertEquals(List.of(), files("tmp"), "the partial downloads are deleted");
            assertEquals(List.of(), files("sha256"));
            assertEquals(0, store.stats().bytes());

            BlobStore.Blob b = store.fetch(server.url("/fine.erofs"), digest(zstd));
            assertArrayEquals(zstd, Files.readAllBytes(b.path()), "the digest is fetched fine afterwards (no stuck download)");
        }
    }

    @Test
    void aRestartedStoreChecksItsBlobsAgainAndReplacesCorruptOnes() throws Exception {
        server.serve("/restart/lz4.erofs", lz4);
        server.serve("/restart/zstd.erofs", zstd);
        Path lz4Blob;
        Path zstdBlob;
        try (BlobStore store = open(1L << 30)) {
            lz4Blob = store.fetch(server.url("/restart/lz4.erofs"), digest(lz4)).path();
            zstdBlob = store.fetch(server.url("/restart/zstd.erofs"), digest(zstd)).path();
        }
        byte[] bad = Files.readAllBytes(lz4Blob);
        bad[bad.length / 2] ^= 1;
        Files.write(lz4Blob, bad);
        Path leftover = Files.writeString(tmp.resolve("blobs/tmp").resolve(digest(lzma).hex() + ".partial"), "half a download");
        try (BlobStore store = open(1L << 30)) {
            assertFalse(Files.exists(leftover), "unfinished downloads are removed at start");
            assertEquals(2, store.stats().blobs(), "the blobs on disk are known");
            BlobStore.Blob b = store.fetch(server.url("/restart/lz4.erofs"), digest(lz4));
            assertArrayEquals(lz4, Files.readAllBytes(b.path()), "the corrupt blob was replaced");
            assertEquals(2, server.requests("/restart/lz4.erofs"), "downloaded again");
            assertEquals(1, store.stats().corrupt());
            BlobStore.Blob z = store.fetch(server.url("/restart/zstd.erofs"), digest(zstd));
            assertEquals(zstdBlob, z.path());
            assertEquals(1, server.requests("/restart/zstd.erofs"), "an intact blob is checked, not downloaded");

            Files.write(z.path(), bad); // after its check in this process: trusted, not hashed at every use
            store.fetch(server.url("/restart/zstd.erofs"), digest(zstd)).release();
            assertEquals(1, server.requests("/restart/zstd.erofs"));
        }
    }

    @Test
    void theBudgetEvictsUnusedBlobsLeastRecentlyUsedFirst() throws Exception {
        server.serve("/budget/lz4.erofs", lz4);
        server.serve("/budget/zstd.erofs", zstd);
        server.serve("/budget/lzma.erofs", lzma);
        long budget = lz4.length + zstd.length + lzma.length - 1; // room for two of the three
        try (BlobStore store = open(budget)) {
            BlobStore.Blob held = store.fetch(server.url("/budget/lz4.erofs"), digest(lz4));
            store.fetch(server.url("/budget/zstd.erofs"), digest(zstd)).release();
            BlobStore.Blob third = store.fetch(server.url("/budget/lzma.erofs"), digest(lzma));
            assertTrue(Files.exists(held.path()), "held: kept although least recently used");
            assertFalse(Files.exists(store.pathOf(digest(zstd))), "unused: evicted");
            assertEquals(1, store.stats().evictions());
            assertTrue(store.stats().bytes() <= budget);
            held.release();
            third.release();
            assertEquals(2, store.stats().blobs(), "within the budget: unused blobs stay");
        }
        try (BlobStore tiny = open(1000)) {
            // a blob larger than the whole budget is still served, and goes once unused
            BlobStore.Blob big = tiny.fetch(server.url("/budget/zstd.erofs"), digest(zstd));
            assertTrue(Files.exists(big.path()));
            assertEquals(zstd.length, tiny.stats().bytes());
            assertFalse(Files.exists(tiny.pathOf(digest(lz4))), "the unused blobs of before went to make room");
            big.release();
            assertFalse(Files.exists(big.path()), "over the budget and unused: deleted");
            assertEquals(0, tiny.stats().bytes());
        }
    }

    @Test
    void serverCertificatesAreCheckedAndTheCaFileIsReadWithClearErrors() throws Exception {
        server.serve("/trust/lz4.erofs", lz4);
        try (BlobStore store = BlobStore.open(tmp.resolve("blobs"), 1L << 30,
                new HttpsFetcher(HttpsFetcher.trusting(Optional.empty()), Duration.ofSeconds(5), Duration.ofSeconds(5)))) {
            BlobFetchException e = assertThrows(BlobFetchException.class,
                    () -> store.fetch(server.url("/trust/lz4.erofs"), digest(lz4)));
            assertEquals(Failure.REFUSED, e.failure(), "the JVM's CAs alone do not trust the test certificate");
            assertTrue(e.getMessage().contains("--ca-file"), e.getMessage());
        }
        // the CA file adds to the default CAs rather than replacing them
        var defaults = javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
        defaults.init((java.security.KeyStore) null);
        List<java.security.cert.X509Certificate> defaultCas = List.of(
                ((javax.net.ssl.X509TrustManager) defaults.getTrustManagers()[0]).getAcceptedIssuers());
        List<java.security.cert.X509Certificate> both = List.of(HttpsFetcher.trustManager(cert.pem()).getAcceptedIssuers());
        assertNotEquals(0, defaultCas.size());
        assertTrue(both.containsAll(defaultCas), "every default CA is still trusted");
        assertTrue(both.containsAll(HttpsFetcher.readPem(cert.pem())), "and the CA file's");
        assertEquals(defaultCas.size() + 1, both.size());
        IOException e = assertThrows(IOException.class, () -> HttpsFetcher.trusting(Optional.of(tmp.resolve("nope.pem"))));
        assertTrue(e.getMessage().contains("does not exist"), e.getMessage());
        Path notPem = Files.writeString(tmp.resolve("not.pem"), "hello\n");
        e = assertThrows(IOException.class, () -> HttpsFetcher.trusting(Optional.of(notPem)));
        assertTrue(e.getMessage().contains(notPem.toString()), e.getMessage());
    }
}
