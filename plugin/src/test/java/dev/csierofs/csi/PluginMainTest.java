package dev.csierofs.csi;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The command line of {@code serve}, turned into configuration before Quarkus starts. */
class PluginMainTest {

    @Test
    void optionsBecomeProperties() throws Exception {
        Map<String, String> p = PluginMain.properties(new String[] {"serve", "--endpoint", "unix:///run/x/csi.sock",
                "--node-id=node-1", "--state-dir", "/var/lib/x", "--metrics-port", "9999"}, Map.of());
        assertEquals("/run/x/csi.sock", p.get("quarkus.http.domain-socket"));
        assertEquals("node-1", p.get("csi.node-id"));
        assertEquals("/var/lib/x", p.get("csi.state-dir"));
        assertEquals("9999", p.get("quarkus.management.port"));
        assertEquals(Long.toString(50L << 30), PluginMain.properties(new String[] {"--node-id", "n", "--store-budget", "50G"}, Map.of())
                .get("csi.store-budget"));
        assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"--node-id", "n", "--store-budget", "lots"}, Map.of()));
        assertEquals(Long.toString(64L << 20), PluginMain.properties(new String[] {"--node-id", "n", "--page-cache", "64M"}, Map.of())
                .get("csi.page-cache"));
        assertEquals(Long.toString(1L << 30), PluginMain.properties(new String[] {"--node-id", "n"}, Map.of("CSI_PAGE_CACHE", "1G"))
                .get("csi.page-cache"), "the environment takes suffixes too");
        assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"--node-id", "n", "--page-cache", "-1"}, Map.of()));
        assertEquals(Long.toString(5L << 30), PluginMain.properties(new String[] {"--node-id", "n", "--blob-budget", "5G"}, Map.of())
                .get("csi.blob-budget"));
        assertEquals(Long.toString(512L << 20), PluginMain.properties(new String[] {"--node-id", "n"},
                Map.of("CSI_BLOB_BUDGET", "512M")).get("csi.blob-budget"), "the environment's size takes suffixes too");
        PluginMain.UsageException bad = assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"--node-id", "n"}, Map.of("CSI_BLOB_BUDGET", "big")));
        assertTrue(bad.getMessage().contains("CSI_BLOB_BUDGET"), bad.getMessage());
        Map<String, String> env = Map.of("CSI_ENDPOINT", "unix:///from/env.sock", "CSI_NODE_ID", "n", "CSI_METRICS_PORT", "9100");
        assertEquals("/from/env.sock", PluginMain.properties(new String[] {"serve"}, env).get("quarkus.http.domain-socket"));
        assertEquals("9100", PluginMain.properties(new String[] {"serve"}, env).get("quarkus.management.port"));
        assertEquals("/csi/csi.sock", PluginMain.properties(new String[0], Map.of("CSI_NODE_ID", "n")).get("quarkus.http.domain-socket"));
        assertNull(PluginMain.properties(new String[] {"serve", "--help"}, Map.of()));
    }

    @Test
    void badCommandLinesAreRefusedByName() {
        PluginMain.UsageException e = assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"serve", "--nodeid", "x"}, Map.of()));
        assertTrue(e.getMessage().contains("unknown option --nodeid"), e.getMessage());
        e = assertThrows(PluginMain.UsageException.class, () -> PluginMain.properties(new String[] {"serve"}, Map.of()));
        assertTrue(e.getMessage().contains("CSI_NODE_ID"), e.getMessage());
        e = assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"--node-id", "n", "--driver-name", "Not_Valid"}, Map.of()));
        assertTrue(e.getMessage().contains("Not_Valid"), e.getMessage());
        e = assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"--node-id", "n", "--metrics-port", "http"}, Map.of()));
        assertTrue(e.getMessage().contains("--metrics-port"), e.getMessage());
        e = assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"--node-id", "n", "--writable-requests", "allow"}, Map.of()));
        assertTrue(e.getMessage().contains("refuse or read-only"), e.getMessage());
        e = assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"--node-id", "n"}, Map.of("CSI_WRITABLE_REQUESTS", "yes")));
        assertTrue(e.getMessage().contains("--writable-requests"), e.getMessage());
        e = assertThrows(PluginMain.UsageException.class, () -> PluginMain.properties(new String[] {"--endpoint", "tcp://x:1"}, Map.of()));
        assertTrue(e.getMessage().contains("unix:///"), e.getMessage());
        e = assertThrows(PluginMain.UsageException.class, () -> PluginMain.properties(new String[] {"--node-id"}, Map.of()));
        assertTrue(e.getMessage().contains("needs a value"), e.getMessage());
        assertThrows(PluginMain.UsageException.class, () -> PluginMain.socketPath("unix:///" + "x".repeat(120)));
    }

    @Test
    void theCaFileIsCheckedBeforeStart(@TempDir Path tmp) throws Exception {
        PluginMain.UsageException e = assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"--node-id", "n", "--ca-file", tmp.resolve("missing.pem").toString()}, Map.of()));
        assertTrue(e.getMessage().contains("missing.pem") && e.getMessage().contains("does not exist"), e.getMessage());
        Path notPem = Files.writeString(tmp.resolve("ca.pem"), "not a certificate\n");
        e = assertThrows(PluginMain.UsageException.class,
                () -> PluginMain.properties(new String[] {"--node-id", "n"}, Map.of("CSI_CA_FILE", notPem.toString())));
        assertTrue(e.getMessage().contains(notPem.toString()), e.getMessage());
        Path pem = dev.csierofs.blobs.TestHttpsServer.Certificate.create(tmp.resolve("cert")).pem();
        assertEquals(pem.toString(), PluginMain.properties(new String[] {"--node-id", "n", "--ca-file", pem.toString()}, Map.of())
                .get("csi.ca-file"));
    }

    @Test
    void socketPathIsPreparedAndGuarded(@TempDir Path tmp) throws Exception {
        Path socket = tmp.resolve("new/dir/csi.sock");
        PluginMain.prepareSocket(socket);
        assertTrue(Files.isDirectory(socket.getParent()), "the directory is created");
        Path file = Files.writeString(tmp.resolve("not-a-socket"), "data");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> PluginMain.prepareSocket(file));
        assertTrue(e.getMessage().contains("not a socket"), e.getMessage());
        assertEquals("data", Files.readString(file), "a regular file is never replaced");
    }

    @Test
    void aSecondPluginOnOneStateDirAndABusyMetricsPortAreRefusedInOneLine(@TempDir Path tmp) throws Exception {
        PluginMain.lockStateDir(tmp.resolve("state"));
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> PluginMain.lockStateDir(tmp.resolve("state")));
        assertTrue(e.getMessage().contains("another plugin uses the state directory") && e.getMessage().contains("--state-dir"),
                e.getMessage());
        try (var taken = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            java.io.IOException busy = assertThrows(java.io.IOException.class,
                    () -> PluginMain.checkMetricsPort(taken.getLocalPort(), "127.0.0.1"));
            assertTrue(busy.getMessage().contains("--metrics-port"), busy.getMessage());
        }
        PluginMain.checkMetricsPort(0, "0.0.0.0"); // 0: any free port, nothing to check
    }

    @Test
    void refusedStartsAndStopsLeaveNoLockFiles(@TempDir Path tmp) throws Exception {
        Path socket = tmp.resolve("made/csi/csi.sock");
        PluginMain.prepareSocket(socket);
        Path held = Files.createDirectories(tmp.resolve("state"));
        Files.writeString(held.resolve("plugin.lock"), "");
        try (var other = java.nio.channels.FileChannel.open(held.resolve("plugin.lock"), java.nio.file.StandardOpenOption.WRITE);
             var lock = other.lock()) {
            assertThrows(IllegalStateException.class, () -> PluginMain.lockStateDir(held), "the state directory is taken");
        }
        assertTrue(Files.exists(socket.resolveSibling("csi.sock.lock")));
        PluginMain.releaseLocks(); // what main does when a start is refused, and after Quarkus has stopped
        assertFalse(Files.exists(tmp.resolve("made")), "the lock file and the directories made for it are gone");
        PluginMain.lockStateDir(tmp.resolve("new/state"));
        assertTrue(Files.exists(tmp.resolve("new/state/plugin.lock")));
        PluginMain.releaseLocks();
        assertFalse(Files.exists(tmp.resolve("new")), "a state directory made for a start that ends is taken back when empty");
    }

    @Test
    void theStartLogShowsSizesAndDurationsAsGiven() {
        assertEquals("10 GiB", Units.size(10L << 30));
        assertEquals("1500 MiB", Units.size(1500L << 20));
        assertEquals("4097 bytes", Units.size(4097));
        assertEquals("5m", Units.duration(java.time.Duration.ofMinutes(5)));
        assertEquals("90s", Units.duration(java.time.Duration.ofSeconds(90)));
        assertEquals("0s", Units.duration(java.time.Duration.ZERO));
        assertEquals("2h", Units.duration(java.time.Duration.ofHours(2)));
    }

    @Test
    void theKubeletDirMustExist(@TempDir Path tmp) throws Exception {
        PluginMain.UsageException e = assertThrows(PluginMain.UsageException.class, () -> PluginMain.properties(
                new String[] {"--node-id", "n", "--kubelet-dir", tmp.resolve("missing").toString()}, Map.of()));
        assertTrue(e.getMessage().contains("--kubelet-dir"), e.getMessage());
        assertEquals(tmp.toString(), PluginMain.properties(new String[] {"--node-id", "n", "--kubelet-dir", tmp.toString()}, Map.of())
                .get("csi.kubelet-dir"));
    }
}
