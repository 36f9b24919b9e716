package dev.csierofs.csi;

import dev.csierofs.cas.Digest;
import dev.csierofs.csi.v1.NodeGetVolumeStatsRequest;
import dev.csierofs.csi.v1.NodePublishVolumeRequest;
import dev.csierofs.csi.v1.NodeUnpublishVolumeRequest;
import dev.csierofs.csi.v1.ProbeRequest;
import dev.csierofs.csi.v1.VolumeCapability;
import dev.csierofs.sys.Mounts;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The packaged plugin (bin/csi-driver-erofs serve) on a hostile node: another user of the host
 * (nobody) reading its state, a state directory on a small filesystem that fills up, and a
 * recorded volume that cannot be published again after a restart.
 */
class HostileNodeIT {
    private static final int MIB = 1 << 20;

    private static NodePublishVolumeRequest publish(String id, Path target, String image) {
        return NodePublishVolumeRequest.newBuilder().setVolumeId(id).setTargetPath(target.toString()).setReadonly(true)
                .setVolumeCapability(VolumeCapability.newBuilder().setMount(VolumeCapability.MountVolume.getDefaultInstance())
                        .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                                .setMode(VolumeCapability.AccessMode.Mode.MULTI_NODE_READER_ONLY)))
                .putAllVolumeContext(Map.of("image", image)).build();
    }

    private static NodeUnpublishVolumeRequest unpublish(String id, Path target) {
        return NodeUnpublishVolumeRequest.newBuilder().setVolumeId(id).setTargetPath(target.toString()).build();
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
        return out;
    }

    /** Runs {@code cmd} as user nobody; returns its exit status and output. */
    private static Map.Entry<Integer, String> asNobody(String... cmd) throws Exception {
        List<String> full = new ArrayList<>(List.of("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"));
        full.addAll(List.of(cmd));
        Process p = new ProcessBuilder(full).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.ISO_8859_1);
        return Map.entry(p.waitFor(), out);
    }

    private static String sha(byte[] b) {
        return HexFormat.of().formatHex(Digest.sha256().digest(b));
    }

    private static Map<String, String> hashes(Path root) throws IOException {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                out.put(root.relativize(p).toString(), sha(Files.readAllBytes(p)));
            }
        }
        return out;
    }

    /** An image of {@code n} random files of {@code size} bytes (seeded) plus {@code extra}; returns what it holds. */
    private static Map<String, String> image(Path tmp, String name, int seed, int n, int size, Map<String, byte[]> extra)
            throws Exception {
        Path src = tmp.resolve("src-" + name);
        Files.createDirectories(src);
        Random r = new Random(seed);
        Map<String, String> expected = new TreeMap<>();
        for (int i = 0; i < n; i++) {
            byte[] b = new byte[size];
            r.nextBytes(b);
            Files.write(src.resolve("f" + i + ".bin"), b);
            expected.put("f" + i + ".bin", sha(b));
        }
        for (var e : extra.entrySet()) {
            Files.write(src.resolve(e.getKey()), e.getValue());
            expected.put(e.getKey(), sha(e.getValue()));
        }
        run("mkfs.erofs", "--quiet", tmp.resolve("images").resolve(name).toString(), src.toString());
        return expected;
    }

    private static String mode(Path p) throws IOException {
        return PosixFilePermissions.toString(Files.getPosixFilePermissions(p, java.nio.file.LinkOption.NOFOLLOW_LINKS));
    }

    private static void cleanUp(Process plugin, Path tmp) throws Exception {
        if (plugin != null) {
            plugin.destroy();
            plugin.waitFor();
        }
        String under = tmp.toRealPath().toString();
        List<Mounts.Entry> ours = Mounts.read().stream().filter(e -> e.mountPoint().startsWith(under)).toList();
        for (Mounts.Entry e : ours.reversed()) { // never leave mounts inside the temp dir, whatever failed
            new ProcessBuilder("umount", "-l", e.mountPoint()).inheritIO().start().waitFor();
        }
    }

    /** Fills the disk of {@code dir} with {@code name} until ENOSPC. */
    private static void fill(Path dir, String name) throws IOException {
        try (var out = Files.newOutputStream(dir.resolve(name), java.nio.file.StandardOpenOption.CREATE,
                java.nio.file.StandardOpenOption.APPEND)) {
            byte[] block = new byte[64 << 10];
            while (true) {
                out.write(block);
            }
        } catch (IOException full) {
            if (!String.valueOf(full.getMessage()).contains("No space left")) {
                throw full;
            }
        }
    }

    private static List<Path> leftovers(Path volumes) throws IOException {
        try (Stream<Path> s = Files.list(volumes)) {
            return s.filter(p -> p.getFileName().toString().endsWith(".tmp")).toList();
        }
    }

    /**
     * State on a 40 MiB tmpfs, an image with a 0600 key: everything the plugin writes is
     * owner-only (an older state directory's loose modes are tightened at start), nobody reads
     * neither the key's store copy nor the key through the mount, but reads what the image lets
     * everyone read. Two images of 24 MiB each: the store (budget 10 GiB) makes room on its disk
     * for the second. A disk filled by someone else: the store deletes its unused files and the
     * publish goes through; filled again with nothing left to delete: RESOURCE_EXHAUSTED naming
     * the directory and its free space, no temporary file left.
     */
    @Test
    void stateIsOwnerOnlyAndAFullDiskNeverBlocksPublishes(@TempDir Path tmp) throws Exception {
        Files.setPosixFilePermissions(tmp, PosixFilePermissions.fromString("rwxr-xr-x")); // nobody reaches the targets
        Files.createDirectories(tmp.resolve("images"));
        byte[] key = "-----BEGIN PRIVATE KEY----- for root only\n".getBytes(StandardCharsets.UTF_8);
        Map<String, String> one = image(tmp, "one.erofs", 1, 12, 2 * MIB, Map.of("key.pem", key, "motd", "hello all\n".getBytes()));
        run("sh", "-c", "cd " + tmp.resolve("src-one.erofs") + " && chmod 600 key.pem && chmod 644 motd");
        run("mkfs.erofs", "--quiet", tmp.resolve("images/one.erofs").toString(), tmp.resolve("src-one.erofs").toString());
        Map<String, String> two = image(tmp, "two.erofs", 2, 12, 2 * MIB, Map.of());
        Path disk = Files.createDirectory(tmp.resolve("disk"));
        run("mount", "-t", "tmpfs", "-o", "size=40m,mode=755", "tmpfs", disk.toString());
        Process plugin = null;
        try {
            Path state = disk.resolve("state");
            // as an older version left it: default umask modes
            Files.createDirectories(state.resolve("store/index"));
            Files.writeString(state.resolve("store/index/old.idx"), "");
            run("chmod", "-R", "go+rX", state.toString());
            Path socket = tmp.resolve("csi/csi.sock");
            plugin = PluginRestartIT.serve(tmp, state, socket);
            List<Path> targets = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                targets.add(Files.createDirectories(tmp.resolve("pods/uid-" + i + "/volumes/kubernetes.io~csi/pv")).resolve("mount"));
            }
            try (UnixSocketClient c = new UnixSocketClient(socket.toString())) {
                c.node().nodePublishVolume(publish("vol-0", targets.get(0), "one.erofs"));
                assertEquals(one, hashes(targets.get(0)));
                String log = Files.readString(tmp.resolve("serve.log"));
                assertTrue(log.contains("no fs-verity on its filesystem"), "the start log says which guarantee holds:\n" + log);

                // secrecy
                for (Path d : List.of(state, state.resolve("store"), state.resolve("store/sha256"), state.resolve("store/index"),
                        state.resolve("volumes"), state.resolve("blobs"))) {
                    assertEquals("rwx------", mode(d), d.toString());
                }
                try (Stream<Path> s = Files.walk(state.resolve("store")).filter(Files::isRegularFile)) {
                    for (Path f : s.toList()) {
                        assertEquals("rw-------", mode(f), f.toString());
                    }
                }
                try (Stream<Path> s = Files.list(state.resolve("volumes"))) {
                    for (Path f : s.toList()) {
                        assertEquals("rw-------", mode(f), f.toString());
                    }
                }
                String keySha = sha(key);
                Path keyCopy = state.resolve("store/sha256").resolve(keySha.substring(0, 2)).resolve(keySha);
                for (int i = 0; i < 100 && !Files.exists(keyCopy); i++) {
                    Thread.sleep(100); // committed (renamed from tmp/) in the background
                }
                assertTrue(Files.exists(keyCopy), "the key is stored");
                var direct = asNobody("cat", keyCopy.toString());
                assertTrue(direct.getKey() != 0 && !direct.getValue().contains("PRIVATE"), "nobody read the store copy: " + direct);
                var mounted = asNobody("cat", targets.get(0).resolve("key.pem").toString());
                assertTrue(mounted.getKey() != 0 && mounted.getValue().contains("Permission denied"), mounted.getValue());
                var allowed = asNobody("sha256sum", targets.get(0).resolve("f3.bin").toString());
                assertEquals(0, allowed.getKey(), allowed.getValue());
                assertTrue(allowed.getValue().startsWith(one.get("f3.bin")), allowed.getValue());

                // a second image that does not fit beside the first: the store makes room on its disk
                c.node().nodePublishVolume(publish("vol-1", targets.get(1), "two.erofs"));
                assertEquals(two, hashes(targets.get(1)));
                assertEquals(one, hashes(targets.get(0)), "and the first still reads right");

                // someone else fills the disk: the store deletes what nothing uses, the publish goes through
                fill(disk, "filler-1");
                c.node().nodePublishVolume(publish("vol-2", targets.get(2), "one.erofs"));
                assertEquals(one, hashes(targets.get(2)));
                assertTrue(Files.readString(tmp.resolve("serve.log")).contains("because its disk is nearly full"),
                        Files.readString(tmp.resolve("serve.log")));

                // filled again, with every stored file in use: nothing left to delete
                List<java.nio.channels.FileChannel> held = new ArrayList<>();
                for (Path t : List.of(targets.get(0), targets.get(1))) {
                    try (Stream<Path> files = Files.list(t)) {
                        for (Path f : files.toList()) {
                            held.add(java.nio.channels.FileChannel.open(f));
                        }
                    }
                }
                fill(disk, "filler-2");
                StatusRuntimeException refused = assertThrows(StatusRuntimeException.class,
                        () -> c.node().nodePublishVolume(publish("vol-3", targets.get(3), "two.erofs")));
                for (var ch : held) {
                    ch.close();
                }
                assertEquals(Status.Code.RESOURCE_EXHAUSTED, refused.getStatus().getCode(), refused.getStatus().toString());
                String message = refused.getStatus().getDescription();
                assertTrue(message.contains(state.toString()) && message.contains("bytes free"), message);
                assertEquals(List.of(), leftovers(state.resolve("volumes")), "no temporary record left");
                assertFalse(Files.exists(targets.get(3)), "the refused target is not left created");
                assertEquals(List.of(), Mounts.at(targets.get(3).toString()));

                // room again: publishes work
                Files.delete(disk.resolve("filler-1"));
                Files.delete(disk.resolve("filler-2"));
                c.node().nodePublishVolume(publish("vol-3", targets.get(3), "two.erofs"));
                assertEquals(two, hashes(targets.get(3)));
                for (int i = 0; i < 4; i++) {
                    c.node().nodeUnpublishVolume(unpublish("vol-" + i, targets.get(i)));
                }
            }
        } finally {
            cleanUp(plugin, tmp); // the tmpfs too
        }
    }

    /**
     * A recorded volume whose image is gone when the plugin restarts: its target fails every
     * access (never an empty directory), NodeGetVolumeStats reports it abnormal with the reason,
     * a log line and a gauge say so, and it is published again by itself once its image is back.
     */
    @Test
    void aVolumeThatCannotBePublishedAgainIsReportedFailsAccessAndIsRetried(@TempDir Path tmp) throws Exception {
        Files.createDirectories(tmp.resolve("images"));
        Map<String, String> one = image(tmp, "one.erofs", 3, 3, 100_000, Map.of());
        Path state = tmp.resolve("state");
        Path socket = tmp.resolve("csi/csi.sock");
        Path target = Files.createDirectories(tmp.resolve("pods/uid-0/volumes/kubernetes.io~csi/pv")).resolve("mount");
        Process plugin = PluginRestartIT.serve(tmp, state, socket);
        try {
            try (UnixSocketClient c = new UnixSocketClient(socket.toString())) {
                c.node().nodePublishVolume(publish("vol-0", target, "one.erofs"));
            }
            int port;
            try (var free = new java.net.ServerSocket(0)) {
                port = free.getLocalPort();
            }
            assertEquals(one, hashes(target));
            plugin.destroyForcibly().waitFor();
            Path away = Files.move(tmp.resolve("images/one.erofs"), tmp.resolve("one.erofs.away"));
            plugin = PluginRestartIT.serve(tmp, state, socket, "--metrics-port", Integer.toString(port));
            String metrics = java.net.http.HttpClient.newHttpClient().send(java.net.http.HttpRequest.newBuilder(
                    java.net.URI.create("http://localhost:" + port + "/q/metrics")).build(),
                    java.net.http.HttpResponse.BodyHandlers.ofString()).body();
            assertTrue(metrics.contains("csi_erofs_volumes_unrecovered 1.0"), metrics);
            IOException unavailable = assertThrows(IOException.class, () -> {
                try (Stream<Path> s = Files.list(target)) {
                    s.count();
                }
            }, "the target of a volume not published again must not read as an empty directory");
            assertTrue(String.valueOf(unavailable.getMessage()).contains("not connected")
                    || String.valueOf(unavailable).contains("not connected"), String.valueOf(unavailable));
            String log = Files.readString(tmp.resolve("serve.log"));
            assertTrue(log.contains("could not publish vol-0 at " + target + " again after a restart"), log);
            try (UnixSocketClient c = new UnixSocketClient(socket.toString())) {
                var stats = c.node().nodeGetVolumeStats(NodeGetVolumeStatsRequest.newBuilder().setVolumeId("vol-0")
                        .setVolumePath(target.toString()).build());
                assertTrue(stats.getVolumeCondition().getAbnormal());
                String why = stats.getVolumeCondition().getMessage();
                assertTrue(why.contains("not published again") && why.contains("one.erofs"), why);
                assertTrue(c.identity().probe(ProbeRequest.getDefaultInstance()).getReady().getValue(), "the plugin itself serves");

                Files.move(away, tmp.resolve("images/one.erofs"));
                long deadline = System.nanoTime() + 40_000_000_000L;
                while (true) {
                    try {
                        if (one.equals(hashes(target))) {
                            break;
                        }
                    } catch (IOException notYet) {
                        // still the placeholder
                    }
                    assertTrue(System.nanoTime() < deadline, "not published again within 40 s:\n" + Files.readString(tmp.resolve("serve.log")));
                    Thread.sleep(500);
                }
                var healthy = c.node().nodeGetVolumeStats(NodeGetVolumeStatsRequest.newBuilder().setVolumeId("vol-0")
                        .setVolumePath(target.toString()).build());
                assertFalse(healthy.getVolumeCondition().getAbnormal(), healthy.getVolumeCondition().getMessage());
                c.node().nodeUnpublishVolume(unpublish("vol-0", target));
                assertFalse(Files.exists(target));
            }
        } finally {
            cleanUp(plugin, tmp);
        }
    }
}
