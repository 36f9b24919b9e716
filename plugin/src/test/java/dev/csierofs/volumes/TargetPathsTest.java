package dev.csierofs.volumes;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Optional;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Target paths resolved as the kernel sees them, and kept inside --kubelet-dir. */
class TargetPathsTest {

    @Test
    void everySpellingOfATargetIsItsCanonicalPath(@TempDir Path tmp) throws Exception {
        Path real = tmp.toRealPath();
        Path pod = Files.createDirectories(real.resolve("pods/uid/volumes/v"));
        Files.createSymbolicLink(real.resolve("pod-link"), real.resolve("pods/uid"));
        Path target = pod.resolve("mount");
        assertEquals(target, TargetPaths.canonical(pod.resolve("./mount")));
        assertEquals(target, TargetPaths.canonical(real.resolve("pods/uid/../uid/volumes/v/mount")));
        assertEquals(target, TargetPaths.canonical(real.resolve("pod-link/volumes/v/mount")), "a symlinked parent is resolved");
        assertEquals(real.resolve("pods/new/deeper/mount"), TargetPaths.canonical(real.resolve("pods/./new/deeper/mount")),
                "directories still to be made are taken as named");
        Files.createSymbolicLink(real.resolve("last"), target);
        TargetException e = assertThrows(TargetException.class, () -> TargetPaths.canonical(real.resolve("last")));
        assertTrue(e.getMessage().contains("symlink"), e.getMessage());
        Files.writeString(real.resolve("file"), "x");
        assertThrows(TargetException.class, () -> TargetPaths.canonical(real.resolve("file/mount")), "a file above the target");
        assertThrows(InvalidVolumeException.class, () -> TargetPaths.canonical(Path.of("relative/mount")));
        assertThrows(InvalidVolumeException.class, () -> TargetPaths.canonical(real.resolve("missing/../mount")),
                "'..' below a directory that does not exist");
        assertThrows(InvalidVolumeException.class, () -> TargetPaths.canonical(real.resolve("pods/..")));
    }

    @Test
    void theKubeletDirConfinesTargetsAfterResolving(@TempDir Path tmp) throws Exception {
        Path real = tmp.toRealPath();
        Path kubelet = Files.createDirectories(real.resolve("data/kubelet"));
        Files.createDirectories(kubelet.resolve("pods"));
        Files.createSymbolicLink(real.resolve("kubelet-link"), kubelet); // a symlinked /var/lib/kubelet
        Files.createDirectories(real.resolve("outside"));
        Files.createSymbolicLink(kubelet.resolve("pods/escape"), real.resolve("outside"));
        TargetPaths paths = new TargetPaths(Optional.of(real.resolve("kubelet-link")));
        assertEquals(kubelet, paths.kubeletDir().orElseThrow());
        assertEquals(kubelet.resolve("pods/uid/mount"), paths.forPublish(real.resolve("kubelet-link/pods/uid/mount")));
        for (String outside : new String[] {"outside/mount", "data/kubelet/pods/escape/mount", "data/kubelet/pods/../../x/mount",
                "data/kubelet"}) {
            InvalidVolumeException e = assertThrows(InvalidVolumeException.class, () -> paths.forPublish(real.resolve(outside)));
            assertTrue(e.getMessage().contains("--kubelet-dir"), e.getMessage());
        }
        assertFalse(Files.exists(real.resolve("outside/mount")));
        assertThrows(java.nio.file.NoSuchFileException.class, () -> new TargetPaths(Optional.of(real.resolve("no-such-dir"))));
    }
}
