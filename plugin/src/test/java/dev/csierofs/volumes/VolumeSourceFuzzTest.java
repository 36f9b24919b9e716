package dev.csierofs.volumes;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Coverage-guided fuzzing of volume attribute parsing: a pod's volume context, built from the
 * fuzz input (known and unknown keys, values made of paths, URLs, digests and separators),
 * against an image root that holds files, a directory, and symlinks leading out of it. The only
 * acceptable failure is an {@link InvalidVolumeException}; and what parses must be safe to use:
 * every local layer and device a regular file inside the image root, every URL https with a host
 * and a digest. A normal test run replays {@code VolumeSourceFuzzTestInputs/parse/};
 * {@code bench/fuzz.sh} fuzzes (docs/fuzzing.md).
 */
class VolumeSourceFuzzTest {

    private static final String[] KEYS = {VolumeSource.IMAGE, VolumeSource.LAYERS, VolumeSource.DIGEST, VolumeSource.DIGESTS,
        VolumeSource.DEVICES, "csi.storage.k8s.io/pod.name", "unknown"};
    private static final String[] PIECES = {"base.erofs", "app/v1.erofs", "app/v1.blob", "/app/../base.erofs", "app", "out",
        "out/passwd", "loop", "https://example.org/x.erofs", "https://", "file:///etc/passwd", "sha256:" + "ab".repeat(32),
        "sha256:", ",", " ", "/", "..", "\u0000"};
    private static final Path ROOT = imageRoot();

    /** The image root: two images, a blob, a directory, a symlink out of the root and a symlink loop. */
    private static Path imageRoot() {
        try {
            Path root = Files.createTempDirectory("volume-fuzz-");
            Files.createDirectories(root.resolve("app"));
            Files.writeString(root.resolve("base.erofs"), "x");
            Files.writeString(root.resolve("app/v1.erofs"), "y");
            Files.writeString(root.resolve("app/v1.blob"), "z");
            Files.createSymbolicLink(root.resolve("out"), Path.of("/etc"));
            Files.createSymbolicLink(root.resolve("loop"), Path.of("loop"));
            return root.toRealPath();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = "30s")
    void parse(FuzzedDataProvider data) throws IOException {
        Map<String, String> context = new HashMap<>();
        int entries = data.consumeInt(0, 6);
        for (int i = 0; i < entries; i++) {
            String key = data.consumeBoolean() ? data.pickValue(KEYS) : data.consumeString(24);
            StringBuilder value = new StringBuilder();
            int parts = data.consumeInt(0, 5);
            for (int p = 0; p < parts; p++) {
                value.append(data.consumeBoolean() ? data.pickValue(PIECES) : data.consumeString(40));
            }
            context.put(key, value.toString());
        }
        VolumeSource source;
        try {
            source = VolumeSource.parse(context, ROOT);
        } catch (InvalidVolumeException e) {
            if (e.getMessage() == null || e.getMessage().isBlank()) {
                throw new AssertionError("InvalidVolumeException without a message", e);
            }
            return;
        }
        if (source.layers().isEmpty()) {
            throw new AssertionError("no layers parsed from " + context);
        }
        for (VolumeSource.Layer l : source.layers()) {
            if (l.isLocal()) {
                checkInside(l.file(), context);
                for (Path d : l.devices()) {
                    checkInside(d, context);
                }
            } else if (!"https".equals(l.url().getScheme()) || l.url().getHost() == null || l.digest().isEmpty()) {
                throw new AssertionError("accepted URL layer " + l.url() + " without https, a host or a digest from " + context);
            }
        }
    }

    private static void checkInside(Path p, Map<String, String> context) throws IOException {
        if (!p.toRealPath().startsWith(ROOT) || !Files.isRegularFile(p)) {
            throw new AssertionError("accepted " + p + ", not a regular file inside the image root, from " + context);
        }
    }
}
