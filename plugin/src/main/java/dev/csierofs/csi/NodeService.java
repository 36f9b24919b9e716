package dev.csierofs.csi;

import dev.csierofs.csi.v1.NodeGetCapabilitiesRequest;
import dev.csierofs.csi.v1.NodeGetCapabilitiesResponse;
import dev.csierofs.csi.v1.NodeGetInfoRequest;
import dev.csierofs.csi.v1.NodeGetInfoResponse;
import dev.csierofs.csi.v1.NodeGrpc;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import jakarta.inject.Inject;

/**
 * CSI Node. So far NodeGetInfo and NodeGetCapabilities (none advertised yet); the volume calls
 * answer UNIMPLEMENTED until they exist, and nothing is advertised that is not implemented.
 */
@GrpcService
public class NodeService extends NodeGrpc.NodeImplBase {
    @Inject
    PluginConfig config;

    @Override
    public void nodeGetInfo(NodeGetInfoRequest request, StreamObserver<NodeGetInfoResponse> out) {
        // PluginMain refuses to start without a node id
        out.onNext(NodeGetInfoResponse.newBuilder().setNodeId(config.nodeId().orElseThrow()).build());
        out.onCompleted();
    }

    @Override
    public void nodeGetCapabilities(NodeGetCapabilitiesRequest request, StreamObserver<NodeGetCapabilitiesResponse> out) {
        out.onNext(NodeGetCapabilitiesResponse.getDefaultInstance());
        out.onCompleted();
    }
}
