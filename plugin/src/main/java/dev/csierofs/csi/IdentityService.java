package dev.csierofs.csi;

import com.google.protobuf.BoolValue;
import dev.csierofs.csi.v1.GetPluginCapabilitiesRequest;
import dev.csierofs.csi.v1.GetPluginCapabilitiesResponse;
import dev.csierofs.csi.v1.GetPluginInfoRequest;
import dev.csierofs.csi.v1.GetPluginInfoResponse;
import dev.csierofs.csi.v1.IdentityGrpc;
import dev.csierofs.csi.v1.ProbeRequest;
import dev.csierofs.csi.v1.ProbeResponse;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;

/**
 * CSI Identity: who the plugin is and whether it is ready. A node-only plugin: it advertises no
 * plugin capability (no controller service, no topology yet).
 */
@GrpcService
public class IdentityService extends IdentityGrpc.IdentityImplBase {
    @Inject
    PluginConfig config;

    @Inject
    NodeState state;

    @ConfigProperty(name = "quarkus.application.version")
    String version;

    @Override
    public void getPluginInfo(GetPluginInfoRequest request, StreamObserver<GetPluginInfoResponse> out) {
        out.onNext(GetPluginInfoResponse.newBuilder().setName(config.driverName()).setVendorVersion(version).build());
        out.onCompleted();
    }

    @Override
    public void getPluginCapabilities(GetPluginCapabilitiesRequest request, StreamObserver<GetPluginCapabilitiesResponse> out) {
        out.onNext(GetPluginCapabilitiesResponse.getDefaultInstance());
        out.onCompleted();
    }

    @Override
    public void probe(ProbeRequest request, StreamObserver<ProbeResponse> out) {
        // not ready until the volumes of a previous process are published again
        out.onNext(ProbeResponse.newBuilder().setReady(BoolValue.of(state.ready())).build());
        out.onCompleted();
    }
}
