package dev.csierofs.erofs;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Lookup and readdir cookies on multi-block directories (700 entries: 8 blocks at 4 KiB, 67 at 512 B). */
class DirectoryTest {

    @ParameterizedTest
    @ValueSource(strings = {"plain", "b512", "compact", "zdir", "metabox", "tar-index", "deb15-plain"})
    void readdirResumesFromEveryCookieAndLookupFindsEveryName(String name) throws Exception {
        try (ErofsImage img = ErofsImage.open(Fixtures.image(name), Fixtures.devices(name))) {
            Inode crowd = img.resolve("/srv/crowd").orElseThrow();
            Directory dir = img.directory(crowd);
            List<Dirent> all = list(dir, 0, Integer.MAX_VALUE);
            assertEquals(702, all.size(), "700 entries plus . and ..");
            assertTrue(all.get(0).isDot() || all.get(1).isDot());
            for (int i = 1; i < all.size(); i++) {
                assertTrue(Arrays.compareUnsigned(all.get(i - 1).name(), all.get(i).name()) < 0, "sorted");
            }
            // Resuming from any entry's cookie yields exactly the entries after it.
            for (int i = 0; i < all.size(); i++) {
                List<Dirent> rest = list(dir, all.get(i).nextCookie(), 3);
                List<Dirent> want = all.subList(i + 1, Math.min(all.size(), i + 4));
                assertEquals(names(want), names(rest), "resume after entry " + i);
            }
            for (Dirent d : all) {
                Dirent found = dir.lookup(d.name()).orElseThrow(() -> new AssertionError("lookup " + d.nameString()));
                assertEquals(d.nid(), found.nid());
            }
            for (String missing : new String[] {"", "!", "~~~~", "file-0000x", "zzzz", "dir-00"}) {
                assertTrue(dir.lookup(missing.getBytes(StandardCharsets.UTF_8)).isEmpty(), missing);
            }
        }
    }

    /** Dot-omitted directories (mkfs.erofs -Edot-omitted) list a synthesized "." first, like the kernel. */
    @ParameterizedTest
    @ValueSource(strings = {"dot-omitted", "dot-omitted-zdir"})
    void dotOmittedDirectoriesStillListDotAndResumeFromEveryCookie(String name) throws Exception {
        try (ErofsImage img = ErofsImage.open(java.nio.file.Path.of("src/test/resources/images", name + ".erofs"))) {
            Inode many = img.resolve("/many").orElseThrow();
            assertTrue(many.dotOmitted());
            Directory dir = img.directory(many);
            List<Dirent> all = list(dir, 0, Integer.MAX_VALUE);
            assertEquals(303, all.size(), "301 entries plus . and ..");
            assertTrue(all.get(0).isDot());
            assertEquals(many.nid(), all.get(0).nid());
            assertEquals(1, all.stream().filter(Dirent::isDot).count());
            for (int i = 0; i < all.size(); i++) {
                assertEquals(names(all.subList(i + 1, all.size())), names(list(dir, all.get(i).nextCookie(), Integer.MAX_VALUE)),
                        "resume after entry " + i);
            }
        }
    }

    /** Symlinks are followed inside the image: relative, absolute, through directories, loops refused. */
    @org.junit.jupiter.api.Test
    void resolveFollowingStaysInsideTheImage() throws Exception {
        try (ErofsImage img = ErofsImage.open(Fixtures.image("plain"))) {
            Inode lib = img.resolve("/usr/lib/x86_64-linux-gnu/libmd.so.0.0.5").orElseThrow();
            assertEquals(lib.nid(), img.resolveFollowing("/lib64/libmd.so.0").orElseThrow().nid(), "dir symlink, then soname link");
            assertEquals(lib.nid(), img.resolveFollowing("lib64/../x86_64-linux-gnu/./libmd.so.0").orElseThrow().nid(),
                    "\"..\" after a symlink goes to the target's parent, as in the kernel");
            assertEquals(img.rootNid(), img.resolveFollowing("/../../..").orElseThrow().nid(), ".. stops at the image root");
            assertTrue(img.resolveFollowing("/srv/links/dangling").isEmpty());
            ErofsException loop = org.junit.jupiter.api.Assertions.assertThrows(ErofsException.class,
                    () -> img.resolveFollowing("/srv/links/self-loop"));
            assertTrue(loop.getMessage().contains("more than 40 symlinks"), loop.getMessage());
            assertTrue(img.resolve("/lib64/libmd.so.0").isEmpty(), "resolve() itself follows nothing");
        }
    }

    private static List<Dirent> list(Directory dir, long cookie, int max) throws ErofsException {
        List<Dirent> out = new ArrayList<>();
        dir.readdir(cookie, d -> {
            out.add(d);
            return out.size() < max;
        });
        return out;
    }

    private static List<String> names(List<Dirent> ds) {
        return ds.stream().map(Dirent::nameString).toList();
    }
}
