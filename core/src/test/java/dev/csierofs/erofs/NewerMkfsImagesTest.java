package dev.csierofs.erofs;

import dev.csierofs.tools.Checker;
import dev.csierofs.tools.Extractor;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Images made by erofs-utils 1.9.3 with feature combinations the shared fixtures lack (see
 * src/test/resources/images/make-images.sh), each mounted by the kernel as the oracle: the
 * reader's view, an extracted tree and fsck must all agree with it.
 */
class NewerMkfsImagesTest {
    private static final Path IMAGES = Path.of("src/test/resources/images").toAbsolutePath();

    @BeforeAll
    static void kernelAvailable() {
        String why = KernelMount.unavailableReason();
        assumeTrue(why == null, why);
    }

    static List<String> images() throws Exception {
        try (var s = Files.list(IMAGES)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".erofs")).sorted().toList();
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("images")
    void readerExtractAndFsckAgreeWithTheKernel(String name, @TempDir Path tmp) throws Exception {
        Path image = IMAGES.resolve(name);
        List<String> kernel;
        List<String> kernelSeeks;
        try (KernelMount m = KernelMount.mount(image, List.of(), tmp.resolve("mnt"))) {
            kernel = m.manifest();
            kernelSeeks = KernelMount.seekMap(tmp.resolve("mnt"));
        }
        assertTrue(kernel.size() > 300, name + ": kernel shows " + kernel.size() + " lines");
        try (ErofsImage img = ErofsImage.open(image)) {
            FixtureManifestTest.assertManifestsEqual(name, kernel, ReaderManifest.of(img));

            Path fuseDir = java.nio.file.Files.createDirectory(tmp.resolve("fuse"));
            try (dev.csierofs.fuse.FuseSession fuse = dev.csierofs.fuse.FuseSession.mount(new dev.csierofs.fs.ErofsFilesystem(img),
                    fuseDir, "erofs", name, 2, dev.csierofs.fuse.InitNegotiation.Options.defaults())) {
                FixtureManifestTest.assertManifestsEqual(name + " (FUSE)", kernel, Fixtures.manifestOfTree(fuseDir));
                FixtureManifestTest.assertManifestsEqual(name + " (SEEK_DATA/SEEK_HOLE over FUSE)", kernelSeeks, KernelMount.seekMap(fuseDir));
            }

            Path out = tmp.resolve("out");
            new Extractor(img, out, null).extract();
            FixtureManifestTest.assertManifestsEqual(name + " (extracted)", Fixtures.withoutDirSizes(kernel),
                    Fixtures.withoutDirSizes(Fixtures.manifestOfTree(out)));
            KernelMount.run(List.of("rm", "-rf", out.toString()), Map.of(), null);

            Checker.Report r = new Checker(img).check();
            assertTrue(r.ok(), name + ": " + r.problems());
            if (name.startsWith("fingerprint")) {
                long nonEmpty = kernel.stream().filter(l -> l.split("\t")[1].equals("reg") && !l.split("\t")[5].equals("0")).count();
                assertTrue(r.fingerprints() > 0, "no fingerprint verified");
                assertTrue(r.fingerprints() <= nonEmpty);
            } else {
                assertEquals(0, r.fingerprints());
            }
        }
    }
}
