package dev.csierofs.csi;

import dev.csierofs.blobs.TestHttpsServer;
import dev.csierofs.cas.Digest;
import dev.csierofs.csi.v1.NodePublishVolumeRequest;
import dev.csierofs.csi.v1.NodeUnpublishVolumeRequest;
import dev.csierofs.csi.v1.VolumeCapability;
import dev.csierofs.erofs.Fixtures;
import dev.csierofs.erofs.KernelMount;
import dev.csierofs.sys.Mounts;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.common.QuarkusTestResourceLifecycleManager;
import io.quarkus.test.common.TestResourceScope;
import io.quarkus.test.common.WithTestResource;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Volumes of {@code https://} images over the real socket: a loopback HTTPS server whose
 * certificate the plugin trusts through {@code csi.ca-file}, real mounts, the kernel as oracle.
 */
@QuarkusTest
@WithTestResource(value = HttpsVolumeTest.CertificateAndState.class, scope = TestResourceScope.RESTRICTED_TO_CLASS)
class HttpsVolumeTest {
    /**
     * Made before the plugin starts, since it reads its CA file at start: the test server's
     * certificate, and a state directory of this test's own (so that no blob of an earlier run is there).
     */
    public static final class CertificateAndState implements QuarkusTestResourceLifecycleManager {
        @Override
        public Map<String, String> start() {
            try {
                Path dir = Files.createTempDirectory(Files.createDirectories(Path.of("target")), "https-test-").toAbsolutePath();
                TestHttpsServer.Certificate cert = TestHttpsServer.Certificate.create(dir.resolve("cert"));
                return Map.of("csi.ca-file", cert.pem().toString(), "csi.state-dir", dir.resolve("state").toString(),
                        "test.https.certificate-dir", dir.resolve("cert").toString());
            } catch (Exception e) {
                throw new IllegalStateException("cannot make the test certificate", e);
            }
        }

        @Override
        public void stop() {
        }
    }

    @ConfigProperty(name = "quarkus.http.domain-socket")
    String socket;

    @Inject
    NodeState state;

    @io.quarkus.test.common.http.TestHTTPResource(value = "metrics", management = true)
    java.net.URL metricsUrl;

    private static final VolumeCapability MOUNT = VolumeCapability.newBuilder()
            .setMount(VolumeCapability.MountVolume.getDefaultInstance())
            .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(VolumeCapability.AccessMode.Mode.MULTI_NODE_READER_ONLY))
            .build();

    private static NodePublishVolumeRequest publish(String volumeId, Path target, Map<String, String> ctx) {
        return NodePublishVolumeRequest.newBuilder().setVolumeId(volumeId).setTargetPath(target.toString())
                .setVolumeCapability(MOUNT).setReadonly(true).putAllVolumeContext(ctx).build();
    }

    private static NodeUnpublishVolumeRequest unpublish(String volumeId, Path target) {
        return NodeUnpublishVolumeRequest.newBuilder().setVolumeId(volumeId).setTargetPath(target.toString()).build();
    }

    private static StatusRuntimeException failure(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run);
    }

    private static long mountsOf(Path blob) throws Exception {
        return Mounts.read().stream().filter(e -> e.fsType().equals("fuse.erofs") && e.source().equals(blob.toString())).count();
    }

    @Test
    void anHttpsImageIsDownloadedOnceServedAsTheKernelShowsItAndLetGoAtUnpublish() throws Exception {
        Path fixture = Fixtures.image("lz4");
        byte[] image = Files.readAllBytes(fixture);
        Digest digest = Digest.of(Digest.sha256().digest(image));
        Path kubelet = Files.createTempDirectory("kubelet").toRealPath();
        Path t1 = kubelet.resolve("pods/uid-1/mount");
        Path t2 = kubelet.resolve("pods/uid-2/mount");
        Path t3 = kubelet.resolve("pods/uid-3/mount");
        Files.createDirectories(t1.getParent());
        Files.createDirectories(t2.getParent());
        List<String> expected = KernelMount.manifestOfImage(fixture, kubelet.resolve("kernel"));
        // read here, not injected: test classes are beans of every test's application, most without this property
        Path certificateDir = org.eclipse.microprofile.config.ConfigProvider.getConfig().getValue("test.https.certificate-dir", Path.class);
        try (TestHttpsServer server = TestHttpsServer.start(TestHttpsServer.Certificate.in(certificateDir));
             UnixSocketClient c = new UnixSocketClient(socket)) {
            server.serve("/v2/app/blobs/lz4", image);
            server.redirect("/app.erofs", 307, "/v2/app/blobs/lz4");
            Map<String, String> ctx = Map.of("image", server.url("/app.erofs").toString(), "digest", digest.toString());
            c.node().nodePublishVolume(publish("vol-1", t1, ctx));
            c.node().nodePublishVolume(publish("vol-1", t1, ctx)); // again: OK, nothing fetched
            c.node().nodePublishVolume(publish("vol-2", t2, ctx));
            assertEquals(expected, Fixtures.manifestOfTree(t1), "the volume reads as the kernel's mount of the image");
            assertEquals(expected, Fixtures.manifestOfTree(t2));
            assertEquals(1, server.requests("/v2/app/blobs/lz4"), "downloaded once for both volumes");
            Path blob = state.blobs().pathOf(digest);
            assertEquals(3, mountsOf(blob), "one FUSE mount of the blob, and the two volumes' bind mounts of it");
            assertEquals(1, state.blobs().stats().held());

            String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(metricsUrl.toURI()).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            for (String line : List.of("csi_erofs_blob_downloads_total 1.0", "csi_erofs_blobs 1.0", "csi_erofs_blobs_held 1.0",
                    "csi_erofs_blob_bytes " + image.length + ".0", "csi_erofs_blob_downloaded_bytes_total " + image.length + ".0",
                    "csi_erofs_blob_download_failures_total 0.0", "csi_erofs_blob_budget_bytes ")) {
                assertTrue(metrics.contains(line), "metrics have " + line);
            }

            // what the spec's codes say about images that cannot be had; nothing is left of such publishes
            StatusRuntimeException e = failure(() -> c.node().nodePublishVolume(publish("vol-3", t3, Map.of("image",
                    server.url("/app.erofs").toString(), "digest", "sha256:" + "ab".repeat(32)))));
            assertEquals(Status.Code.FAILED_PRECONDITION, e.getStatus().getCode(), "a digest the server's content does not have");
            assertTrue(e.getStatus().getDescription().contains(digest.toString()), e.getStatus().getDescription());
            e = failure(() -> c.node().nodePublishVolume(publish("vol-3", t3, Map.of("image",
                    server.url("/nothing-here.erofs").toString(), "digest", "sha256:" + "cd".repeat(32)))));
            assertEquals(Status.Code.NOT_FOUND, e.getStatus().getCode());
            assertTrue(e.getStatus().getDescription().contains("404"), e.getStatus().getDescription());
            e = failure(() -> c.node().nodePublishVolume(publish("vol-3", t3, Map.of("image",
                    "https://127.0.0.1:1/app.erofs", "digest", "sha256:" + "ef".repeat(32)))));
            assertEquals(Status.Code.UNAVAILABLE, e.getStatus().getCode(), "no server: retryable");
            assertFalse(Files.exists(t3), "no target left by failed publishes");
            assertEquals(1, state.blobs().stats().blobs(), "nothing kept of the failed downloads");

            c.node().nodeUnpublishVolume(unpublish("vol-1", t1));
            assertEquals(1, state.blobs().stats().held(), "vol-2 still holds the blob");
            c.node().nodeUnpublishVolume(unpublish("vol-2", t2));
            assertEquals(0, state.blobs().stats().held(), "the last unpublish lets the blob go");
            assertEquals(0, mountsOf(blob));
            assertEquals(0, state.mounts().count());
            assertTrue(Files.exists(blob), "an unused blob stays while the budget has room");
        } finally {
            for (Path t : List.of(t1, t2, t3)) { // a failed test must not leave mounts behind
                while (!Mounts.at(t.toString()).isEmpty()) {
                    dev.csierofs.sys.Libc.umount2(t.toString(), dev.csierofs.sys.Libc.MNT_DETACH);
                }
            }
        }
    }
}
