package dev.csierofs.csi;

import dev.csierofs.csi.v1.GetPluginCapabilitiesRequest;
import dev.csierofs.csi.v1.GetPluginInfoRequest;
import dev.csierofs.csi.v1.GetPluginInfoResponse;
import dev.csierofs.csi.v1.IdentityGrpc;
import dev.csierofs.csi.v1.NodeGetCapabilitiesRequest;
import dev.csierofs.csi.v1.NodeGetInfoRequest;
import dev.csierofs.csi.v1.NodePublishVolumeRequest;
import dev.csierofs.csi.v1.ProbeRequest;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import io.grpc.netty.NettyChannelBuilder;
import io.quarkus.test.common.http.TestHTTPResource;
import io.quarkus.test.junit.QuarkusTest;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.net.URL;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The plugin as kubelet sees it: a real gRPC client on the real unix socket. */
@QuarkusTest
class PluginServicesTest {
    @ConfigProperty(name = "quarkus.http.domain-socket")
    String socket;

    @ConfigProperty(name = "quarkus.application.version")
    String version;

    // management = true already prefixes the management root (/q)
    @TestHTTPResource(value = "health", management = true)
    URL health;

    @TestHTTPResource(value = "metrics", management = true)
    URL metrics;

    @Test
    void identityAnswersOnTheSocket() throws Exception {
        assertTrue(Files.exists(Path.of(socket)), "no socket at " + socket);
        try (UnixSocketClient c = new UnixSocketClient(socket)) {
            GetPluginInfoResponse info = c.identity().getPluginInfo(GetPluginInfoRequest.getDefaultInstance());
            assertEquals("erofs.csierofs.dev", info.getName());
            assertEquals(version, info.getVendorVersion());
            assertEquals(0, c.identity().getPluginCapabilities(GetPluginCapabilitiesRequest.getDefaultInstance())
                    .getCapabilitiesCount(), "a node-only plugin advertises no plugin capability");
            assertTrue(c.identity().probe(ProbeRequest.getDefaultInstance()).getReady().getValue());
        }
    }

    @Test
    void nodeGivesItsIdAndAdvertisesOnlyWhatItImplements() throws Exception {
        try (UnixSocketClient c = new UnixSocketClient(socket)) {
            assertEquals("test-node", c.node().nodeGetInfo(NodeGetInfoRequest.getDefaultInstance()).getNodeId());
            assertEquals(java.util.Set.of(dev.csierofs.csi.v1.NodeServiceCapability.RPC.Type.GET_VOLUME_STATS,
                            dev.csierofs.csi.v1.NodeServiceCapability.RPC.Type.VOLUME_CONDITION),
                    c.node().nodeGetCapabilities(NodeGetCapabilitiesRequest.getDefaultInstance()).getCapabilitiesList().stream()
                            .map(x -> x.getRpc().getType()).collect(java.util.stream.Collectors.toSet()));
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class,
                    () -> c.node().nodeStageVolume(dev.csierofs.csi.v1.NodeStageVolumeRequest.getDefaultInstance()));
            assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode(), "no STAGE_UNSTAGE_VOLUME capability, no staging");
            e = assertThrows(StatusRuntimeException.class, () -> c.node().nodePublishVolume(NodePublishVolumeRequest.getDefaultInstance()));
            assertEquals(Status.Code.INVALID_ARGUMENT, e.getStatus().getCode(), "an empty publish request");
        }
    }

    @Test
    void healthAndMetricsOnTheManagementPortOnly() throws Exception {
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> h = http.send(HttpRequest.newBuilder(health.toURI()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, h.statusCode(), h.body());
        assertTrue(h.body().contains("\"UP\""), h.body());
        HttpResponse<String> ready = http.send(HttpRequest.newBuilder(health.toURI().resolve("health/ready")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, ready.statusCode(), ready.body());
        assertTrue(ready.body().contains("volume-state-recovered"), "readiness says the volume state is recovered: " + ready.body());
        try (UnixSocketClient c = new UnixSocketClient(socket)) {
            c.identity().probe(ProbeRequest.getDefaultInstance());
        }
        HttpResponse<String> m = http.send(HttpRequest.newBuilder(metrics.toURI()).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, m.statusCode());
        assertTrue(m.body().contains("grpc_server"), "gRPC server metrics missing");
        // and no CSI on the management port
        ManagedChannel tcp = NettyChannelBuilder.forAddress("localhost", health.getPort()).usePlaintext().build();
        try {
            StatusRuntimeException e = assertThrows(StatusRuntimeException.class, () -> IdentityGrpc.newBlockingStub(tcp)
                    .withDeadlineAfter(5, TimeUnit.SECONDS).getPluginInfo(GetPluginInfoRequest.getDefaultInstance()));
            assertEquals(Status.Code.UNIMPLEMENTED, e.getStatus().getCode());
        } finally {
            tcp.shutdownNow().awaitTermination(5, TimeUnit.SECONDS);
        }
    }
}
