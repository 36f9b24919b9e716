package dev.csierofs.mounts;

import dev.csierofs.fs.ContentSharing;
import dev.csierofs.sys.Mounts;
import dev.csierofs.volumes.VolumeSource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** An image mount no volume uses stays for the grace period, is reused if taken again, then goes. */
class ImageMountsTest {

    @Test
    void unusedMountsGoAfterTheGracePeriodUnlessTakenAgain(@TempDir Path tmp) throws Exception {
        Path root = Files.createDirectories(tmp.resolve("images"));
        Files.copy(Path.of("../examples/sample.erofs"), root.resolve("sample.erofs"));
        VolumeSource.Layer layer = VolumeSource.parse(Map.of("image", "sample.erofs"), root).layers().get(0);
        try (ImageMounts mounts = new ImageMounts(tmp.resolve("mounts"), ContentSharing.none(), Duration.ofMillis(700))) {
            ImageMounts.Mounted first = mounts.acquire(List.of(layer));
            String at = first.path().toRealPath().toString();
            mounts.release(first.key());
            Thread.sleep(200);
            assertEquals(1, Mounts.at(at).size(), "still mounted within the grace period");
            ImageMounts.Mounted again = mounts.acquire(List.of(layer));
            assertSame(first, again, "taken again: the same mount, not a new one");
            Thread.sleep(1000);
            assertEquals(1, Mounts.at(at).size(), "in use: the earlier pending unmount was cancelled");
            mounts.release(again.key());
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (!Mounts.at(at).isEmpty() && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(List.of(), Mounts.at(at), "unmounted after the grace period");
            assertEquals(0, mounts.count());
        }
        String prefix = tmp.toRealPath().toString();
        assertTrue(Mounts.read().stream().noneMatch(e -> e.mountPoint().startsWith(prefix)));
    }

    /** What a volume held for a mount (its downloaded blobs) is let go only once the mount no longer needs it. */
    @Test
    void whatTheLastVolumeHeldGoesWithTheMountNotBefore(@TempDir Path tmp) throws Exception {
        Path root = Files.createDirectories(tmp.resolve("images"));
        Files.copy(Path.of("../examples/sample.erofs"), root.resolve("sample.erofs"));
        VolumeSource.Layer layer = VolumeSource.parse(Map.of("image", "sample.erofs"), root).layers().get(0);
        java.util.concurrent.atomic.AtomicInteger letGo = new java.util.concurrent.atomic.AtomicInteger();
        try (ImageMounts mounts = new ImageMounts(tmp.resolve("mounts"), ContentSharing.none(), Duration.ofMillis(600))) {
            ImageMounts.Mounted a = mounts.acquire(List.of(layer));
            ImageMounts.Mounted b = mounts.acquire(List.of(layer));
            mounts.release(a.key(), letGo::incrementAndGet);
            assertEquals(1, letGo.get(), "another volume still uses the mount: let go at once");
            mounts.release(b.key(), letGo::incrementAndGet);
            assertEquals(1, letGo.get(), "the mount stays for its grace period: still held");
            ImageMounts.Mounted c = mounts.acquire(List.of(layer));
            assertEquals(2, letGo.get(), "taken again by a volume that holds its own: let go");
            mounts.release(c.key(), letGo::incrementAndGet);
            long deadline = System.nanoTime() + 5_000_000_000L;
            while (letGo.get() < 3 && System.nanoTime() < deadline) {
                Thread.sleep(50);
            }
            assertEquals(3, letGo.get(), "let go once the mount is gone");
            assertEquals(0, mounts.count());
        }
    }
}
