package dev.csierofs.fs;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FixtureManifestTest;
import dev.csierofs.erofs.Fixtures;
import dev.csierofs.erofs.KernelMount;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import dev.csierofs.sys.Mounts;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A stack of layers served by {@link OverlayFilesystem} reads exactly like the kernel's overlayfs
 * of the kernel's EROFS mounts of the same images: three layers made at test time with every
 * overlay rule (whiteouts of files and directories, xwhiteouts, opaque directories, a directory
 * over a file and a file over a directory, merged directories three deep, hard links, a large
 * merged directory read in several READDIRs), plain and compressed.
 */
class OverlayFilesystemTest {
    @TempDir
    static Path shared;
    static List<Path> layers;

    private static void sh(Path dir, String script) throws Exception {
        Process p = new ProcessBuilder("bash", "-euo", "pipefail", "-c", script).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), script + "\n" + out);
    }

    /** Builds the three layer trees and images them (the middle one lz4hc-compressed). */
    @BeforeAll
    static void makeLayers() throws Exception {
        Path trees = Files.createDirectories(shared.resolve("trees"));
        sh(trees, """
                mkdir -p base/etc/conf.d base/usr/lib/deep/deeper base/gone-dir/sub base/opaque/old base/xw base/becomes-file/x \
                         base/big base/same
                echo base > base/etc/hosts; echo one > base/etc/conf.d/one; echo two > base/etc/conf.d/two
                echo lib > base/usr/lib/libc.so; echo deep > base/usr/lib/deep/deeper/f
                echo gone > base/gone-file; echo g > base/gone-dir/sub/g; echo old > base/opaque/old/o; echo o2 > base/opaque/keep
                echo xa > base/xw/a; echo xb > base/xw/b; echo file > base/becomes-dir
                echo x > base/becomes-file/x/y; echo hl > base/usr/lib/hard; ln base/usr/lib/hard base/usr/lib/hard2
                ln -s ../etc/hosts base/usr/hosts-link; setfattr -n user.layer -v base base/etc
                for i in $(seq 1 1500); do echo $i > base/big/base-entry-with-a-long-name-$i; done
                echo same > base/same/f; chmod 0700 base/same; setfattr -n user.where -v base base/same/f
                mkdir -p mid/etc/conf.d mid/usr/lib/deep/deeper mid/opaque mid/big mid/xw mid/becomes-dir
                echo mid > mid/etc/hosts; echo midone > mid/etc/conf.d/one; mknod mid/etc/conf.d/two c 0 0
                echo middeep > mid/usr/lib/deep/deeper/m; mknod mid/gone-file c 0 0; mknod mid/gone-dir c 0 0
                setfattr -n trusted.overlay.opaque -v y mid/opaque; echo new > mid/opaque/new
                for i in $(seq 1 1500); do echo $i > mid/big/mid-entry-with-a-long-name-$i; done
                for i in $(seq 1 500 1500); do mknod mid/big/base-entry-with-a-long-name-$i c 0 0; done
                setfattr -n trusted.overlay.opaque -v x mid/xw; touch mid/xw/a; setfattr -n trusted.overlay.whiteout -v "" mid/xw/a
                echo kept > mid/xw/c; echo d > mid/becomes-dir/d; setfattr -n user.layer -v mid mid/etc
                mkdir -p top/etc top/usr/lib/deep/deeper top/big
                echo top > top/etc/hosts; chmod 0600 top/etc/hosts; echo topdeep > top/usr/lib/deep/deeper/t
                echo file-now > top/becomes-file; mknod top/big/mid-entry-with-a-long-name-7 c 0 0
                echo data > top/not-whiteout; setfattr -n trusted.overlay.whiteout -v "" top/not-whiteout
                setfattr -n user.layer -v top top/usr; setfattr -n trusted.overlay.opaque -v y top
                mkfifo top/fifo; mknod top/chr c 1 3; ln -s /nowhere top/dangling
                touch -d 2020-01-02 top/etc mid/etc base/etc
                mkfs.erofs --quiet base.erofs base
                mkfs.erofs --quiet -zlz4hc mid.erofs mid
                mkfs.erofs --quiet top.erofs top
                """);
        layers = List.of(trees.resolve("base.erofs"), trees.resolve("mid.erofs"), trees.resolve("top.erofs"));
    }

    /** Mounts the stack with our daemon at {@code mnt}, runs {@code body}, unmounts. */
    private static <T> T withStack(List<Path> images, ContentSharing sharing, Path mnt, Body<T> body) throws Exception {
        List<ErofsImage> opened = new ArrayList<>();
        try {
            List<String> keys = new ArrayList<>();
            for (Path p : images) {
                opened.add(ErofsImage.open(p, List.of()));
                keys.add(ContentSharing.fileKey(p));
            }
            Files.createDirectories(mnt);
            OverlayFilesystem fs = new OverlayFilesystem(opened, sharing, keys);
            FuseSession session = FuseSession.mount(fs, mnt, "erofs", "stack", 2, InitNegotiation.Options.defaults());
            T result;
            try {
                result = body.run(mnt);
            } finally {
                session.close();
            }
            assertTrue(session.awaitStop(5, TimeUnit.SECONDS), "reader threads still running after unmount");
            assertTrue(Mounts.at(mnt.toRealPath().toString()).isEmpty(), "mount left behind");
            return result;
        } finally {
            for (ErofsImage i : opened) {
                i.close();
            }
        }
    }

    interface Body<T> {
        T run(Path mnt) throws Exception;
    }

    @Test
    void stackReadsLikeKernelOverlayfs(@TempDir Path tmp) throws Exception {
        List<String> kernel = KernelMount.manifestOfOverlay(layers, tmp.resolve("kernel"));
        List<String> ours = withStack(layers, ContentSharing.none(), tmp.resolve("ours"), Fixtures::manifestOfTree);
        FixtureManifestTest.assertManifestsEqual("three-layer stack", kernel, ours);
        // the oracle is not vacuous: the rules under test show in it
        assertTrue(ours.stream().anyMatch(l -> l.startsWith("/opaque/new\t")));
        assertFalse(ours.stream().anyMatch(l -> l.startsWith("/opaque/keep\t") || l.startsWith("/gone-file\t")
                || l.startsWith("/gone-dir") || l.startsWith("/xw/a\t") || l.startsWith("/etc/conf.d/two\t")));
        assertTrue(ours.stream().anyMatch(l -> l.startsWith("/becomes-dir\tdir")));
        // a merged directory shows the topmost directory's xattrs only: top's /etc has none, its /usr one
        assertTrue(ours.stream().anyMatch(l -> l.startsWith("/etc\tdir\t") && !l.contains("user.layer")));
        assertTrue(ours.stream().anyMatch(l -> l.startsWith("/usr\tdir\t") && l.contains("user.layer=746f70\t")));
        assertEquals(2 + 1500 + 1500 - 3 - 1, ours.stream().filter(l -> l.startsWith("/big/")).count() + 2);
    }

    @Test
    void singleLayerStackReadsLikeTheImage(@TempDir Path tmp) throws Exception {
        List<String> kernel = KernelMount.manifestOfOverlay(layers.subList(0, 1), tmp.resolve("kernel"));
        List<String> ours = withStack(layers.subList(0, 1), ContentSharing.none(), tmp.resolve("ours"), Fixtures::manifestOfTree);
        FixtureManifestTest.assertManifestsEqual("one-layer stack", kernel, ours);
    }

    @Test
    void fixturesStackedOnEachOther(@TempDir Path tmp) throws Exception {
        // real images with hard links, long names, every file type and big compressed files, as two layers
        List<Path> pair = List.of(Fixtures.image("lz4hc"), Fixtures.image("deb15-plain"));
        List<String> kernel = KernelMount.manifestOfOverlay(pair, tmp.resolve("kernel"));
        List<String> ours = withStack(pair, ContentSharing.none(), tmp.resolve("ours"), Fixtures::manifestOfTree);
        FixtureManifestTest.assertManifestsEqual("lz4hc under deb15-plain", kernel, ours);
    }

    @Test
    void whiteoutInAOneLayerDirectoryIsHiddenFromListingsToo(@TempDir Path tmp) throws Exception {
        // overlayfs lists it yet fails its lookup; here it is simply not there
        Path tree = Files.createDirectories(tmp.resolve("tree"));
        sh(tree, "mkdir -p t/only && echo k > t/only/keep && mknod t/only/wh c 0 0 && mkfs.erofs --quiet one.erofs t");
        withStack(List.of(tree.resolve("one.erofs"), layers.get(0)), ContentSharing.none(), tmp.resolve("ours"), mnt -> {
            try (Stream<Path> s = Files.list(mnt.resolve("only"))) {
                assertEquals(List.of(mnt.resolve("only/keep")), s.toList());
            }
            assertThrows(NoSuchFileException.class, () -> Files.readAttributes(mnt.resolve("only/wh"), "unix:mode",
                    java.nio.file.LinkOption.NOFOLLOW_LINKS));
            return null;
        });
    }

    @Test
    void emptyFileMarkedWhiteoutIsNotFoundInAnyDirectory(@TempDir Path tmp) throws Exception {
        // overlayfs: found by no lookup; listed only where the directory does not announce xwhiteouts
        Path tree = Files.createDirectories(tmp.resolve("tree"));
        sh(tree, "mkdir -p t/etc && touch t/etc/hosts && setfattr -n trusted.overlay.whiteout -v '' t/etc/hosts"
                + " && mkfs.erofs --quiet one.erofs t");
        withStack(List.of(layers.get(0), tree.resolve("one.erofs")), ContentSharing.none(), tmp.resolve("ours"), mnt -> {
            assertFalse(Files.exists(mnt.resolve("etc/hosts"), java.nio.file.LinkOption.NOFOLLOW_LINKS));
            assertTrue(Files.exists(mnt.resolve("etc/conf.d/one")));
            return null;
        });
    }

    @Test
    void passthroughThroughTheStackKeepsMountPathsInMaps(@TempDir Path tmp) throws Exception {
        Path store = tmp.resolve("store");
        try (ContentSharing sharing = ContentSharing.withStore(store, 1L << 30, ContentSharing.Options.defaults())) {
            withStack(layers, sharing, tmp.resolve("ours"), mnt -> {
                Path lower = mnt.resolve("usr/lib/libc.so"); // from the bottom layer
                try (FileChannel ch = FileChannel.open(lower, StandardOpenOption.READ)) {
                    var map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size());
                    assertEquals('l', map.get(0));
                    String maps = Files.readString(Path.of("/proc/self/maps"));
                    assertTrue(maps.contains(lower.toString()), "maps lacks " + lower);
                    assertFalse(maps.contains(store.toString()), "a store path shows in maps");
                }
                assertEquals("mid\n", Files.readString(mnt.resolve("etc/hosts").resolveSibling("conf.d/one")).replace("midone", "mid"));
                assertTrue(sharing.stats().passthroughOpens() >= 2, "opens passed through: " + sharing.stats());
                return null;
            });
        }
    }
}
