package dev.csierofs.cli;

import dev.csierofs.erofs.CraftedImages;
import dev.csierofs.erofs.Fixtures;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Runs the packaged command line exactly as a user does, through bin/csi-driver-erofs. */
class CliIT {
    private static final Path ROOT = Path.of(System.getProperty("project.root", ".")).toAbsolutePath();
    private static final Path SAMPLE = ROOT.resolve("examples/sample.erofs");

    record Run(int exit, byte[] out, String err) {
        String text() {
            return new String(out, StandardCharsets.UTF_8);
        }
    }

    static Run run(String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ROOT.resolve("bin/csi-driver-erofs").toString());
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).start();
        p.getOutputStream().close();
        var out = p.getInputStream().readAllBytes();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        return new Run(p.waitFor(), out, err);
    }

    /** A failure is exactly one line on stderr naming the problem, and exit status 1. */
    static void assertOneLineError(Run r, String expected) {
        assertEquals(1, r.exit(), r.err());
        List<String> lines = r.err().lines().filter(l -> !l.isBlank()).toList();
        assertEquals(1, lines.size(), "expected one error line, got:\n" + r.err());
        assertTrue(lines.get(0).startsWith("csi-driver-erofs: "), lines.get(0));
        assertTrue(lines.get(0).contains(expected), lines.get(0) + " does not mention " + expected);
    }

    @Test
    void inspectShowsSuperblockAndCounts() throws Exception {
        Run r = run("inspect", SAMPLE.toString());
        assertEquals(0, r.exit(), r.err());
        String t = r.text();
        assertTrue(t.contains("block size:        4096 bytes"), t);
        assertTrue(t.contains("checksum:          crc32c"), t);
        assertTrue(t.contains("incompat features: lz4_0padding"), t);
        assertTrue(t.contains("tree:              9 directories, 4 files"), t);
    }

    @Test
    void lsLongRecursiveShowsTypesAndTargets() throws Exception {
        Run r = run("ls", "-l", "-R", SAMPLE.toString());
        assertEquals(0, r.exit(), r.err());
        String t = r.text();
        assertTrue(t.contains("/usr/bin:"), t);
        assertTrue(t.contains("readme -> ../share/doc/sample/README.txt"), t);
        assertTrue(t.lines().anyMatch(l -> l.startsWith("-rwsr-xr-x") && l.endsWith(" true")), t);
        assertTrue(t.lines().anyMatch(l -> l.startsWith("prw-r--r--") && l.endsWith(" fifo")), t);
    }

    @Test
    void catWritesExactBytes() throws Exception {
        // through /lib64 -> usr/lib/x86_64-linux-gnu and the soname link libmd.so.0 -> libmd.so.0.0.5
        Run r = run("cat", Fixtures.image("plain").toString(), "/lib64/libmd.so.0");
        assertEquals(0, r.exit(), r.err());
        String expected = Fixtures.manifest("plain").stream().filter(l -> l.startsWith("/usr/lib/x86_64-linux-gnu/libmd.so.0.0.5\t"))
                .findFirst().orElseThrow().split("\t")[11];
        assertEquals(expected, HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(r.out())));
    }

    /**
     * A truncated image and one whose entry is named "../../escaped-file": every command refuses
     * them in one line (fsck lists the bad name), and extract writes nothing anywhere.
     */
    @Test
    void hostileImagesAreRefusedInOneLine(@TempDir Path tmp) throws Exception {
        Path cut = tmp.resolve("cut.erofs");
        Files.write(cut, Arrays.copyOf(Files.readAllBytes(SAMPLE), 5000));
        for (List<String> cmd : List.of(List.of("inspect", "--no-tree"), List.of("ls"), List.of("fsck"))) {
            List<String> args = new ArrayList<>(cmd);
            args.add(cut.toString());
            assertOneLineError(run(args.toArray(String[]::new)), cut + " is truncated: it has 5000 bytes but the superblock gives it");
        }
        assertOneLineError(run("extract", cut.toString(), tmp.resolve("out0").toString()), "is truncated");

        Path tree = Files.createDirectories(tmp.resolve("tree"));
        Files.writeString(tree.resolve("ESCAPE_PLACEHOLDER"), "x");
        Path image = CraftedImages.patched(tree, tmp.resolve("escape.erofs"),
                CraftedImages.bytes("ESCAPE_PLACEHOLDER"), CraftedImages.bytes("../../escaped-file"));
        Run fsck = run("fsck", image.toString());
        assertEquals(1, fsck.exit(), fsck.err());
        assertTrue(fsck.text().contains("/: inode ") && fsck.text().contains("entry \"../../escaped-file\": name holds '/'"), fsck.text());
        assertOneLineError(run("ls", image.toString()), "entry \"../../escaped-file\": name holds '/'");
        Path out = tmp.resolve("a/b/out");
        assertOneLineError(run("extract", image.toString(), out.toString()), "name holds '/'");
        assertFalse(Files.exists(tmp.resolve("escaped-file")) || Files.exists(tmp.resolve("a/escaped-file"))
                || Files.exists(tmp.resolve("a/b/escaped-file")));
    }

    /** extract of the sample equals the kernel's own mount of it, path by path. */
    @Test
    void extractMatchesKernelMount(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("out");
        Run r = run("extract", SAMPLE.toString(), out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("extracted 9 directories"), r.err());
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        exec("mount", "-t", "erofs", "-o", "ro", SAMPLE.toString(), mnt.toString());
        List<String> kernel;
        try {
            kernel = manifest(mnt);
        } finally {
            exec("umount", mnt.toString());
        }
        dev.csierofs.erofs.FixtureManifestTest.assertManifestsEqual("sample",
                Fixtures.withoutDirSizes(kernel),
                Fixtures.withoutDirSizes(manifest(out)));
    }

    @Test
    void fsckPassesCleanImageAndReportsBrokenFile(@TempDir Path tmp) throws Exception {
        Run ok = run("fsck", SAMPLE.toString());
        assertEquals(0, ok.exit(), ok.err());
        assertTrue(ok.err().contains("0 problem(s)"), ok.err());

        byte[] img = Files.readAllBytes(Fixtures.image("plain"));
        // Corrupt the first dirent of the deepest tower directory, whose entries are stored inline.
        long direntPos;
        try (var image = dev.csierofs.erofs.ErofsImage.open(Fixtures.image("plain"))) {
            var dir = image.resolve("/srv/tower/t01/t02/t03/t04/t05/t06/t07/t08/t09/t10/t11/t12").orElseThrow();
            assertEquals(dev.csierofs.erofs.Inode.FLAT_INLINE, dir.layout());
            assertTrue(dir.size() < 4096);
            direntPos = dir.tailPos();
        }
        img[(int) direntPos + 8] = (byte) 0xff; // nameoff of the first dirent: out of range
        img[(int) direntPos + 9] = (byte) 0x7f;
        Path bad = tmp.resolve("bad.erofs");
        Files.write(bad, img);
        Run r = run("fsck", bad.toString());
        assertEquals(1, r.exit(), r.err());
        assertTrue(r.text().startsWith("/srv/tower/t01/t02/t03/t04/t05/t06/t07/t08/t09/t10/t11/t12: "), r.text());
        assertTrue(r.text().contains("directory block 0"), r.text());
        assertTrue(r.err().contains("1 problem(s)"), r.err());
    }

    /** Without root, extract still restores everything it may and counts what it may not. */
    @Test
    void extractWithoutRootSkipsOwnersDevicesAndPrivilegedXattrs(@TempDir Path tmp) throws Exception {
        String[] asNobody = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
        Process probe = new ProcessBuilder(concat(asNobody, "test", "-x", ROOT.resolve("bin/csi-driver-erofs").toString(), "-a", "-r",
                ROOT.resolve("app/target/quarkus-app/quarkus-run.jar").toString())).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(probe.waitFor() == 0, "the checkout is not readable by user nobody here");
        exec("chmod", "777", tmp.toString());
        Path out = tmp.resolve("out");
        Process p = new ProcessBuilder(concat(asNobody, ROOT.resolve("bin/csi-driver-erofs").toString(), "extract",
                Fixtures.image("plain").toString(), out.toString())).start();
        p.getOutputStream().close();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), err);
        assertTrue(err.contains("warning: 4 path(s) without device nodes"), err);
        assertTrue(err.contains("without owners"), err);
        assertTrue(err.contains("without xattrs"), err);
        // content, modes, symlinks and times are all there
        List<String> got = Fixtures.manifestOfTree(out).stream().filter(l -> l.startsWith("/usr/lib/")).map(CliIT::contentFields).toList();
        List<String> want = Fixtures.manifest("plain").stream().filter(l -> l.startsWith("/usr/lib/")).map(CliIT::contentFields).toList();
        assertEquals(want, got);
    }

    /** path, type, mode, mtime, target, sha256: what an unprivileged extraction must still get right. */
    private static String contentFields(String line) {
        String[] f = line.split("\t");
        return String.join("\t", f[0], f[1], f[2], f[7], f[8], f[11]);
    }

    private static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    /** Starts `mount IMAGE DIR` and waits until the FUSE mount is visible. */
    private static Process startMount(Path image, Path dir, String... options) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(ROOT.resolve("bin/csi-driver-erofs").toString(), "mount"));
        cmd.addAll(List.of(options));
        if (!List.of(options).contains("--store")) { // never the machine's default store
            cmd.addAll(List.of("--store", dir.resolveSibling(dir.getFileName() + ".store").toString()));
        }
        cmd.addAll(List.of(image.toString(), dir.toString()));
        Process p = new ProcessBuilder(cmd)
                .redirectErrorStream(true).redirectOutput(dir.resolveSibling(dir.getFileName() + ".log").toFile()).start();
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (dev.csierofs.sys.Mounts.at(dir.toRealPath().toString()).isEmpty()) {
            assertTrue(p.isAlive(), "mount exited early: " + Files.readString(dir.resolveSibling(dir.getFileName() + ".log")));
            assertTrue(System.nanoTime() < deadline, "mount did not appear within 30 s");
            Thread.sleep(50);
        }
        return p;
    }

    /** The FUSE mount reads like the kernel's mount of the same image; SIGTERM unmounts it. */
    @Test
    void mountServesTheImageLikeTheKernelAndSigtermUnmounts(@TempDir Path tmp) throws Exception {
        Path fuse = Files.createDirectory(tmp.resolve("fuse"));
        Path kernel = Files.createDirectory(tmp.resolve("kernel"));
        Process p = startMount(SAMPLE, fuse);
        try {
            List<String> viaFuse = manifest(fuse);
            exec("mount", "-t", "erofs", "-o", "ro", SAMPLE.toString(), kernel.toString());
            try {
                dev.csierofs.erofs.FixtureManifestTest.assertManifestsEqual("sample over FUSE", manifest(kernel), viaFuse);
            } finally {
                exec("umount", kernel.toString());
            }
            Process t = new ProcessBuilder(fuse.resolve("usr/bin/true").toString()).start();
            assertEquals(0, t.waitFor(), "exec of a binary from the FUSE mount");
        } finally {
            p.destroy(); // SIGTERM
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "mount did not exit on SIGTERM");
        }
        assertTrue(dev.csierofs.sys.Mounts.at(fuse.toRealPath().toString()).isEmpty(), "SIGTERM left the mount behind");
    }

    /** A comma-separated IMAGE is a stack of layers, lowest first, reading like the kernel's overlayfs of them. */
    @Test
    void mountServesAStackOfLayersLikeKernelOverlayfs(@TempDir Path tmp) throws Exception {
        Path fuse = Files.createDirectory(tmp.resolve("fuse"));
        List<Path> layers = List.of(Fixtures.image("deb15-lz4hc"), SAMPLE);
        Process p = startMount(Path.of(layers.get(0) + "," + layers.get(1)), fuse);
        try {
            dev.csierofs.erofs.FixtureManifestTest.assertManifestsEqual("two layers over FUSE",
                    dev.csierofs.erofs.KernelMount.manifestOfOverlay(layers, tmp.resolve("kernel")), manifest(fuse));
            assertTrue(Files.readString(fuse.resolveSibling("fuse.log")).contains("2 layers"), "the log names the stack");
        } finally {
            p.destroy();
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "mount did not exit on SIGTERM");
        }
        assertTrue(dev.csierofs.sys.Mounts.at(fuse.toRealPath().toString()).isEmpty(), "SIGTERM left the mount behind");
    }

    /**
     * SIGTERM with a file open: the mount leaves the tree at once, the open file can still be
     * read in full during the grace period, and its close lets the daemon end cleanly.
     */
    @Test
    void sigtermWithAnOpenFileDetachesAndServesItUntilClosed(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        byte[] expected = run("cat", SAMPLE.toString(), "/srv/data/README-hardlink.txt").out();
        Process p = startMount(SAMPLE, dir, "--grace", "60");
        try (var ch = java.nio.channels.FileChannel.open(dir.resolve("srv/data/README-hardlink.txt"))) {
            p.destroy(); // SIGTERM
            awaitUnmounted(dir);
            assertTrue(p.isAlive(), "the daemon quit while a file was still open");
            java.nio.ByteBuffer all = java.nio.ByteBuffer.allocate(expected.length + 1);
            while (ch.read(all) > 0) {
                // read to the end through the detached mount
            }
            assertEquals(expected.length, all.position());
            assertTrue(java.util.Arrays.equals(expected, java.util.Arrays.copyOf(all.array(), expected.length)), "content differs");
        }
        assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "daemon still running after the last close");
        String log = Files.readString(tmp.resolve("mnt.log"));
        assertTrue(log.contains("1 open file(s)") && log.contains("unmounted"), log);
    }

    /** SIGTERM with a file open past the grace period: the connection ends, the reader gets ENOTCONN, nothing stays mounted. */
    @Test
    void sigtermEndsTheConnectionAfterTheGracePeriod(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        Process p = startMount(SAMPLE, dir, "--grace", "1", "--no-passthrough"); // passthrough files outlive the connection
        try (var ch = java.nio.channels.FileChannel.open(dir.resolve("srv/data/README-hardlink.txt"))) {
            p.destroy();
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "daemon ignored its grace period");
            IOException e = org.junit.jupiter.api.Assertions.assertThrows(IOException.class, () -> ch.read(java.nio.ByteBuffer.allocate(4096)));
            assertTrue(String.valueOf(e.getMessage()).contains("not connected"), String.valueOf(e.getMessage()));
        }
        awaitUnmounted(dir);
        String log = Files.readString(tmp.resolve("mnt.log"));
        assertTrue(log.contains("1 file(s) still open") && log.contains("ENOTCONN"), log);
    }

    /** Files that pass through to the content store keep reading after the daemon's connection ends. */
    @Test
    void passthroughFilesOutliveTheConnection(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        byte[] expected = run("cat", SAMPLE.toString(), "/srv/data/README-hardlink.txt").out();
        Process p = startMount(SAMPLE, dir, "--grace", "0");
        try (var ch = java.nio.channels.FileChannel.open(dir.resolve("srv/data/README-hardlink.txt"))) {
            p.destroy();
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
            java.nio.ByteBuffer all = java.nio.ByteBuffer.allocate(expected.length + 1);
            while (ch.read(all) > 0) {
                // reads go to the store file, not to the (gone) daemon
            }
            assertEquals(expected.length, all.position());
        }
        awaitUnmounted(dir);
    }

    private static void awaitUnmounted(Path dir) throws Exception {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!dev.csierofs.sys.Mounts.at(dir.toRealPath().toString()).isEmpty()) {
            assertTrue(System.nanoTime() < deadline, dir + " still mounted 10 s after SIGTERM");
            Thread.sleep(20);
        }
    }

    /** A busy mount point is refused in one line; `umount DIR` ends the serving process cleanly. */
    @Test
    void busyMountPointIsRefusedAndUmountEndsTheDaemon(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        Process p = startMount(SAMPLE, dir);
        try {
            assertOneLineError(run("mount", SAMPLE.toString(), dir.toString()), dir.toRealPath().toString());
            Run u = run("umount", dir.toString());
            assertEquals(0, u.exit(), u.err());
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "daemon still running after umount");
            assertEquals(0, p.exitValue());
        } finally {
            p.destroy();
        }
        assertTrue(dev.csierofs.sys.Mounts.at(dir.toRealPath().toString()).isEmpty());
        assertOneLineError(run("umount", dir.toString()), "has no csi-driver-erofs mount");
    }

    @Test
    void errorsAreOneClearLine(@TempDir Path tmp) throws Exception {
        assertOneLineError(run("inspect", tmp.resolve("missing.erofs").toString()), "does not exist");
        Path notErofs = Files.write(tmp.resolve("zeros.img"), new byte[8192]);
        assertOneLineError(run("inspect", notErofs.toString()), "not an EROFS image");
        assertOneLineError(run("cat", Fixtures.image("blobdev").toString(), "/etc/fixture.conf"), "use --device");
        // metadata-only commands work without the data device, and say which one is missing
        Run ls = run("ls", Fixtures.image("blobdev").toString(), "/etc");
        assertEquals(0, ls.exit(), ls.err());
        assertTrue(ls.text().contains("fixture.conf"), ls.text());
        Run inspect = run("inspect", "--no-tree", Fixtures.image("blobdev").toString());
        assertTrue(inspect.text().contains("device 1:") && inspect.text().contains("not given (--device)"), inspect.text());
        assertOneLineError(run("cat", SAMPLE.toString(), "/usr/bin"), "not a regular file");
        assertOneLineError(run("cat", Fixtures.image("plain").toString(), "/srv/links/self-loop"), "more than 40 symlinks");
        assertOneLineError(run("cat", SAMPLE.toString(), "/nope"), "no such file");

        byte[] img = Files.readAllBytes(Fixtures.image("compact"));
        img[1024 + 80 + 1] |= 0x40; // incompat bit 0x4000; checked before the checksum, so the refusal names the bit
        Path unknown = Files.write(tmp.resolve("unknown.erofs"), img);
        assertOneLineError(run("inspect", unknown.toString()), "0x4000");

        Path target = Files.createDirectory(tmp.resolve("full"));
        Files.writeString(target.resolve("x"), "x");
        assertOneLineError(run("extract", SAMPLE.toString(), target.toString()), "is not empty");
    }

    private static List<String> manifest(Path dir) throws Exception {
        return Fixtures.manifestOfTree(dir);
    }

    private static void exec(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        assertEquals(0, p.waitFor(), String.join(" ", cmd));
    }
}
