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

    /** A backing file truncated while mapped gives a checked error, not a crash of the JVM. */
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
        }
    }
}
