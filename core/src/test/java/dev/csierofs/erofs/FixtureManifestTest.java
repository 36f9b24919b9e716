package dev.csierofs.erofs;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.fail;

/**
 * Every shared fixture (made by mkfs.erofs 1.9.3 and 1.5) read through our reader must give
 * exactly the manifest the kernel gave for it: type, mode, owners, size, nlink, mtime, symlink
 * targets, rdev, xattrs, content hash and hard-link grouping of every path.
 */
public class FixtureManifestTest {

    static List<String> fixtures() throws Exception {
        return Fixtures.names();
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void readerMatchesKernelManifest(String name) throws Exception {
        List<String> expected = Fixtures.manifest(name);
        List<String> actual;
        try (ErofsImage img = ErofsImage.open(Fixtures.image(name), Fixtures.devices(name))) {
            actual = ReaderManifest.of(img);
        }
        assertManifestsEqual(name, expected, actual);
    }

    public static void assertManifestsEqual(String name, List<String> expected, List<String> actual) {
        if (expected.equals(actual)) {
            return;
        }
        List<String> diffs = new ArrayList<>();
        java.util.Set<String> a = new java.util.HashSet<>(actual);
        java.util.Set<String> e = new java.util.HashSet<>(expected);
        for (String l : expected) {
            if (!a.contains(l) && diffs.size() < 8) {
                diffs.add("- " + l);
            }
        }
        for (String l : actual) {
            if (!e.contains(l) && diffs.size() < 16) {
                diffs.add("+ " + l);
            }
        }
        assertEquals(expected.size(), actual.size(), name + ": line count differs\n" + String.join("\n", diffs));
        fail(name + ": manifest differs from the kernel's (- kernel, + reader):\n" + String.join("\n", diffs));
    }
}
