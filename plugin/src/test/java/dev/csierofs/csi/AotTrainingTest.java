package dev.csierofs.csi;

import dev.csierofs.sys.Mounts;
import io.micrometer.core.instrument.MeterRegistry;
import io.quarkus.test.junit.QuarkusTest;
import jakarta.inject.Inject;
import org.eclipse.microprofile.config.inject.ConfigProperty;
import org.junit.jupiter.api.Test;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The training client of the AOT class cache really serves a volume through the plugin (over its
 * socket: publish, its files opened and read, unpublish) and leaves nothing behind.
 */
@QuarkusTest
class AotTrainingTest {
    @ConfigProperty(name = "quarkus.http.domain-socket")
    String socket;

    @ConfigProperty(name = "csi.image-root")
    Path imageRoot;

    @Inject
    NodeState state;

    @Inject
    MeterRegistry registry;

    private double opens() {
        state.volumes(); // the gauges exist once the node state is set up
        return registry.get("csi_erofs_opens_passthrough").gauge().value() + registry.get("csi_erofs_opens_cached").gauge().value();
    }

    @Test
    void publishesReadsAndUnpublishesTheImageItIsGiven() throws Exception {
        Path root = Files.createDirectories(imageRoot).toRealPath();
        Path image = Files.copy(Path.of("../examples/sample.erofs"), root.resolve("aot-sample.erofs"), StandardCopyOption.REPLACE_EXISTING);
        Path target = Files.createTempDirectory("aot-training").toRealPath().resolve("target");
        double before = opens();
        AotTraining.main(new String[] {Path.of(socket).toAbsolutePath().toString(), "aot-sample.erofs", target.toString()});
        assertTrue(opens() - before >= 1, "the volume's files were opened through the plugin");
        assertFalse(Files.exists(target), "unpublished: the target is gone");
        assertEquals(0, Mounts.read().stream().filter(e -> e.source().equals(image.toString())).count(), "no mount of the image left");
    }
}
