package dev.csierofs.csi;

import dev.csierofs.blobs.BlobFetchException;
import dev.csierofs.csi.v1.NodeGetCapabilitiesRequest;
import dev.csierofs.csi.v1.NodeGetVolumeStatsRequest;
import dev.csierofs.csi.v1.NodeGetVolumeStatsResponse;
import dev.csierofs.csi.v1.NodeServiceCapability;
import dev.csierofs.csi.v1.VolumeCondition;
import dev.csierofs.csi.v1.VolumeUsage;
import dev.csierofs.csi.v1.NodePublishVolumeRequest;
import dev.csierofs.csi.v1.NodePublishVolumeResponse;
import dev.csierofs.csi.v1.NodeUnpublishVolumeRequest;
import dev.csierofs.csi.v1.NodeUnpublishVolumeResponse;
import dev.csierofs.csi.v1.VolumeCapability;
import dev.csierofs.volumes.InvalidVolumeException;
import dev.csierofs.volumes.Volumes;
import io.grpc.Status;
import java.nio.file.Path;
import dev.csierofs.csi.v1.NodeGetCapabilitiesResponse;
import dev.csierofs.csi.v1.NodeGetInfoRequest;
import dev.csierofs.csi.v1.NodeGetInfoResponse;
import dev.csierofs.csi.v1.NodeGrpc;
import io.grpc.stub.StreamObserver;
import io.quarkus.grpc.GrpcService;
import io.smallrye.common.annotation.Blocking;
import jakarta.inject.Inject;

/**
 * CSI Node: NodeGetInfo, NodeGetCapabilities (GET_VOLUME_STATS, VOLUME_CONDITION),
 * NodePublishVolume and NodeUnpublishVolume (read-only volumes of one image, local or
 * {@code https://}), NodeGetVolumeStats. Requests are validated here, with the status codes the
 * spec gives; the volume lifecycle is {@link Volumes}. Volume calls are {@link Blocking}: they
 * mount, hash and download, and Quarkus would otherwise run them on the event loop, where one
 * download would hold up every other call (Probe included).
 */
@GrpcService
public class NodeService extends NodeGrpc.NodeImplBase {
    @Inject
    PluginConfig config;

    @Inject
    NodeState state;

    @Override
    @Blocking
    public void nodePublishVolume(NodePublishVolumeRequest r, StreamObserver<NodePublishVolumeResponse> out) {
        try {
            require(!r.getVolumeId().isEmpty(), "volume_id is required");
            require(!r.getTargetPath().isEmpty(), "target_path is required");
            require(r.hasVolumeCapability(), "volume_capability is required");
            VolumeCapability cap = r.getVolumeCapability();
            require(!cap.hasBlock(), "block volumes are not supported: EROFS images are served as file systems (mount access type)");
            require(cap.hasMount(), "volume_capability needs the mount access type");
            require(r.getReadonly() || config.writableRequests().equals("read-only"),
                    "these volumes are read-only images: set readOnly: true on the volume");
            Path target = Path.of(r.getTargetPath());
            require(target.isAbsolute(), "target_path must be absolute: " + r.getTargetPath());
            state.volumes().publish(r.getVolumeId(), target, r.getVolumeContextMap());
            out.onNext(NodePublishVolumeResponse.getDefaultInstance());
            out.onCompleted();
        } catch (InvalidVolumeException e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        } catch (Volumes.ConflictException e) {
            out.onError(Status.ALREADY_EXISTS.withDescription(e.getMessage()).asRuntimeException());
        } catch (dev.csierofs.volumes.NoSpaceException e) {
            out.onError(Status.RESOURCE_EXHAUSTED.withDescription(e.getMessage()).asRuntimeException());
        } catch (BlobFetchException e) {
            out.onError(statusOf(e).withDescription(e.getMessage()).asRuntimeException());
        } catch (Exception e) {
            out.onError(Status.INTERNAL.withDescription("publishing " + r.getVolumeId() + " at " + r.getTargetPath() + ": "
                    + e.getMessage()).asRuntimeException());
        }
    }

    /**
     * The code for an image that could not be downloaded. CSI lets NodePublishVolume return any
     * canonical code (COs must handle all of them); its table names NOT_FOUND, ALREADY_EXISTS and
     * FAILED_PRECONDITION for given conditions, the general table INVALID_ARGUMENT for malformed fields.
     * <ul>
     * <li>Digest mismatch: FAILED_PRECONDITION. The request is well formed; what the server serves
     * now is not what it names, so retrying as is fails until the digest or the server is fixed,
     * which is gRPC's definition of FAILED_PRECONDITION. INVALID_ARGUMENT means wrong whatever the
     * system's state, which a server that changed its content does not fit.</li>
     * <li>404/410: NOT_FOUND, the spec's "volume does not exist" (its source is not there).</li>
     * <li>Network, timeouts, HTTP 5xx/408/429, a response cut short: UNAVAILABLE, retryable (kubelet
     * retries with back-off; a later publish joins or repeats the download).</li>
     * <li>Other HTTP statuses, a redirect to http://, an untrusted certificate: FAILED_PRECONDITION
     * (fixed on the server or with --ca-file, not by retrying).</li>
     * <li>A full disk: RESOURCE_EXHAUSTED.</li>
     * </ul>
     */
    static Status statusOf(BlobFetchException e) {
        return switch (e.failure()) {
            case DIGEST_MISMATCH, REFUSED -> Status.FAILED_PRECONDITION;
            case NOT_FOUND -> Status.NOT_FOUND;
            case TRANSIENT -> Status.UNAVAILABLE;
            case NO_SPACE -> Status.RESOURCE_EXHAUSTED;
        };
    }

    @Override
    @Blocking
    public void nodeUnpublishVolume(NodeUnpublishVolumeRequest r, StreamObserver<NodeUnpublishVolumeResponse> out) {
        try {
            require(!r.getVolumeId().isEmpty(), "volume_id is required");
            require(!r.getTargetPath().isEmpty(), "target_path is required");
            state.volumes().unpublish(r.getVolumeId(), Path.of(r.getTargetPath()));
            out.onNext(NodeUnpublishVolumeResponse.getDefaultInstance());
            out.onCompleted();
        } catch (InvalidVolumeException e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        } catch (Exception e) {
            out.onError(Status.INTERNAL.withDescription("unpublishing " + r.getVolumeId() + " from " + r.getTargetPath() + ": "
                    + e.getMessage()).asRuntimeException());
        }
    }

    private static void require(boolean ok, String message) throws InvalidVolumeException {
        if (!ok) {
            throw new InvalidVolumeException(message);
        }
    }

    @Override
    public void nodeGetInfo(NodeGetInfoRequest request, StreamObserver<NodeGetInfoResponse> out) {
        // PluginMain refuses to start without a node id
        out.onNext(NodeGetInfoResponse.newBuilder().setNodeId(config.nodeId().orElseThrow()).build());
        out.onCompleted();
    }

    @Override
    public void nodeGetCapabilities(NodeGetCapabilitiesRequest request, StreamObserver<NodeGetCapabilitiesResponse> out) {
        out.onNext(NodeGetCapabilitiesResponse.newBuilder()
                .addCapabilities(rpc(NodeServiceCapability.RPC.Type.GET_VOLUME_STATS))
                .addCapabilities(rpc(NodeServiceCapability.RPC.Type.VOLUME_CONDITION))
                .build());
        out.onCompleted();
    }

    private static NodeServiceCapability rpc(NodeServiceCapability.RPC.Type type) {
        return NodeServiceCapability.newBuilder().setRpc(NodeServiceCapability.RPC.newBuilder().setType(type)).build();
    }

    /** A read-only image: used = total, nothing available; abnormal when the volume no longer serves. */
    @Override
    @Blocking
    public void nodeGetVolumeStats(NodeGetVolumeStatsRequest r, StreamObserver<NodeGetVolumeStatsResponse> out) {
        try {
            require(!r.getVolumeId().isEmpty(), "volume_id is required");
            require(!r.getVolumePath().isEmpty(), "volume_path is required");
            Volumes.Stats s = state.volumes().stats(r.getVolumeId(), Path.of(r.getVolumePath()));
            if (s == null) {
                out.onError(Status.NOT_FOUND.withDescription("volume " + r.getVolumeId() + " is not published at "
                        + r.getVolumePath()).asRuntimeException());
                return;
            }
            out.onNext(NodeGetVolumeStatsResponse.newBuilder()
                    .addUsage(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.BYTES).setTotal(s.bytes()).setUsed(s.bytes()))
                    .addUsage(VolumeUsage.newBuilder().setUnit(VolumeUsage.Unit.INODES).setTotal(s.inodes()).setUsed(s.inodes()))
                    .setVolumeCondition(VolumeCondition.newBuilder().setAbnormal(s.abnormal() != null)
                            .setMessage(s.abnormal() != null ? s.abnormal() : "serving"))
                    .build());
            out.onCompleted();
        } catch (InvalidVolumeException e) {
            out.onError(Status.INVALID_ARGUMENT.withDescription(e.getMessage()).asRuntimeException());
        } catch (Exception e) {
            out.onError(Status.INTERNAL.withDescription("stats of " + r.getVolumeId() + ": " + e.getMessage()).asRuntimeException());
        }
    }
}
