import dev.csierofs.csi.v1.GetPluginInfoRequest;
import dev.csierofs.csi.v1.GetPluginInfoResponse;
import dev.csierofs.csi.v1.IdentityGrpc;
import dev.csierofs.csi.v1.NodeGetCapabilitiesRequest;
import dev.csierofs.csi.v1.NodeGetInfoRequest;
import dev.csierofs.csi.v1.NodeGetInfoResponse;
import dev.csierofs.csi.v1.NodeGrpc;
import dev.csierofs.csi.v1.NodePublishVolumeRequest;
import dev.csierofs.csi.v1.NodeServiceCapability;
import dev.csierofs.csi.v1.NodeUnpublishVolumeRequest;
import dev.csierofs.csi.v1.ProbeRequest;
import dev.csierofs.csi.v1.ProbeResponse;
import dev.csierofs.csi.v1.VolumeCapability;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollDomainSocketChannel;
import io.netty.channel.epoll.EpollEventLoopGroup;
import io.netty.channel.unix.DomainSocketAddress;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * Drives a CSI node plugin over its unix socket with grpc-java, as kubelet does, for the node e2e
 * (e2e/node/run.sh).
 *
 * <pre>
 * usage: java CsiDriver SOCKET [--parallel N] &lt; REQUESTS
 * </pre>
 *
 * One request per line (words separated by blanks; # starts a comment line):
 * <pre>
 * wait-ready SECONDS [PID]            Probe until the plugin says ready (the socket may not exist yet);
 *                                     gives up at once if process PID (the plugin) has exited
 * plugin-info [name=EXPECTED]         GetPluginInfo
 * node-info [node-id=EXPECTED]        NodeGetInfo
 * capabilities [absent=CAP,...]       NodeGetCapabilities; the named capabilities must not be offered
 * publish VOLUME_ID TARGET MODE [KEY=VALUE]...
 *                                     NodePublishVolume: readonly, mount access type, access mode MODE
 *                                     (e.g. SINGLE_NODE_READER_ONLY), volume context KEY=VALUE...
 * unpublish VOLUME_ID TARGET          NodeUnpublishVolume
 * expect CODE[~WORD]... REQUEST...   REQUEST (one of the above) must end with gRPC status CODE (OK, NOT_FOUND,
 *                                     ...) and, when it fails, a description containing every WORD
 *                                     (the hostile requests: the answer is checked, not just printed)
 * </pre>
 * Prints one line per request, in input order: {@code OK ...} or {@code FAIL ...: CODE: description}.
 * With --parallel N the requests run on N threads at once (as kubelet mounts the volumes of
 * several pods at once). Exits 0 when every request succeeded, 1 otherwise, 2 on bad usage.
 */
public final class CsiDriver implements AutoCloseable {
    private final EpollEventLoopGroup group = new EpollEventLoopGroup(1);
    private final ManagedChannel channel;

    CsiDriver(String socket) {
        channel = NettyChannelBuilder.forAddress(new DomainSocketAddress(socket))
                .eventLoopGroup(group)
                .channelType(EpollDomainSocketChannel.class)
                // grpc-java sets SO_KEEPALIVE on every connection, which a unix socket does not have (Netty
                // then warns "Unknown channel option" per connection); a null value removes it
                .withOption(ChannelOption.SO_KEEPALIVE, null)
                .overrideAuthority("localhost") // grpc-java would send the socket path as :authority, which the server refuses
                .usePlaintext()
                .build();
    }

    private IdentityGrpc.IdentityBlockingStub identity() {
        return IdentityGrpc.newBlockingStub(channel).withDeadlineAfter(30, TimeUnit.SECONDS);
    }

    private NodeGrpc.NodeBlockingStub node() {
        // generous: an image's digest is checked at its first publish, on a CI machine shared with others
        return NodeGrpc.newBlockingStub(channel).withDeadlineAfter(60, TimeUnit.SECONDS);
    }

    @Override
    public void close() throws InterruptedException {
        channel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).syncUninterruptibly();
    }

    /** A request the e2e asked for that the plugin answered wrongly (not an RPC error). */
    static final class Unexpected extends Exception {
        Unexpected(String message) {
            super(message);
        }
    }

    static String run(String socket, CsiDriver c, String[] w) throws Exception {
        switch (w[0]) {
            case "wait-ready": {
                return waitReady(socket, Long.parseLong(arg(w, 1)), w.length > 2 ? Long.parseLong(w[2]) : -1);
            }
            case "plugin-info": {
                GetPluginInfoResponse r = c.identity().getPluginInfo(GetPluginInfoRequest.getDefaultInstance());
                String expected = expectation(w, "name");
                if (expected != null && !expected.equals(r.getName())) {
                    throw new Unexpected("driver name is " + r.getName() + ", expected " + expected);
                }
                return "plugin-info name=" + r.getName() + " vendor_version=" + r.getVendorVersion();
            }
            case "node-info": {
                NodeGetInfoResponse r = c.node().nodeGetInfo(NodeGetInfoRequest.getDefaultInstance());
                String expected = expectation(w, "node-id");
                if (expected != null && !expected.equals(r.getNodeId())) {
                    throw new Unexpected("node id is " + r.getNodeId() + ", expected " + expected);
                }
                return "node-info node_id=" + r.getNodeId() + " max_volumes_per_node=" + r.getMaxVolumesPerNode()
                        + (r.hasAccessibleTopology() ? " topology=" + r.getAccessibleTopology().getSegmentsMap() : "");
            }
            case "capabilities": {
                List<String> caps = new ArrayList<>();
                for (NodeServiceCapability cap : c.node().nodeGetCapabilities(NodeGetCapabilitiesRequest.getDefaultInstance())
                        .getCapabilitiesList()) {
                    caps.add(cap.hasRpc() ? cap.getRpc().getType().name() : cap.toString().strip());
                }
                String absent = expectation(w, "absent");
                if (absent != null) {
                    for (String name : absent.split(",")) {
                        if (caps.contains(name)) {
                            throw new Unexpected("the plugin offers " + name + " (capabilities: " + caps + ")");
                        }
                    }
                }
                return "capabilities " + String.join(",", caps);
            }
            case "publish": {
                String id = arg(w, 1);
                String target = arg(w, 2);
                VolumeCapability.AccessMode.Mode mode = VolumeCapability.AccessMode.Mode.valueOf(arg(w, 3));
                Map<String, String> context = new LinkedHashMap<>();
                for (int i = 4; i < w.length; i++) {
                    int eq = w[i].indexOf('=');
                    if (eq <= 0) {
                        throw new IllegalArgumentException("volume context entry without '=': " + w[i]);
                    }
                    context.put(w[i].substring(0, eq), w[i].substring(eq + 1));
                }
                c.node().nodePublishVolume(NodePublishVolumeRequest.newBuilder()
                        .setVolumeId(id)
                        .setTargetPath(target)
                        .setReadonly(true)
                        .setVolumeCapability(VolumeCapability.newBuilder()
                                .setMount(VolumeCapability.MountVolume.getDefaultInstance())
                                .setAccessMode(VolumeCapability.AccessMode.newBuilder().setMode(mode)))
                        .putAllVolumeContext(context)
                        .build());
                return "publish " + id + " at " + target;
            }
            case "unpublish": {
                String id = arg(w, 1);
                String target = arg(w, 2);
                c.node().nodeUnpublishVolume(NodeUnpublishVolumeRequest.newBuilder().setVolumeId(id).setTargetPath(target).build());
                return "unpublish " + id + " from " + target;
            }
            case "expect": {
                String[] want = arg(w, 1).split("~");
                String[] request = List.of(w).subList(2, w.length).toArray(String[]::new);
                arg(request, 0);
                Status.Code code;
                String description;
                try {
                    run(socket, c, request);
                    code = Status.Code.OK;
                    description = "";
                } catch (StatusRuntimeException e) {
                    code = e.getStatus().getCode();
                    description = String.valueOf(e.getStatus().getDescription());
                }
                String shown = String.join(" ", List.of(request).subList(0, Math.min(3, request.length)));
                if (!code.name().equals(want[0])) {
                    throw new Unexpected(shown + ": expected " + want[0] + ", got " + code + (description.isEmpty() ? "" : ": " + description));
                }
                for (int i = 1; i < want.length; i++) {
                    if (!description.contains(want[i])) {
                        throw new Unexpected(shown + ": " + code + " as expected, but the description does not name '" + want[i]
                                + "': " + description);
                    }
                }
                return "expect " + want[0] + " " + shown + (description.isEmpty() ? "" : ": " + description);
            }
            default:
                throw new IllegalArgumentException("unknown request " + w[0]);
        }
    }

    /** Probe on fresh connections until ready (an absent 'ready' field means ready, as the spec says). */
    static String waitReady(String socket, long seconds, long pluginPid) throws Exception {
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(seconds);
        String last = "the socket " + socket + " does not exist";
        long start = System.nanoTime();
        while (System.nanoTime() < deadline) {
            if (pluginPid > 0 && !ProcessHandle.of(pluginPid).map(ProcessHandle::isAlive).orElse(false)) {
                throw new Unexpected("the plugin process has exited (" + last + ")");
            }
            if (Files.exists(Path.of(socket))) {
                try (CsiDriver c = new CsiDriver(socket)) {
                    ProbeResponse r = IdentityGrpc.newBlockingStub(c.channel).withDeadlineAfter(5, TimeUnit.SECONDS)
                            .probe(ProbeRequest.getDefaultInstance());
                    if (!r.hasReady() || r.getReady().getValue()) {
                        return String.format("wait-ready: ready after %.1f s", (System.nanoTime() - start) / 1e9);
                    }
                    last = "Probe answers not ready";
                } catch (StatusRuntimeException e) {
                    last = "Probe failed: " + e.getStatus();
                }
            }
            Thread.sleep(200);
        }
        throw new Unexpected("not ready within " + seconds + " s: " + last);
    }

    private static String arg(String[] w, int i) {
        if (i >= w.length) {
            throw new IllegalArgumentException(w[0] + ": missing argument " + i);
        }
        return w[i];
    }

    /** The value of a KEY=VALUE word after the request name, or null. */
    private static String expectation(String[] w, String key) {
        for (int i = 1; i < w.length; i++) {
            if (w[i].startsWith(key + "=")) {
                return w[i].substring(key.length() + 1);
            }
        }
        return null;
    }

    static String outcome(String socket, CsiDriver c, String[] w) {
        try {
            return "OK " + run(socket, c, w);
        } catch (StatusRuntimeException e) {
            return "FAIL " + String.join(" ", List.of(w).subList(0, Math.min(3, w.length))) + ": " + e.getStatus().getCode()
                    + ": " + e.getStatus().getDescription();
        } catch (Exception e) {
            return "FAIL " + String.join(" ", List.of(w).subList(0, Math.min(3, w.length))) + ": " + e.getMessage();
        }
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 1 && !(args.length == 3 && args[1].equals("--parallel"))) {
            System.err.println("usage: java CsiDriver SOCKET [--parallel N] < REQUESTS");
            System.exit(2);
        }
        String socket = args[0];
        int threads = args.length == 3 ? Integer.parseInt(args[2]) : 1;
        List<String[]> requests = new ArrayList<>();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        for (String line; (line = in.readLine()) != null; ) {
            line = line.strip();
            if (!line.isEmpty() && !line.startsWith("#")) {
                requests.add(line.split("\\s+"));
            }
        }
        boolean allOk = true;
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try (CsiDriver c = new CsiDriver(socket)) {
            List<Future<String>> results = new ArrayList<>();
            for (String[] w : requests) {
                results.add(pool.submit(() -> outcome(socket, c, w)));
                if (threads == 1) {
                    results.getLast().get(); // one at a time, in order
                }
            }
            for (Future<String> f : results) {
                String line = f.get();
                System.out.println(line);
                allOk &= line.startsWith("OK ");
            }
        } finally {
            pool.shutdownNow();
        }
        System.exit(allOk ? 0 : 1);
    }
}
