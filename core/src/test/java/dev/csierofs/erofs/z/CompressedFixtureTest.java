package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every regular file of every compressed fixture, read through our reader, has the sha256 the
 * kernel gave it (the manifest's sha256 column). Directories of zdir and metabox are compressed
 * too, so walking the tree at all exercises the same code.
 */
class CompressedFixtureTest {

    static List<String> fixtures() {
        return ZFixtures.COMPRESSED;
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void everyRegularFileMatchesKernelSha256(String name) throws Exception {
        Map<String, String> expected = ZFixtures.regularFiles(name);
        List<String> bad = new ArrayList<>();
        int compressed = 0;
        byte[] buf = new byte[128 << 10];
        MessageDigest md = MessageDigest.getInstance("SHA-256");
        try (ErofsImage img = ErofsImage.open(ZFixtures.image(name))) {
            Map<String, Inode> inodes = ZFixtures.inodes(img);
            for (Map.Entry<String, String> x : expected.entrySet()) {
                Inode ino = inodes.get(x.getKey());
                if (ino == null) {
                    bad.add("missing " + x.getKey());
                    continue;
                }
                if (ino.isCompressed()) {
                    compressed++;
                }
                FileData d = img.openData(ino);
                md.reset();
                long pos = 0;
                while (pos < ino.size()) {
                    int n = d.read(pos, buf, 0, buf.length);
                    if (n <= 0) {
                        throw new AssertionError(x.getKey() + ": short read at " + pos);
                    }
                    md.update(buf, 0, n);
                    pos += n;
                }
                assertEquals(0, d.read(ino.size(), buf, 0, 10), "read at EOF");
                String got = HexFormat.of().formatHex(md.digest());
                if (!got.equals(x.getValue())) {
                    bad.add(x.getKey() + " (" + (ino.isCompressed() ? "layout " + ino.layout() : "flat") + "): " + got);
                }
            }
        }
        assertTrue(bad.isEmpty(), name + ": " + bad.size() + " file(s) differ from the kernel: " + bad.subList(0, Math.min(10, bad.size())));
        assertTrue(compressed > 0 || name.equals("all-fragments"), name + ": no compressed file found");
    }
}
