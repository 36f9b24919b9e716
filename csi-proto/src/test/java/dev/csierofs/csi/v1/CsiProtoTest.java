package dev.csierofs.csi.v1;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.MethodDescriptor;
import io.grpc.MethodDescriptor.MethodType;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class CsiProtoTest {

    @Test
    void nodePublishVolumeRequestRoundTrips() throws Exception {
        NodePublishVolumeRequest request = NodePublishVolumeRequest.newBuilder()
                .setVolumeId("vol-1")
                .setTargetPath("/var/lib/kubelet/pods/p/volumes/kubernetes.io~csi/v/mount")
                .setReadonly(true)
                .putVolumeContext("image", "sha256:abc")
                .putVolumeContext("csi.storage.k8s.io/ephemeral", "true")
                .setVolumeCapability(VolumeCapability.newBuilder()
                        .setMount(VolumeCapability.MountVolume.newBuilder()
                                .setFsType("erofs")
                                .addMountFlags("ro"))
                        .setAccessMode(VolumeCapability.AccessMode.newBuilder()
                                .setMode(VolumeCapability.AccessMode.Mode.MULTI_NODE_READER_ONLY)))
                .build();

        NodePublishVolumeRequest parsed = NodePublishVolumeRequest.parseFrom(request.toByteArray());

        assertEquals(request, parsed);
        assertEquals("vol-1", parsed.getVolumeId());
        assertEquals(Map.of("image", "sha256:abc", "csi.storage.k8s.io/ephemeral", "true"),
                parsed.getVolumeContextMap());
        assertEquals(VolumeCapability.AccessTypeCase.MOUNT, parsed.getVolumeCapability().getAccessTypeCase());
        assertEquals("erofs", parsed.getVolumeCapability().getMount().getFsType());
        assertEquals(List.of("ro"), parsed.getVolumeCapability().getMount().getMountFlagsList());
        assertEquals(VolumeCapability.AccessMode.Mode.MULTI_NODE_READER_ONLY,
                parsed.getVolumeCapability().getAccessMode().getMode());
        assertTrue(parsed.getReadonly());
        assertTrue(parsed.getStagingTargetPath().isEmpty());
    }

    @Test
    void wireBytesUseTheSpecsFieldNumbers() throws Exception {
        // target_path is field 4, length-delimited: tag (4 << 3) | 2 = 0x22
        byte[] bytes = NodePublishVolumeRequest.newBuilder().setTargetPath("/t").build().toByteArray();
        assertArrayEquals(new byte[] {0x22, 2, '/', 't'}, bytes);

        // the renamed mutable_params field keeps number 8: tag 0x42, then one map entry {1: "k", 2: "v"}
        byte[] create = CreateVolumeRequest.newBuilder().putMutableParams("k", "v").build().toByteArray();
        assertArrayEquals(new byte[] {0x42, 6, 0x0a, 1, 'k', 0x12, 1, 'v'}, create);
        assertEquals(Map.of("k", "v"),
                CreateVolumeRequest.parseFrom(ByteString.copyFrom(create)).getMutableParamsMap(),
                "parses back");
    }

    @Test
    void fieldNumbersMatchTheSpec() {
        Descriptor publish = NodePublishVolumeRequest.getDescriptor();
        assertEquals("csi.v1.NodePublishVolumeRequest", publish.getFullName());
        assertNumbers(publish, Map.of(
                "volume_id", 1, "publish_context", 2, "staging_target_path", 3, "target_path", 4,
                "volume_capability", 5, "readonly", 6, "secrets", 7, "volume_context", 8));
        assertNumbers(NodeStageVolumeRequest.getDescriptor(), Map.of(
                "volume_id", 1, "publish_context", 2, "staging_target_path", 3,
                "volume_capability", 4, "secrets", 5, "volume_context", 6));
        assertNumbers(VolumeCapability.getDescriptor(), Map.of("block", 1, "mount", 2, "access_mode", 3));
        assertNumbers(NodeGetInfoResponse.getDescriptor(), Map.of(
                "node_id", 1, "max_volumes_per_node", 2, "accessible_topology", 3));
        assertEquals(7, VolumeCapability.AccessMode.Mode.SINGLE_NODE_MULTI_WRITER.getNumber());
        assertEquals(6, NodeServiceCapability.RPC.Type.VOLUME_MOUNT_GROUP.getNumber());
    }

    @Test
    void customOptionsAreCarried() {
        assertTrue(NodePublishVolumeRequest.getDescriptor().findFieldByName("secrets")
                .getOptions().getExtension(CsiProto.csiSecret));
        assertFalse(NodePublishVolumeRequest.getDescriptor().findFieldByName("volume_context")
                .getOptions().getExtension(CsiProto.csiSecret));
        assertTrue(VolumeCondition.getDescriptor().getOptions().getExtension(CsiProto.alphaMessage));
        assertTrue(NodeGetVolumeStatsResponse.getDescriptor().findFieldByName("volume_condition")
                .getOptions().getExtension(CsiProto.alphaField));
        assertTrue(CsiProto.getDescriptor().findServiceByName("SnapshotMetadata")
                .getOptions().getExtension(CsiProto.alphaService));
        assertEquals(1059, CsiProto.csiSecret.getDescriptor().getNumber());
        assertEquals(1060, CsiProto.alphaField.getDescriptor().getNumber());
    }

    @Test
    void renamedMutableParametersKeepNumberAndJsonName() {
        assertRenamed(CreateVolumeRequest.getDescriptor(), 8);
        assertRenamed(ValidateVolumeCapabilitiesRequest.getDescriptor(), 6);
        assertRenamed(ValidateVolumeCapabilitiesResponse.Confirmed.getDescriptor(), 4);
        // no `parameters` field next to it, so the spec's name is kept here
        assertEquals(3, ControllerModifyVolumeRequest.getDescriptor()
                .findFieldByName("mutable_parameters").getNumber());
    }

    @Test
    void identityAndNodeServicesListTheSpecsRpcs() {
        assertEquals(List.of("GetPluginInfo", "GetPluginCapabilities", "Probe"),
                methodNames("Identity"));
        assertEquals(List.of("NodeStageVolume", "NodeUnstageVolume", "NodePublishVolume",
                        "NodeUnpublishVolume", "NodeGetVolumeStats", "NodeExpandVolume",
                        "NodeGetCapabilities", "NodeGetInfo"),
                methodNames("Node"));

        // the grpc-java stubs agree with the descriptors
        assertEquals("csi.v1.Identity", IdentityGrpc.SERVICE_NAME);
        assertEquals("csi.v1.Node", NodeGrpc.SERVICE_NAME);
        assertEquals(8, NodeGrpc.getServiceDescriptor().getMethods().size());
        assertEquals("csi.v1.Node/NodePublishVolume", NodeGrpc.getNodePublishVolumeMethod().getFullMethodName());
        assertEquals(MethodType.UNARY, NodeGrpc.getNodePublishVolumeMethod().getType());
        assertEquals(MethodType.SERVER_STREAMING,
                SnapshotMetadataGrpc.getGetMetadataDeltaMethod().getType());
    }

    private static List<String> methodNames(String service) {
        return CsiProto.getDescriptor().findServiceByName(service).getMethods().stream()
                .map(MethodDescriptor::getName)
                .toList();
    }

    private static void assertNumbers(Descriptor message, Map<String, Integer> expected) {
        assertEquals(expected.size(), message.getFields().size(), message.getFullName() + " field count");
        expected.forEach((name, number) -> assertEquals(number,
                message.findFieldByName(name).getNumber(), message.getFullName() + "." + name));
    }

    private static void assertRenamed(Descriptor message, int number) {
        var field = message.findFieldByNumber(number);
        assertEquals("mutable_params", field.getName(), message.getFullName());
        assertEquals("mutableParameters", field.getJsonName(), message.getFullName());
        assertTrue(field.isMapField(), message.getFullName());
        // the field whose accessors it would clash with
        assertTrue(message.findFieldByName("parameters").isMapField(), message.getFullName());
        assertNull(message.findFieldByName("mutable_parameters"), message.getFullName());
    }
}
