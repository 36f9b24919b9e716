package dev.csierofs.csi;

import dev.csierofs.csi.v1.NodeGetInfoRequest;
import dev.csierofs.csi.v1.NodePublishVolumeRequest;
import dev.csierofs.csi.v1.NodeUnpublishVolumeRequest;
import dev.csierofs.csi.v1.ProbeRequest;
import dev.csierofs.csi.v1.VolumeCapability;
import dev.csierofs.erofs.Fixtures;
import dev.csierofs.sys.Mounts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged plugin as kubelet runs it (bin/csi-driver-erofs serve), killed with SIGKILL and
 * started again: the volumes it had published are published again (their targets read like the
 * kernel's mount of the image once more), new publishes work, and unpublishing everything leaves
 * no mount and no record behind.
 */
class PluginRestartIT {
    private static final Path ROOT = Path.of(System.getProperty("project.root", "..")).toAbsolutePath().normalize();

    private static Process serve(Path tmp, Path socket, String... more) throws Exception {
        return serve(tmp, tmp.resolve("state"), socket, more);
    }

    /** Starts the packaged plugin (log in {@code tmp/serve.log}, images in {@code tmp/images}) and waits until Probe says ready. */
    static Process serve(Path tmp, Path state, Path socket, String... more) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ROOT.resolve("bin/csi-driver-erofs").toString(), "serve", "--endpoint",
                "unix://" + socket, "--node-id", "it-node", "--state-dir", state.toString(), "--image-root",
                tmp.resolve("images").toString(), "--metrics-port", "0"));
        cmd.addAll(List.of(more));
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(tmp.resolve("serve.log").toFile())).start();
        long deadline = System.nanoTime() + 180_000_000_000L; // the first start after a build records the class cache: over a minute on a loaded 2-core machine
        while (true) {
            assertTrue(p.isAlive(), "serve exited: " + Files.readString(tmp.resolve("serve.log")));
            assertTrue(System.nanoTime() < deadline, "serve not ready within 180 s");
            if (Files.exists(socket)) {
                try (UnixSocketClient c = new UnixSocketClient(socket.toString())) {
                    if (c.identity().probe(ProbeRequest.getDefaultInstance()).getReady().getValue()) {
                        return p;
                    }
                } catch (RuntimeException notYet) {
                    // socket not accepting yet
                }
            }
            Thread.sleep(100);
        }
    }

    private static NodePublishVolumeRequest publish(String id, Path target) {
        return NodePublishVolumeRequest.newBuilder().setVolumeId(id).setTargetPath(target.toString()).setReadonly(true)
                .setVolumeCapability(VolumeCapability.newBuilder().setMount(VolumeCapability.MountVolume.getDefaultInstance())
                        .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                                .setMode(VolumeCapability.AccessMode.Mode.MULTI_NODE_READER_ONLY)))
                .putAllVolumeContext(Map.of("image", "sample.erofs")).build();
    }

    private static long ours(Path image) throws Exception {
        return Mounts.read().stream().filter(e -> e.fsType().equals("fuse.erofs") && e.source().equals(image.toString())).count();
    }

    @Test
    void volumesArePublishedAgainAfterAKill(@TempDir Path tmp) throws Exception {
        Path images = Files.createDirectories(tmp.resolve("images"));
        Path image = Files.copy(ROOT.resolve("examples/sample.erofs"), images.resolve("sample.erofs")).toRealPath();
        Path socket = tmp.resolve("csi/csi.sock");
        Path kernel = Files.createDirectories(tmp.resolve("kernel"));
        List<String> expected = dev.csierofs.erofs.KernelMount.manifestOfImage(image, kernel);
        List<Path> targets = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            targets.add(Files.createDirectories(tmp.resolve("pods/uid-" + i + "/volumes/kubernetes.io~csi/pv")).resolve("mount"));
        }
        Process plugin = serve(tmp, socket);
        try {
            try (UnixSocketClient c = new UnixSocketClient(socket.toString())) {
                assertEquals("it-node", c.node().nodeGetInfo(NodeGetInfoRequest.getDefaultInstance()).getNodeId());
                for (int i = 0; i < 3; i++) {
                    c.node().nodePublishVolume(publish("vol-" + i, targets.get(i)));
                }
            }
            for (Path t : targets) {
                assertEquals(expected, Fixtures.manifestOfTree(t));
            }
            plugin.destroyForcibly().waitFor(); // SIGKILL: no clean-up at all
            assertThrows(IOException.class, () -> Files.readAllBytes(targets.get(0).resolve("etc/sample.conf")),
                    "with the plugin gone the old mount cannot serve");

            plugin = serve(tmp, socket, "--writable-requests", "read-only");
            for (Path t : targets) {
                assertEquals(expected, Fixtures.manifestOfTree(t), "published again after the restart: " + t + "; the plugin said:\n"
                        + Files.readString(tmp.resolve("serve.log")));
            }
            Path fresh = Files.createDirectories(tmp.resolve("pods/uid-new/volumes/kubernetes.io~csi/pv")).resolve("mount");
            try (UnixSocketClient c = new UnixSocketClient(socket.toString())) {
                // as csi-sanity asks: readonly=false, published read-only all the same with --writable-requests read-only
                c.node().nodePublishVolume(publish("vol-new", fresh).toBuilder().setReadonly(false).build());
                assertEquals(expected, Fixtures.manifestOfTree(fresh));
                assertTrue(Mounts.top(fresh.toString()).orElseThrow().hasMountOption("ro"), "published read-only");
                for (int i = 0; i < 3; i++) {
                    c.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId("vol-" + i)
                            .setTargetPath(targets.get(i).toString()).build());
                }
                c.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId("vol-new")
                        .setTargetPath(fresh.toString()).build());
            }
            for (Path t : targets) {
                assertFalse(Files.exists(t), "unpublished target still there: " + t);
            }
            assertEquals(1, ours(image), "the image mount stays for the grace period (default 5 min), without its volumes");
            try (var records = Files.list(tmp.resolve("state/volumes"))) {
                assertEquals(0, records.count(), "volume records left");
            }
            plugin.destroy(); // SIGTERM: the plugin unmounts its images
            assertTrue(plugin.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "serve did not exit on SIGTERM");
            assertEquals(0, plugin.exitValue(), "SIGTERM is an orderly stop: exit status 0");
            assertEquals(0, ours(image), "a mount of the image is left after the plugin stopped");
        } finally {
            plugin.destroy();
            plugin.waitFor();
            for (Mounts.Entry e : Mounts.read()) { // never leave mounts inside the temp dir, whatever failed
                if (e.mountPoint().startsWith(tmp.toRealPath().toString())) {
                    new ProcessBuilder("umount", "-l", e.mountPoint()).inheritIO().start().waitFor();
                }
            }
        }
    }

    /** Without a usable /dev/fuse the plugin says why and never says ready. */
    @Test
    void withoutDevFuseThePluginNamesTheProblemAndIsNotReady(@TempDir Path tmp) throws Exception {
        Files.createDirectories(tmp.resolve("images"));
        Path socket = tmp.resolve("csi/csi.sock");
        Path blocker = tmp.resolve("not-fuse.sock"); // open(2) of a socket fails (ENXIO): a /dev/fuse that cannot be used
        try (var s = java.nio.channels.ServerSocketChannel.open(java.net.StandardProtocolFamily.UNIX)) {
            s.bind(java.net.UnixDomainSocketAddress.of(blocker));
            String serve = String.join(" ", ROOT.resolve("bin/csi-driver-erofs").toString(), "serve", "--endpoint", "unix://" + socket,
                    "--node-id", "it-node", "--state-dir", tmp.resolve("state").toString(), "--image-root",
                    tmp.resolve("images").toString(), "--metrics-port", "0");
            Process p = new ProcessBuilder("unshare", "-m", "--propagation", "private", "sh", "-c",
                    "mount --bind " + blocker + " /dev/fuse && exec " + serve)
                    .redirectErrorStream(true).redirectOutput(tmp.resolve("serve.log").toFile()).start();
            try {
                long deadline = System.nanoTime() + 180_000_000_000L; // the first start after a build records the class cache: over a minute on a loaded 2-core machine
                while (!Files.readString(tmp.resolve("serve.log")).contains("cannot open /dev/fuse")) {
                    assertTrue(p.isAlive(), "serve exited: " + Files.readString(tmp.resolve("serve.log")));
                    assertTrue(System.nanoTime() < deadline, "no word about /dev/fuse within 180 s: " + Files.readString(tmp.resolve("serve.log")));
                    Thread.sleep(100);
                }
                assertTrue(Files.readString(tmp.resolve("serve.log")).contains("modprobe fuse"), "the log says what to do");
                Boolean ready = null;
                while (ready == null) { // the socket is bound once start-up is over
                    assertTrue(System.nanoTime() < deadline, "the socket never answered: " + Files.readString(tmp.resolve("serve.log")));
                    try (UnixSocketClient c = new UnixSocketClient(socket.toString())) {
                        ready = c.identity().probe(ProbeRequest.getDefaultInstance()).getReady().getValue();
                    } catch (RuntimeException notYet) {
                        Thread.sleep(100);
                    }
                }
                assertFalse(ready, "Probe says not ready");
            } finally {
                p.destroy();
                p.waitFor();
            }
        }
    }
}
