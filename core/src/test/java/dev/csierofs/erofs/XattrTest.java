package dev.csierofs.erofs;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class XattrTest {

    /** getxattr (which consults the bloom filter first) finds every listed xattr, and no other. */
    @ParameterizedTest
    @ValueSource(strings = {"plain", "xattr-prefix", "fingerprint-trusted", "metabox", "tar-full"})
    void getFindsEveryListedXattrAndNothingElse(String name) throws Exception {
        try (ErofsImage img = ErofsImage.open(Fixtures.image(name), Fixtures.devices(name))) {
            int[] checked = {0};
            new TreeWalker(img).walk((path, ino) -> {
                for (Xattr x : img.xattrs().list(ino)) {
                    assertArrayEquals(x.value(), img.xattrs().get(ino, x.nameString()).orElseThrow(
                            () -> new AssertionError(Escape.text(path) + " " + x.nameString())));
                    checked[0]++;
                }
                for (String absent : new String[] {"user.absent", "trusted.overlay.nope", "security.selinux", "user.fixture.long.prefix.zz"}) {
                    assertTrue(img.xattrs().get(ino, absent).isEmpty(), absent);
                }
            });
            assertTrue(checked[0] > 100, "only " + checked[0] + " xattrs checked");
        }
    }

    @Test
    void fingerprintIsHiddenFromListingsButGivesTheContentDigest() throws Exception {
        for (String name : new String[] {"fingerprint", "fingerprint-trusted"}) {
            Map<String, String> expected = new HashMap<>();
            for (String l : Files.readAllLines(Fixtures.dir().resolve(name + ".fingerprints"))) {
                if (!l.startsWith("#")) {
                    String[] f = l.split("\t");
                    expected.put(f[0], f[1]);
                }
            }
            try (ErofsImage img = ErofsImage.open(Fixtures.image(name))) {
                int[] n = {0};
                new TreeWalker(img).walk((path, ino) -> {
                    if (!ino.isRegular()) {
                        assertTrue(img.contentDigest(ino).isEmpty());
                        return;
                    }
                    var d = img.contentDigest(ino);
                    if (ino.size() == 0) {
                        assertTrue(d.isEmpty(), "empty files carry no fingerprint");
                        return;
                    }
                    assertEquals(expected.get(Escape.text(path)), d.orElseThrow().hex(), Escape.text(path));
                    n[0]++;
                    for (Xattr x : img.xattrs().list(ino)) {
                        assertTrue(!x.nameString().equals("erofs.fingerprint.v1"), "the default fingerprint is hidden like the kernel hides it");
                    }
                });
                assertTrue(n[0] > 200, name + ": " + n[0]);
            }
        }
        try (ErofsImage img = ErofsImage.open(Fixtures.image("plain"))) {
            assertTrue(img.contentDigest(img.resolve("/etc/fixture.conf").orElseThrow()).isEmpty());
        }
    }

    @Test
    void securityCapabilityAndAclsAreReadAsTheKernelShowsThem() throws Exception {
        try (ErofsImage img = ErofsImage.open(Fixtures.image("plain"))) {
            Inode tool = img.resolve("/usr/bin/fixture-tool").orElseThrow();
            byte[] cap = img.xattrs().get(tool, "security.capability").orElseThrow();
            assertEquals(20, cap.length, "VFS_CAP_REVISION_2 is 20 bytes");
            assertEquals("01000002", HexFormat.of().formatHex(cap, 0, 4), "revision 2, effective");
            Inode dir = img.resolve("/srv/xattrs/acl-dir").orElseThrow();
            assertEquals("0200000001000700ffffffff04000500ffffffff08000500e803000010000500ffffffff20000000ffffffff",
                    HexFormat.of().formatHex(img.xattrs().get(dir, "system.posix_acl_default").orElseThrow()));
            Inode file = img.resolve("/srv/xattrs/acl-file").orElseThrow();
            assertTrue(img.xattrs().get(file, "system.posix_acl_access").isPresent());
            assertTrue(img.xattrs().get(file, "system.posix_acl_default").isEmpty());
        }
    }
}
