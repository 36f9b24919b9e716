package dev.csierofs.tools;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Fixtures;
import dev.csierofs.erofs.Inode;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Extracts every fixture and compares the extracted tree, as manifest.py sees it on the local
 * filesystem, with the kernel's manifest of the image (directory sizes aside: they belong to
 * the filesystem extracted onto). Needs root for owners, device nodes and trusted.* xattrs.
 */
class ExtractorTest {

    static List<String> fixtures() throws IOException {
        return Fixtures.names();
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void extractedTreeMatchesKernelManifest(String name, @TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("out");
        try (ErofsImage img = ErofsImage.open(Fixtures.image(name), Fixtures.devices(name))) {
            Extractor.Stats s = new Extractor(img, out, null).extract();
            assertTrue(s.files() > 0, "no files extracted");
        }
        List<String> actual = Fixtures.withoutDirSizes(Fixtures.manifestOfTree(out));
        List<String> expected = Fixtures.withoutDirSizes(Fixtures.manifest(name));
        dev.csierofs.erofs.FixtureManifestTest.assertManifestsEqual(name, expected, actual);
    }

    /** A read error half-way removes what was extracted and names the path that failed. */
    @Test
    void failureLeavesNothingBehind(@TempDir Path tmp) throws Exception {
        byte[] img = Files.readAllBytes(Fixtures.image("plain"));
        long tail;
        try (ErofsImage image = ErofsImage.open(Fixtures.image("plain"))) {
            Inode dir = image.resolve("/srv/tower/t01/t02/t03").orElseThrow();
            assertEquals(Inode.FLAT_INLINE, dir.layout(), "the dirents must sit right after the inode");
            tail = dir.tailPos();
        }
        img[(int) tail + 8] = (byte) 0xff; // first dirent's name offset: out of range
        img[(int) tail + 9] = (byte) 0x7f;
        Path bad = Files.write(tmp.resolve("bad.erofs"), img);
        Path out = tmp.resolve("out");
        try (ErofsImage image = ErofsImage.open(bad)) {
            IOException e = assertThrows(IOException.class, () -> new Extractor(image, out, null).extract());
            assertTrue(e.getMessage().startsWith("/srv/tower/t01/t02/t03: "), e.getMessage());
        }
        assertTrue(Files.notExists(out), "partial extraction left behind");

        Path existing = Files.createDirectory(tmp.resolve("existing"));
        try (ErofsImage image = ErofsImage.open(bad)) {
            assertThrows(IOException.class, () -> new Extractor(image, existing, null).extract());
        }
        try (var s = Files.list(existing)) {
            assertEquals(0, s.count(), "an existing target is emptied again");
        }
    }

    @Test
    void refusesNonEmptyTarget(@TempDir Path tmp) throws Exception {
        Files.writeString(tmp.resolve("keep.txt"), "do not clobber");
        try (ErofsImage img = ErofsImage.open(Fixtures.image("plain"))) {
            IOException e = assertThrows(IOException.class, () -> new Extractor(img, tmp, null).extract());
            assertTrue(e.getMessage().contains("is not empty"), e.getMessage());
        }
        assertEquals("do not clobber", Files.readString(tmp.resolve("keep.txt")));
    }

    /** Holes of chunked files (null chunks) stay holes; so do all-zero blocks of compressed files. */
    @ParameterizedTest
    @org.junit.jupiter.params.provider.ValueSource(strings = {"chunk", "lz4hc"})
    void keepsHolesOfSparseFiles(String name, @TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("out");
        try (ErofsImage img = ErofsImage.open(Fixtures.image(name))) {
            new Extractor(img, out, null).extract();
        }
        Path sparse = out.resolve("var/lib/images/disk.img");
        assertEquals(4L << 20, Files.size(sparse));
        Process stat = new ProcessBuilder("stat", "-c", "%b", sparse.toString()).start();
        long allocated = Long.parseLong(new String(stat.getInputStream().readAllBytes()).trim()) * 512;
        assertEquals(0, stat.waitFor());
        assertTrue(allocated <= 64 * 1024, "sparse file allocated " + allocated + " bytes");
    }
}
