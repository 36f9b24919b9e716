package dev.csierofs.volumes;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Volume attributes as pods write them, including hostile ones. */
class VolumeSourceTest {
    private static final String D = "sha256:" + "ab".repeat(32);

    private static String refused(Map<String, String> ctx, Path root) {
        return assertThrows(InvalidVolumeException.class, () -> VolumeSource.parse(ctx, root)).getMessage();
    }

    @Test
    void localImagesLayersDigestsAndDevices(@TempDir Path tmp) throws Exception {
        Path root = Files.createDirectories(tmp.resolve("images"));
        Files.createDirectories(root.resolve("app"));
        Path base = Files.writeString(root.resolve("base.erofs"), "x");
        Path app = Files.writeString(root.resolve("app/v1.erofs"), "y");
        Path blob = Files.writeString(root.resolve("app/v1.blob"), "z");
        VolumeSource one = VolumeSource.parse(Map.of("image", "/app/v1.erofs", "digest", D, "devices", "app/v1.blob",
                "csi.storage.k8s.io/pod.name", "p"), root);
        assertEquals(1, one.layers().size());
        assertEquals(app.toRealPath(), one.layers().get(0).file());
        assertEquals(D, one.layers().get(0).digest().orElseThrow().toString());
        assertEquals(java.util.List.of(blob.toRealPath()), one.layers().get(0).devices());
        VolumeSource two = VolumeSource.parse(Map.of("layers", "base.erofs, app/v1.erofs", "digests", D + "," + D), root);
        assertEquals(base.toRealPath(), two.layers().get(0).file(), "lowest first");
        VolumeSource url = VolumeSource.parse(Map.of("image", "https://example.org/x.erofs", "digest", D), root);
        assertTrue(!url.layers().get(0).isLocal());
        assertEquals(url, VolumeSource.parse(Map.of("image", "https://example.org/x.erofs", "digest", D), tmp.resolve("no-such-root")),
                "a volume of URLs only needs no image root");
    }

    @Test
    void hostileOrWrongAttributesAreRefusedByName(@TempDir Path tmp) throws Exception {
        Path root = Files.createDirectories(tmp.resolve("images"));
        Files.writeString(tmp.resolve("secret.erofs"), "s");
        Files.createSymbolicLink(root.resolve("escape.erofs"), tmp.resolve("secret.erofs"));
        Files.createDirectories(root.resolve("dir"));
        assertTrue(refused(Map.of("image", "../secret.erofs"), root).contains(".."));
        assertTrue(refused(Map.of("image", "dir/../../secret.erofs"), root).contains(".."));
        assertTrue(refused(Map.of("image", "escape.erofs"), root).contains("out of the image root"));
        assertTrue(refused(Map.of("image", "dir"), root).contains("not a regular file"));
        assertTrue(refused(Map.of("image", "missing.erofs"), root).contains("does not exist"));
        assertTrue(refused(Map.of(), root).contains("'image'"));
        assertTrue(refused(Map.of("image", "a", "layers", "b"), root).contains("not both"));
        assertTrue(refused(Map.of("imgae", "a"), root).contains("unknown volume attribute 'imgae'"));
        assertTrue(refused(Map.of("image", "https://example.org/x.erofs"), root).contains("digest is required"));
        assertTrue(refused(Map.of("image", "http://example.org/x.erofs", "digest", D), root).contains("only https://"));
        assertTrue(refused(Map.of("image", "x", "digest", "md5:00"), root).contains("not a digest"));
        assertTrue(refused(Map.of("layers", "a,,b"), root).contains("empty entry"));
        // trailing empty entries too: String.split drops them unless asked not to (found by fuzzing)
        assertTrue(refused(Map.of("layers", ",,"), root).contains("empty entry"));
        assertTrue(refused(Map.of("layers", "a,"), root).contains("empty entry"));
        assertTrue(refused(Map.of("image", "x.erofs", "devices", "b,"), root).contains("empty entry"));
        assertTrue(refused(Map.of("layers", "https://h/a,https://h/b", "digests", D), root).contains("1 entries for 2 layers"));
        assertTrue(refused(Map.of("layers", "a", "digest", D), root).contains("'digests'"));
        assertTrue(refused(Map.of("image", "x"), tmp.resolve("no-root")).contains("--image-root"));
    }
}
