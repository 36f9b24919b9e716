package dev.csierofs.tools;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Fixtures;
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
