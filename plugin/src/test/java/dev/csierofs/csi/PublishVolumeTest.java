package dev.csierofs.csi;

import dev.csierofs.cas.Digest;
import dev.csierofs.csi.v1.NodePublishVolumeRequest;
import dev.csierofs.csi.v1.NodeUnpublishVolumeRequest;
import dev.csierofs.csi.v1.VolumeCapability;
import dev.csierofs.erofs.Fixtures;
import dev.csierofs.sys.Mounts;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** NodePublishVolume / NodeUnpublishVolume over the real socket, with real mounts, the kernel as oracle. */
@QuarkusTest
class PublishVolumeTest {
    @ConfigProperty(name = "quarkus.http.domain-socket")
    String socket;

    @ConfigProperty(name = "csi.image-root")
    Path imageRoot;

    @Inject
    NodeState state;

    @io.quarkus.test.common.http.TestHTTPResource(value = "metrics", management = true)
    java.net.URL metricsUrl;

    private static final VolumeCapability MOUNT = VolumeCapability.newBuilder()
            .setMount(VolumeCapability.MountVolume.getDefaultInstance())
            .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(VolumeCapability.AccessMode.Mode.MULTI_NODE_READER_ONLY))
            .build();

    private static NodePublishVolumeRequest.Builder publish(String volumeId, Path target, Map<String, String> ctx) {
        return NodePublishVolumeRequest.newBuilder().setVolumeId(volumeId).setTargetPath(target.toString())
                .setVolumeCapability(MOUNT).setReadonly(true).putAllVolumeContext(ctx);
    }

    private static Status.Code code(Runnable call) {
        return assertThrows(StatusRuntimeException.class, call::run).getStatus().getCode();
    }

    private static long erofsMounts(Path image) throws Exception {
        return Mounts.read().stream().filter(e -> e.fsType().equals("fuse.erofs") && e.source().equals(image.toString())).count();
    }

    @Test
    void publishesReadOnlyBindMountsOfOneSharedImageMount() throws Exception {
        Path root = Files.createDirectories(imageRoot).toRealPath();
        Path image = Files.copy(Path.of("../examples/sample.erofs"), root.resolve("sample.erofs"), StandardCopyOption.REPLACE_EXISTING);
        String digest = "sha256:" + HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(image)));
        Path kubelet = Files.createTempDirectory("kubelet").toRealPath();
        Path t1 = Files.createDirectories(kubelet.resolve("pods/uid-1/volumes/kubernetes.io~csi/pv-1")).resolve("mount");
        Path t2 = Files.createDirectories(kubelet.resolve("pods/uid-2/volumes/kubernetes.io~csi/pv-2")).resolve("mount");
        Path kernel = Files.createDirectories(kubelet.resolve("kernel"));
        List<String> expected = dev.csierofs.erofs.KernelMount.manifestOfImage(image, kernel);
        try (UnixSocketClient c = new UnixSocketClient(socket)) {
            c.node().nodePublishVolume(publish("vol-1", t1, Map.of("image", "sample.erofs", "digest", digest)).build());
            c.node().nodePublishVolume(publish("vol-1", t1, Map.of("image", "sample.erofs", "digest", digest)).build()); // again: OK
            c.node().nodePublishVolume(publish("vol-2", t2, Map.of("image", "/sample.erofs")).build());
            assertEquals(expected, Fixtures.manifestOfTree(t1), "the volume reads as the kernel's mount of the image");
            assertEquals(expected, Fixtures.manifestOfTree(t2));
            assertEquals(1, state.mounts().count(), "one FUSE mount for the image, shared by both volumes");
            String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(metricsUrl.toURI()).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            assertTrue(metrics.contains("csi_erofs_volumes_published 2.0"), "volumes gauge");
            assertTrue(metrics.contains("csi_erofs_image_mounts 1.0"), "mounts gauge");
            assertTrue(metrics.contains("csi_erofs_page_cache_max_bytes 6.7108864E7"), "the page cache limit (%test: 64M)");
            assertTrue(metrics.matches("(?s).*grpc_server_processing_duration_seconds_count\\{[^}]*method=\"NodePublishVolume\"[^}]*\\} [1-9].*"),
                    "publish latency by method and result");
            assertEquals(3, erofsMounts(image), "the image's FUSE mount and two bind mounts of it");
            assertTrue(Mounts.top(t1.toString()).orElseThrow().hasMountOption("ro"), "the target is a read-only mount");
            assertThrows(java.io.IOException.class, () -> Files.writeString(t1.resolve("new-file"), "x"));

            var stats = c.node().nodeGetVolumeStats(dev.csierofs.csi.v1.NodeGetVolumeStatsRequest.newBuilder()
                    .setVolumeId("vol-1").setVolumePath(t1.toString()).build());
            assertEquals(2, stats.getUsageCount());
            assertEquals(Files.size(image), stats.getUsage(0).getTotal(), "bytes: the image's blocks");
            assertEquals(0, stats.getUsage(0).getAvailable(), "a read-only image has nothing available");
            assertFalse(stats.getVolumeCondition().getAbnormal(), stats.getVolumeCondition().getMessage());
            assertEquals(Status.Code.NOT_FOUND, code(() -> c.node().nodeGetVolumeStats(dev.csierofs.csi.v1.NodeGetVolumeStatsRequest
                    .newBuilder().setVolumeId("vol-2").setVolumePath(t1.toString()).build())));
            assertEquals(Status.Code.ALREADY_EXISTS, code(() -> c.node().nodePublishVolume(
                    publish("vol-3", t1, Map.of("image", "sample.erofs")).build())));
            assertEquals(Status.Code.ALREADY_EXISTS, code(() -> c.node().nodePublishVolume(
                    publish("vol-1", t1, Map.of("image", "sample.erofs")).build())), "same volume, other attributes");

            c.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId("vol-1").setTargetPath(t1.toString()).build());
            assertFalse(Files.exists(t1), "unpublish deletes the target");
            assertEquals(2, erofsMounts(image), "vol-2 still has the image");
            c.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId("vol-2").setTargetPath(t2.toString()).build());
            c.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId("vol-2").setTargetPath(t2.toString()).build());
            assertEquals(0, erofsMounts(image), "the last volume took the image mount with it");
            assertEquals(0, state.mounts().count());
        }
    }

    /** A two-layer volume reads like the kernel's overlayfs of the kernel's mounts of its layers; volumes of one stack share its mount. */
    @Test
    void publishesALayerStackMergedInsideTheDaemon() throws Exception {
        Path root = Files.createDirectories(imageRoot).toRealPath();
        Path base = Files.copy(Fixtures.image("deb15-lz4hc"), root.resolve("base.erofs"), StandardCopyOption.REPLACE_EXISTING);
        Path top = Files.copy(Path.of("../examples/sample.erofs"), root.resolve("sample.erofs"), StandardCopyOption.REPLACE_EXISTING);
        String digests = "sha256:" + HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(base))) + ",sha256:"
                + HexFormat.of().formatHex(Digest.sha256().digest(Files.readAllBytes(top)));
        Path kubelet = Files.createTempDirectory("kubelet").toRealPath();
        Path t1 = kubelet.resolve("pods/uid-1/volumes/kubernetes.io~csi/app/mount");
        Path t2 = kubelet.resolve("pods/uid-2/volumes/kubernetes.io~csi/app/mount");
        Path t3 = kubelet.resolve("pods/uid-3/volumes/kubernetes.io~csi/base/mount");
        List<String> expected = dev.csierofs.erofs.KernelMount.manifestOfOverlay(List.of(base, top), kubelet.resolve("kernel"));
        try (UnixSocketClient c = new UnixSocketClient(socket)) {
            Map<String, String> stack = Map.of("layers", "base.erofs, sample.erofs", "digests", digests);
            c.node().nodePublishVolume(publish("app-1", t1, stack).build());
            c.node().nodePublishVolume(publish("app-2", t2, stack).build());
            c.node().nodePublishVolume(publish("base-1", t3, Map.of("image", "base.erofs")).build());
            assertEquals(expected, Fixtures.manifestOfTree(t1), "the stack reads as the kernel's overlayfs of its layers");
            assertEquals(expected, Fixtures.manifestOfTree(t2));
            assertEquals(2, state.mounts().count(), "one FUSE mount for the stack (shared by two volumes), one for the lone layer");
            var stats = c.node().nodeGetVolumeStats(dev.csierofs.csi.v1.NodeGetVolumeStatsRequest.newBuilder()
                    .setVolumeId("app-1").setVolumePath(t1.toString()).build());
            assertEquals(Files.size(base) + Files.size(top), stats.getUsage(0).getTotal(), "bytes: both layers' blocks");
            for (var v : List.of(Map.entry("app-1", t1), Map.entry("app-2", t2), Map.entry("base-1", t3))) {
                c.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId(v.getKey())
                        .setTargetPath(v.getValue().toString()).build());
            }
            assertEquals(0, state.mounts().count());
        }
    }

    @Test
    void badRequestsGetTheSpecsCodesAndLeaveNothingBehind() throws Exception {
        Path root = Files.createDirectories(imageRoot).toRealPath();
        Files.copy(Path.of("../examples/sample.erofs"), root.resolve("sample.erofs"), StandardCopyOption.REPLACE_EXISTING);
        Path kubelet = Files.createTempDirectory("kubelet").toRealPath();
        Path t = kubelet.resolve("mount");
        Map<String, String> ok = Map.of("image", "sample.erofs");
        try (UnixSocketClient c = new UnixSocketClient(socket)) {
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> c.node().nodePublishVolume(publish("v", t, ok).setReadonly(false).build())));
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> c.node().nodePublishVolume(publish("", t, ok).build())));
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> c.node().nodePublishVolume(publish("v", t, ok).clearVolumeCapability().build())));
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> c.node().nodePublishVolume(publish("v", t, ok).setVolumeCapability(
                    VolumeCapability.newBuilder().setBlock(VolumeCapability.BlockVolume.getDefaultInstance())).build())));
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> c.node().nodePublishVolume(
                    publish("v", t, Map.of("image", "../sample.erofs")).build())));
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> c.node().nodePublishVolume(
                    publish("v", t, Map.of("image", "sample.erofs", "digest", "sha256:" + "00".repeat(32))).build())), "wrong digest");
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> c.node().nodePublishVolume(
                    publish("v", t, Map.of("layers", "sample.erofs,sample.erofs", "digests", "sha256:" + "00".repeat(32) + ",sha256:"
                            + "11".repeat(32))).build())), "wrong layer digests");
            assertEquals(Status.Code.INVALID_ARGUMENT, code(() -> c.node().nodeUnpublishVolume(
                    NodeUnpublishVolumeRequest.newBuilder().setTargetPath(t.toString()).build())));
            c.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId("never").setTargetPath(t.toString()).build());
        }
        assertFalse(Files.exists(t), "no target left by failed publishes");
        assertEquals(0, state.mounts().count(), "no image mount left by failed publishes");
    }

    /** Publishes of many targets and of one target at once: all succeed, one image mount, nothing left after. */
    @Test
    void concurrentPublishesOfTheSameAndOfDifferentTargets() throws Exception {
        Path root = Files.createDirectories(imageRoot).toRealPath();
        Path image = Files.copy(Path.of("../examples/sample.erofs"), root.resolve("sample.erofs"), StandardCopyOption.REPLACE_EXISTING);
        Path kubelet = Files.createTempDirectory("kubelet").toRealPath();
        List<Path> targets = new java.util.ArrayList<>();
        for (int i = 0; i < 8; i++) {
            targets.add(kubelet.resolve("t" + i));
        }
        java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(12);
        try (UnixSocketClient c = new UnixSocketClient(socket)) {
            List<java.util.concurrent.Future<?>> calls = new java.util.ArrayList<>();
            for (int i = 0; i < 8; i++) {
                Path t = targets.get(i);
                String id = "vol-" + i;
                calls.add(pool.submit(() -> c.node().nodePublishVolume(publish(id, t, Map.of("image", "sample.erofs")).build())));
            }
            for (int i = 0; i < 4; i++) { // the same target, the same volume, four times at once
                calls.add(pool.submit(() -> c.node().nodePublishVolume(publish("vol-0", targets.get(0), Map.of("image", "sample.erofs")).build())));
            }
            for (var f : calls) {
                f.get();
            }
            assertEquals(1, state.mounts().count(), "one image mount for all");
            assertEquals(9, erofsMounts(image), "the image mount and 8 bind mounts");
            for (Path t : targets) {
                assertTrue(Files.exists(t.resolve("etc/sample.conf")), t + " serves the image");
            }
            calls.clear();
            for (int i = 0; i < 8; i++) {
                Path t = targets.get(i);
                String id = "vol-" + i;
                calls.add(pool.submit(() -> c.node().nodeUnpublishVolume(
                        NodeUnpublishVolumeRequest.newBuilder().setVolumeId(id).setTargetPath(t.toString()).build())));
            }
            for (var f : calls) {
                f.get();
            }
        } finally {
            pool.shutdownNow();
        }
        assertEquals(0, erofsMounts(image), "nothing left mounted");
        assertEquals(0, state.mounts().count());
    }

    /**
     * Requests a wrong or malicious caller could send (issue 14): each gets its own code and a
     * message naming the problem, and nothing the plugin did not publish is touched.
     */
    @Test
    void hostileRequestsGetTheirCodesAndTouchNothingThatIsNotOurs() throws Exception {
        Path root = Files.createDirectories(imageRoot).toRealPath();
        Path image = Files.copy(Path.of("../examples/sample.erofs"), root.resolve("sample.erofs"), StandardCopyOption.REPLACE_EXISTING);
        Files.write(root.resolve("empty.erofs"), new byte[0]);
        byte[] noise = new byte[65536];
        new java.util.Random(14).nextBytes(noise);
        Files.write(root.resolve("random.erofs"), noise);
        Path kubelet = Files.createTempDirectory("kubelet").toRealPath();
        Path pod = Files.createDirectories(kubelet.resolve("pods/uid-a/volumes/kubernetes.io~csi/a"));
        Path a = pod.resolve("mount");
        Path file = Files.writeString(kubelet.resolve("a-file"), "never deleted");
        Path full = Files.createDirectories(kubelet.resolve("full"));
        Files.writeString(full.resolve("keep"), "never hidden");
        Path link = Files.createSymbolicLink(kubelet.resolve("link"), a);
        Path tmpfs = Files.createDirectories(kubelet.resolve("tmpfs"));
        Path b = kubelet.resolve("pods/uid-b/volumes/kubernetes.io~csi/b/mount");
        Map<String, String> sample = Map.of("image", "sample.erofs");
        List<Path> layerNames = new java.util.ArrayList<>();
        dev.csierofs.sys.Libc.mount("test-foreign", tmpfs.toString(), "tmpfs", 0, "size=1m");
        try (UnixSocketClient c = new UnixSocketClient(socket)) {
            // published through a path with /./ in it: recorded and mounted at the canonical path
            c.node().nodePublishVolume(publish("vol-a", pod.getParent().resolve("./a/./mount"), sample).build());
            assertEquals(1, Mounts.at(a.toString()).size(), "mounted at the canonical path");

            // item 1: unpublish acts only on what was published, for that volume id
            c.node().nodeUnpublishVolume(unpublish("no-such-volume", file));
            assertEquals("never deleted", Files.readString(file), "an unknown volume's unpublish never deletes a file");
            c.node().nodeUnpublishVolume(unpublish("no-such-volume", full));
            assertTrue(Files.exists(full.resolve("keep")));
            c.node().nodeUnpublishVolume(unpublish("no-such-volume", tmpfs));
            assertEquals("tmpfs", Mounts.top(tmpfs.toString()).orElseThrow().fsType(), "a foreign mount is left mounted");
            c.node().nodeUnpublishVolume(unpublish("no-such-volume", link));
            assertTrue(Files.isSymbolicLink(link));
            StatusRuntimeException wrong = assertThrows(StatusRuntimeException.class,
                    () -> c.node().nodeUnpublishVolume(unpublish("wrong-id", pod.resolve("./mount"))));
            assertEquals(Status.Code.NOT_FOUND, wrong.getStatus().getCode());
            assertTrue(wrong.getStatus().getDescription().contains("wrong-id") && wrong.getStatus().getDescription().contains("vol-a"),
                    wrong.getStatus().getDescription());
            assertEquals(1, Mounts.at(a.toString()).size(), "another volume's unpublish leaves vol-a mounted");

            // item 2: compared by canonical path, symlinks and foreign mounts refused, nothing stacked
            assertEquals(Status.Code.ALREADY_EXISTS, code(() -> c.node().nodePublishVolume(
                    publish("vol-b", pod.resolve("./mount"), sample).build())));
            c.node().nodePublishVolume(publish("vol-a", pod.resolve("../a/mount"), sample).build()); // the same: idempotent
            assertDescribes(Status.Code.FAILED_PRECONDITION, "symlink", () -> c.node().nodePublishVolume(publish("vol-b", link, sample).build()));
            assertDescribes(Status.Code.FAILED_PRECONDITION, "tmpfs", () -> c.node().nodePublishVolume(
                    publish("vol-b", tmpfs.resolve("."), sample).build()));
            assertDescribes(Status.Code.FAILED_PRECONDITION, a.toString(), () -> c.node().nodePublishVolume(
                    publish("vol-b", pod, sample).build()));
            assertEquals(1, Mounts.at(a.toString()).size(), "nothing stacked on vol-a");
            assertEquals(1, Mounts.at(tmpfs.toString()).size(), "nothing stacked on the tmpfs");

            // item 6: codes for the caller's and the node's mistakes
            assertDescribes(Status.Code.FAILED_PRECONDITION, "is a file", () -> c.node().nodePublishVolume(publish("vol-c", file, sample).build()));
            assertDescribes(Status.Code.FAILED_PRECONDITION, "not empty", () -> c.node().nodePublishVolume(publish("vol-c", full, sample).build()));
            assertDescribes(Status.Code.INVALID_ARGUMENT, "too small", () -> c.node().nodePublishVolume(
                    publish("vol-c", b, Map.of("image", "empty.erofs")).build()));
            assertDescribes(Status.Code.INVALID_ARGUMENT, "bad magic", () -> c.node().nodePublishVolume(
                    publish("vol-c", b, Map.of("image", "random.erofs")).build()));
            assertDescribes(Status.Code.INVALID_ARGUMENT, "at most 127", () -> c.node().nodePublishVolume(
                    publish("vol-c", b, Map.of("layers", String.join(",", java.util.Collections.nCopies(1000, "sample.erofs")))).build()));
            assertFalse(Files.exists(b), "no target left by the refused publishes");
            assertEquals("never deleted", Files.readString(file));
            assertTrue(Files.exists(full.resolve("keep")));

            // 127 layers named by 200-byte names: the mount source does not limit a stack
            for (int i = 0; i < 127; i++) {
                layerNames.add(Files.createLink(root.resolve("l".repeat(200) + "-" + i + ".erofs"), image));
            }
            c.node().nodePublishVolume(publish("vol-127", b, Map.of("layers", String.join(",",
                    layerNames.stream().map(p -> p.getFileName().toString()).toList()))).build());
            assertEquals(Files.readString(a.resolve("etc/sample.conf")), Files.readString(b.resolve("etc/sample.conf")));
            c.node().nodeUnpublishVolume(unpublish("vol-127", b));
            c.node().nodeUnpublishVolume(unpublish("vol-a", pod.resolve("./mount")));
            assertFalse(Files.exists(a), "unpublished through another spelling of its path");
            assertEquals(0, state.mounts().count());
        } finally {
            dev.csierofs.sys.Libc.umount2(tmpfs.toString(), 0);
            for (Path p : layerNames) {
                Files.deleteIfExists(p);
            }
            for (Path t : List.of(a, b)) {
                while (!Mounts.at(t.toString()).isEmpty()) {
                    dev.csierofs.sys.Libc.umount2(t.toString(), dev.csierofs.sys.Libc.MNT_DETACH);
                }
            }
        }
    }

    private static NodeUnpublishVolumeRequest unpublish(String volumeId, Path target) {
        return NodeUnpublishVolumeRequest.newBuilder().setVolumeId(volumeId).setTargetPath(target.toString()).build();
    }

    private static void assertDescribes(Status.Code expected, String word, Runnable call) {
        Status s = assertThrows(StatusRuntimeException.class, call::run).getStatus();
        assertEquals(expected, s.getCode(), s.getDescription());
        assertTrue(s.getDescription().contains(word), "the message names '" + word + "': " + s.getDescription());
    }
}
