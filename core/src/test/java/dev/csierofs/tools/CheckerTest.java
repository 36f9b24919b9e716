package dev.csierofs.tools;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class CheckerTest {

    @Test
    void cleanFixtureHasNoProblems() throws Exception {
        try (ErofsImage img = ErofsImage.open(Fixtures.image("plain"))) {
            Checker.Report r = new Checker(img).check();
            assertTrue(r.ok(), r.problems().toString());
            assertTrue(r.checksumVerified());
            // the sum of the sizes of the distinct regular-file inodes of the tree (hard links read once)
            assertEquals(5071032, r.bytes(), "every byte of every file read once");
        }
    }

    @Test
    void verifiesEveryFingerprint() throws Exception {
        for (String name : new String[] {"fingerprint", "fingerprint-trusted"}) {
            long expected = Files.readAllLines(Fixtures.dir().resolve(name + ".fingerprints")).stream()
                    .skip(1).filter(l -> !l.endsWith("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")).count();
            try (ErofsImage img = ErofsImage.open(Fixtures.image(name))) {
                Checker.Report r = new Checker(img).check();
                assertTrue(r.ok(), r.problems().toString());
                assertTrue(r.fingerprints() > 0 && r.fingerprints() <= expected, name + ": " + r.fingerprints() + " of " + expected);
            }
        }
    }

    /** A fingerprint that does not match the content is reported with the file's path. */
    @Test
    void reportsFingerprintMismatch(@TempDir Path tmp) throws Exception {
        byte[] image = Files.readAllBytes(Fixtures.image("fingerprint"));
        // Flip one byte of prose.txt's stored digest (its inode lies past block 0, outside the superblock checksum).
        String hex = Files.readAllLines(Fixtures.dir().resolve("fingerprint.fingerprints")).stream()
                .filter(l -> l.startsWith("/usr/share/fixture/prose.txt\t")).findFirst().orElseThrow().split("\t")[1];
        byte[] digest = HexFormat.of().parseHex(hex);
        int at = indexOf(image, digest);
        assertTrue(at > 0, "digest of prose.txt not found in the image");
        image[at + 5] ^= 0x40;
        Path bad = tmp.resolve("bad.erofs");
        Files.write(bad, image);
        try (ErofsImage img = ErofsImage.open(bad)) {
            Checker.Report r = new Checker(img).check();
            assertFalse(r.ok());
            assertEquals(1, r.problems().size(), r.problems().toString());
            assertEquals("/usr/share/fixture/prose.txt", r.problems().get(0).path());
            assertTrue(r.problems().get(0).reason().contains("does not match its fingerprint"), r.problems().get(0).reason());
        }
    }

    private static int indexOf(byte[] hay, byte[] needle) {
        outer:
        for (int i = 0; i + needle.length <= hay.length; i++) {
            for (int j = 0; j < needle.length; j++) {
                if (hay[i + j] != needle[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }
}
