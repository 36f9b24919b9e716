package dev.csierofs.volumes;

import dev.csierofs.blobs.BlobStore;
import dev.csierofs.blobs.HttpsFetcher;
import dev.csierofs.blobs.TestHttpsServer;
import dev.csierofs.cas.Digest;
import dev.csierofs.erofs.Fixtures;
import dev.csierofs.fs.ContentSharing;
import dev.csierofs.mounts.ImageMounts;
import dev.csierofs.sys.Mounts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Volumes of https:// images: the blob is held while published, let go on failure and unpublish, taken again after a restart. */
class HttpsVolumesTest {

    /** The node's parts over one state directory, as a plugin process has them. */
    private record Node(ImageMounts mounts, BlobStore blobs, Volumes volumes) implements AutoCloseable {
        static Node start(Path state, TestHttpsServer.Certificate cert) throws IOException {
            ImageMounts mounts = new ImageMounts(state.resolve("mounts"), ContentSharing.none(), Duration.ZERO);
            BlobStore blobs = BlobStore.open(state.resolve("blobs"), 1L << 30, new HttpsFetcher(
                    HttpsFetcher.trusting(Optional.of(cert.pem())), Duration.ofSeconds(5), Duration.ofSeconds(10)));
            return new Node(mounts, blobs, new Volumes(state.resolve("images"), mounts, blobs, state.resolve("volumes")));
        }

        /** As the process ends: its FUSE mounts go with it, the volume records stay. */
        @Override
        public void close() {
            mounts.close();
            blobs.close();
        }
    }

    @Test
    void theBlobIsHeldWhilePublishedReleasedAfterAndTakenAgainAfterARestart(@TempDir Path tmp) throws Exception {
        Path state = tmp.resolve("state");
        Files.createDirectories(state.resolve("images"));
        byte[] image = Files.readAllBytes(Fixtures.image("lz4"));
        Digest digest = Digest.of(Digest.sha256().digest(image));
        Path target = tmp.resolve("pod/mount");
        Files.createDirectories(target.getParent());
        TestHttpsServer.Certificate cert = TestHttpsServer.Certificate.create(tmp.resolve("cert"));
        List<String> leftovers;
        List<String> expected = dev.csierofs.erofs.KernelMount.manifestOfImage(Fixtures.image("lz4"), tmp.resolve("kernel"));
        try (TestHttpsServer server = TestHttpsServer.start(cert)) {
            server.serve("/lz4.erofs", image);
            Map<String, String> context = Map.of("image", server.url("/lz4.erofs").toString(), "digest", digest.toString());
            try (Node node = Node.start(state, cert)) {
                node.volumes().publish("vol-1", target, context);
                assertEquals(expected, Fixtures.manifestOfTree(target), "the target reads as the kernel's mount of the image");
                assertEquals(1, node.blobs().stats().held());
                String imageMounts = state.resolve("mounts").toRealPath() + "/";
                assertEquals(node.blobs().pathOf(digest).toString(), Mounts.read().stream()
                        .filter(e -> e.mountPoint().startsWith(imageMounts)).findFirst().orElseThrow().source(),
                        "the image mount is of the blob");
            }
            try (Node restarted = Node.start(state, cert)) {
                Volumes.Recovery r = restarted.volumes().recover();
                assertEquals(List.of(target), r.republished(), "failed: " + r.failed());
                assertEquals(1, restarted.blobs().stats().held(), "the recovered volume holds its blob again");
                assertEquals(1, server.requests("/lz4.erofs"), "the blob on disk was checked, not downloaded again");
                assertEquals(expected, Fixtures.manifestOfTree(target), "the target serves the image again");
                restarted.volumes().unpublish("vol-1", target);
                assertEquals(0, restarted.blobs().stats().held(), "unpublish lets the blob go");
                assertEquals(0, restarted.mounts().count());
            }
        } finally {
            leftovers = detachAllUnder(tmp);
        }
        assertEquals(List.of(), leftovers, "nothing left mounted");
    }

    /** Detaches whatever is mounted under {@code dir} (a failed test must not leave mounts behind); returns what it found. */
    private static List<String> detachAllUnder(Path dir) throws IOException {
        String prefix = dir.toRealPath() + "/";
        List<String> found = Mounts.read().stream().map(Mounts.Entry::mountPoint).filter(m -> m.startsWith(prefix)).toList();
        for (String m : found.reversed()) {
            dev.csierofs.sys.Libc.umount2(m, dev.csierofs.sys.Libc.MNT_DETACH);
        }
        return found;
    }

    @Test
    void aFailedPublishLetsItsBlobGo(@TempDir Path tmp) throws Exception {
        Path state = tmp.resolve("state");
        Files.createDirectories(state.resolve("images"));
        byte[] notAnImage = new byte[64 << 10];
        new java.util.Random(7).nextBytes(notAnImage);
        Digest digest = Digest.of(Digest.sha256().digest(notAnImage));
        Path target = tmp.resolve("pod/mount");
        TestHttpsServer.Certificate cert = TestHttpsServer.Certificate.create(tmp.resolve("cert"));
        List<String> leftovers;
        try (TestHttpsServer server = TestHttpsServer.start(cert); Node node = Node.start(state, cert)) {
            server.serve("/random.bin", notAnImage);
            // the download is what the digest says, but no EROFS image: the volume names a wrong image
            InvalidVolumeException e = assertThrows(InvalidVolumeException.class, () -> node.volumes().publish("vol-1", target,
                    Map.of("image", server.url("/random.bin").toString(), "digest", digest.toString())));
            assertTrue(e.getMessage().contains(server.url("/random.bin").toString()) && e.getMessage().contains("bad magic"),
                    e.getMessage());
            assertEquals(1, node.blobs().stats().blobs(), "downloaded and verified");
            assertEquals(0, node.blobs().stats().held(), "but not held by the volume that failed");
            assertFalse(Files.exists(target), "no target left");
            assertEquals(Map.of(), node.volumes().published());
            assertEquals(0, node.mounts().count());
        } finally {
            leftovers = detachAllUnder(tmp);
        }
        assertEquals(List.of(), leftovers, "nothing left mounted");
    }
}
