package dev.csierofs.csi;

import dev.csierofs.csi.v1.GetPluginCapabilitiesRequest;
import dev.csierofs.csi.v1.GetPluginInfoRequest;
import dev.csierofs.csi.v1.NodeGetCapabilitiesRequest;
import dev.csierofs.csi.v1.NodeGetInfoRequest;
import dev.csierofs.csi.v1.NodePublishVolumeRequest;
import dev.csierofs.csi.v1.NodeUnpublishVolumeRequest;
import dev.csierofs.csi.v1.ProbeRequest;
import dev.csierofs.csi.v1.VolumeCapability;
import io.grpc.StatusRuntimeException;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

/**
 * The client half of recording the plugin's AOT class cache (bin/csi-driver-erofs after a build,
 * record-aot-cache.sh in the image). While a {@code serve} started with -XX:AOTCacheOutput runs
 * on a scratch socket, this asks it what kubelet asks: probe, plugin and node information,
 * capabilities, a refused request, and, given an image, a publish, a read of every file of the
 * target and an unpublish. The classes of serving requests and volumes (protobuf messages, HTTP/2,
 * FUSE, the content store) then come from the cache like those of start-up, rather than being
 * loaded into private memory: the plugin's metaspace was 10 MiB with a cache of start-up alone,
 * 3 MiB with this. Whatever fails is said and skipped: the cache is only an optimisation.
 *
 * <pre>usage: java -cp 'quarkus-app/app/*:quarkus-app/lib/main/*' dev.csierofs.csi.AotTraining SOCKET [IMAGE TARGET]</pre>
 * IMAGE is a path under the plugin's image root; TARGET a directory that does not exist yet.
 */
public final class AotTraining {
    private AotTraining() {
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 1 && args.length != 3) {
            System.err.println("usage: AotTraining SOCKET [IMAGE TARGET]");
            System.exit(2);
        }
        try (UnixSocketClient c = new UnixSocketClient(args[0])) { // each c.identity()/c.node(): a 10 s deadline
            if (!answers(c)) {
                System.err.println("aot-training: the plugin did not answer a probe within 60 s");
                return;
            }
            step("plugin info", () -> c.identity().getPluginInfo(GetPluginInfoRequest.getDefaultInstance()));
            step("plugin capabilities", () -> c.identity().getPluginCapabilities(GetPluginCapabilitiesRequest.getDefaultInstance()));
            step("node info", () -> c.node().nodeGetInfo(NodeGetInfoRequest.getDefaultInstance()));
            step("node capabilities", () -> c.node().nodeGetCapabilities(NodeGetCapabilitiesRequest.getDefaultInstance()));
            try { // refused (no volume id): the error path is part of serving too
                c.node().nodePublishVolume(NodePublishVolumeRequest.getDefaultInstance());
            } catch (StatusRuntimeException expected) {
                // INVALID_ARGUMENT
            }
            if (args.length == 3) {
                volume(c, args[1], Path.of(args[2]));
            }
        }
    }

    /** Probes until the plugin answers (ready or not: without /dev/fuse it never is), for up to 60 s. */
    private static boolean answers(UnixSocketClient c) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(60);
        while (System.nanoTime() < end) {
            try {
                c.identity().withDeadlineAfter(5, TimeUnit.SECONDS).probe(ProbeRequest.getDefaultInstance());
                return true;
            } catch (StatusRuntimeException notYet) {
                Thread.sleep(100);
            }
        }
        return false;
    }

    private static void volume(UnixSocketClient c, String image, Path target) {
        String id = "aot-training";
        boolean published = step("publish " + image, () -> c.node().withDeadlineAfter(60, TimeUnit.SECONDS)
                .nodePublishVolume(NodePublishVolumeRequest.newBuilder()
                        .setVolumeId(id)
                        .setTargetPath(target.toString())
                        .setReadonly(true)
                        .setVolumeCapability(VolumeCapability.newBuilder()
                                .setMount(VolumeCapability.MountVolume.getDefaultInstance())
                                .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                                        .setMode(VolumeCapability.AccessMode.Mode.SINGLE_NODE_READER_ONLY)))
                        .putVolumeContext("image", image)
                        .putVolumeContext("csi.storage.k8s.io/ephemeral", "true")
                        .build()));
        if (!published) {
            return;
        }
        try (Stream<Path> files = Files.walk(target)) {
            byte[] buf = new byte[64 << 10];
            for (Path f : (Iterable<Path>) files.filter(Files::isRegularFile)::iterator) {
                try (InputStream in = Files.newInputStream(f)) {
                    while (in.read(buf) > 0) {
                        // reading is the point: opens, passthrough, the store
                    }
                }
            }
        } catch (IOException | RuntimeException e) {
            System.err.println("aot-training: reading " + target + ": " + e.getMessage());
        }
        step("unpublish", () -> c.node().withDeadlineAfter(60, TimeUnit.SECONDS)
                .nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId(id).setTargetPath(target.toString()).build()));
    }

    /** Runs one request; says what failed. */
    private static boolean step(String what, Runnable request) {
        try {
            request.run();
            return true;
        } catch (StatusRuntimeException e) {
            System.err.println("aot-training: " + what + ": " + e.getStatus());
            return false;
        }
    }
}
