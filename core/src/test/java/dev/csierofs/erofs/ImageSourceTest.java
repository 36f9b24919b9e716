package dev.csierofs.erofs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class ImageSourceTest {

    /** Opened without its data device, an image reads metadata and names the missing device on data reads. */
    @Test
    void missingExtraDeviceIsNamedOnlyWhenItsDataIsRead() throws Exception {
        try (ErofsImage img = ErofsImage.open(Fixtures.image("blobdev"), java.util.List.of(), false)) {
            Inode f = img.resolve("/etc/fixture.conf").orElseThrow();
            assertTrue(img.xattrs().list(f).isEmpty());
            ErofsException e = assertThrows(ErofsException.class, () -> img.openData(f).read(0, new byte[16], 0, 16));
            assertTrue(e.getMessage().contains("extra device 1") && e.getMessage().contains("--device"), e.getMessage());
        }
        assertThrows(ErofsException.class, () -> ErofsImage.open(Fixtures.image("blobdev"), java.util.List.of()));
        assertThrows(ErofsException.class, () -> ErofsImage.open(Fixtures.image("plain"),
                java.util.List.of(Fixtures.image("plain")), false), "more devices than the table lists");
    }

    /** Cached reads return the same bytes as direct reads, across page boundaries and at the end. */
    @Test
    void cachedReadsEqualDirectReads(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("image");
        byte[] content = new byte[3 * 4096 + 123];
        new java.util.Random(2).nextBytes(content);
        Files.write(f, content);
        try (ImageSource src = ImageSource.open(f)) {
            java.util.Random r = new java.util.Random(3);
            for (int i = 0; i < 2000; i++) {
                int len = r.nextInt(9000);
                int pos = r.nextInt(content.length - len + 1);
                byte[] b = new byte[len];
                src.readCached(pos, b, 0, len, "test");
                assertArrayEquals(java.util.Arrays.copyOfRange(content, pos, pos + len), b, "at " + pos + " len " + len);
            }
            assertThrows(ErofsException.class, () -> src.readCached(content.length - 10, new byte[11], 0, 11, "test"));
        }
    }

    /**
     * The metadata cache really is emptied when the daemon goes idle: a page rewritten on disk
     * after it was cached reads as cached until the release, and as on disk after it.
     */
    @Test
    void releasingTheCacheRereadsFromTheFile(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("image");
        Files.write(f, new byte[8192]);
        try (ImageSource src = ImageSource.open(f)) {
            byte[] b = new byte[16];
            src.readCached(4096, b, 0, b.length, "test");
            assertArrayEquals(new byte[16], b);
            byte[] ones = new byte[16];
            java.util.Arrays.fill(ones, (byte) 1);
            try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
                raf.seek(4096);
                raf.write(ones);
            }
            src.readCached(4096, b, 0, b.length, "test");
            assertArrayEquals(new byte[16], b, "served from the cache before the release");
            ImageSource.releaseCache();
            src.readCached(4096, b, 0, b.length, "test");
            assertArrayEquals(ones, b, "read again from the file after the release");
        }
    }

    /** A backing file truncated while open gives a checked error naming the cause. */
    @Test
    void fileShrinkingUnderTheMappingIsAnError(@TempDir Path tmp) throws Exception {
        Path f = tmp.resolve("image");
        byte[] content = new byte[1 << 20];
        new java.util.Random(1).nextBytes(content);
        Files.write(f, content);
        try (ImageSource src = ImageSource.open(f)) {
            byte[] b = new byte[4096];
            src.readFully(512 << 10, b, 0, b.length, "test");
            assertArrayEquals(java.util.Arrays.copyOfRange(content, 512 << 10, (512 << 10) + 4096), b);
            try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
                raf.setLength(4096);
            }
            ErofsException e = assertThrows(ErofsException.class, () -> src.readFully(768 << 10, b, 0, b.length, "test"));
            assertTrue(e.getMessage().contains("shrank"), e.getMessage());
            e = assertThrows(ErofsException.class, () -> src.readCached(900 << 10, b, 0, 64, "test"));
            assertTrue(e.getMessage().contains("shrank"), e.getMessage());
        }
    }
}
