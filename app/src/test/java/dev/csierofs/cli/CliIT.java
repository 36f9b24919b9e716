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
import java.util.Map;

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
        return run(Map.of(), args);
    }

    /** Runs the command line with {@code env} added to (or, for an empty value, removed from) the environment. */
    static Run run(Map<String, String> env, String... args) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(ROOT.resolve("bin/csi-driver-erofs").toString());
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        env.forEach((k, v) -> {
            if (v.isEmpty()) {
                pb.environment().remove(k);
            } else {
                pb.environment().put(k, v);
            }
        });
        Process p = pb.start();
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
        assertTrue(t.contains("tree:              15 inodes: 9 directories, 4 files"), t);
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

    /** Without root, mount says what it needs rather than naming a failed open(2). */
    @Test
    void mountWithoutRootSaysWhatItNeeds(@TempDir Path tmp) throws Exception {
        String[] asNobody = {"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"};
        Process probe = new ProcessBuilder(concat(asNobody, "test", "-x", ROOT.resolve("bin/csi-driver-erofs").toString(), "-a", "-r",
                ROOT.resolve("app/target/quarkus-app/quarkus-run.jar").toString(), "-a", "!", "-w", "/dev/fuse")).start();
        org.junit.jupiter.api.Assumptions.assumeTrue(probe.waitFor() == 0, "the checkout is not readable by user nobody here");
        exec("chmod", "777", tmp.toString());
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        exec("chmod", "777", dir.toString());
        Process p = new ProcessBuilder(concat(asNobody, ROOT.resolve("bin/csi-driver-erofs").toString(), "mount", "--store",
                tmp.resolve("store").toString(), SAMPLE.toString(), dir.toString())).start();
        p.getOutputStream().close();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(1, p.waitFor(), err);
        assertEquals(List.of("csi-driver-erofs: cannot open /dev/fuse (Permission denied): mount needs root, "
                + "or CAP_SYS_ADMIN and read-write access to /dev/fuse"), err.lines().toList());
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
        // generous: the first run after a build also records the class cache, slow on a busy machine
        long deadline = System.nanoTime() + 120_000_000_000L;
        while (dev.csierofs.sys.Mounts.at(dir.toRealPath().toString()).isEmpty()) {
            assertTrue(p.isAlive(), "mount exited early: " + Files.readString(dir.resolveSibling(dir.getFileName() + ".log")));
            assertTrue(System.nanoTime() < deadline, "mount did not appear within 120 s");
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
        String log = Files.readString(tmp.resolve("fuse.log"));
        assertEquals(0, p.exitValue(), "a clean stop on SIGTERM exits 0:\n" + log);
        assertTrue(log.contains("unmounted " + fuse), log);
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
        assertEquals(0, p.exitValue());
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

    /** SIGINT (Ctrl-C in a terminal) unmounts like SIGTERM, and the process exits 0. */
    @Test
    void sigintUnmountsAndExitsZero(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        Process p = startMount(SAMPLE, dir);
        try {
            exec("kill", "-INT", Long.toString(p.pid())); // the launcher execs java: same process
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS), "mount did not exit on SIGINT");
        } finally {
            p.destroyForcibly();
        }
        assertEquals(0, p.exitValue(), Files.readString(tmp.resolve("mnt.log")));
        assertTrue(dev.csierofs.sys.Mounts.at(dir.toRealPath().toString()).isEmpty(), "SIGINT left the mount behind");
    }

    /** A DIR with content is refused (a mount would hide it); --nonempty mounts over it, and the content is back afterwards. */
    @Test
    void mountRefusesANonEmptyDirectoryUnlessAskedTo(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        Files.writeString(dir.resolve("mine.txt"), "mine");
        Run r = run("mount", "--store", tmp.resolve("store").toString(), SAMPLE.toString(), dir.toString());
        assertOneLineError(r, "is not empty");
        assertTrue(r.err().contains("--nonempty"), "the refusal names the way out: " + r.err());
        assertTrue(dev.csierofs.sys.Mounts.at(dir.toRealPath().toString()).isEmpty());

        Process p = startMount(SAMPLE, dir, "--nonempty");
        try {
            assertTrue(Files.isDirectory(dir.resolve("usr/bin")), "the image is served");
            assertTrue(Files.notExists(dir.resolve("mine.txt")), "hidden while mounted");
        } finally {
            p.destroy();
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
        }
        assertEquals(0, p.exitValue());
        assertEquals("mine", Files.readString(dir.resolve("mine.txt")));
    }

    /**
     * A DIR given twice in one command (also through another spelling of the path), or already
     * holding a mount of ours, is refused before anything is mounted: one line, no "mounted".
     */
    @Test
    void mountingADirectoryTwiceIsRefusedUpFront(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        Files.createDirectory(tmp.resolve("other"));
        String store = tmp.resolve("store").toString();
        assertOneLineError(run("mount", "--store", store, SAMPLE.toString(), dir.toString(), SAMPLE.toString(), dir.toString()),
                "is given twice");
        assertOneLineError(run("mount", "--store", store, SAMPLE.toString(), dir.toString(), SAMPLE.toString(),
                tmp.resolve("other/../mnt").toString()), "is given twice (also as " + dir + ")");
        assertTrue(dev.csierofs.sys.Mounts.at(dir.toRealPath().toString()).isEmpty(), "nothing stays mounted");

        Process p = startMount(SAMPLE, dir);
        try {
            Run second = run("mount", "--store", store, SAMPLE.toString(), dir.toString());
            assertOneLineError(second, "already has a csi-driver-erofs mount of " + SAMPLE);
            assertTrue(second.err().contains("csi-driver-erofs umount " + dir), second.err());
            assertEquals(1, dev.csierofs.sys.Mounts.at(dir.toRealPath().toString()).size(), "the first mount is untouched");
        } finally {
            p.destroy();
            assertTrue(p.waitFor(30, java.util.concurrent.TimeUnit.SECONDS));
        }
        assertEquals(0, p.exitValue());
    }

    /** --device given where the image has no extra devices, too many or too few: one line naming what the image has. */
    @Test
    void deviceMismatchesSayWhatTheImageNeeds(@TempDir Path tmp) throws Exception {
        Path text = Files.writeString(tmp.resolve("notes.txt"), "not a blob\n");
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        for (String command : List.of("inspect", "fsck", "mount")) {
            List<String> args = new ArrayList<>(List.of(command, "--device", text.toString(), SAMPLE.toString()));
            if (command.equals("mount")) {
                args.addAll(List.of(dir.toString(), "--store", tmp.resolve("store").toString()));
            }
            Run r = run(args.toArray(String[]::new));
            assertOneLineError(r, SAMPLE + " has no extra devices");
            assertTrue(r.err().contains("drop --device " + text), r.err());
        }
        assertTrue(dev.csierofs.sys.Mounts.at(dir.toRealPath().toString()).isEmpty());
        Path blobdev = Fixtures.image("blobdev");
        Path blob = blobdev.resolveSibling("blobdev.blob");
        assertOneLineError(run("fsck", "--device", blob.toString(), "--device", text.toString(), blobdev.toString()),
                "has 1 extra device(s) (device 1) but 2 --device were given");
        Run missing = run("fsck", blobdev.toString());
        assertOneLineError(missing, "keeps file data in 1 extra device(s) not given: device 1");
        assertTrue(missing.err().contains("--device"), missing.err());
        Run ok = run("fsck", "--device", blob.toString(), blobdev.toString());
        assertEquals(0, ok.exit(), ok.err());
        // a file that is no image at all is named
        assertOneLineError(run("inspect", text.toString()), text + ": ");
    }

    /** inspect and fsck count inodes as the kernel numbers them: a file with two names (hard links) once. */
    @Test
    void inodeCountsMatchTheKernel(@TempDir Path tmp) throws Exception {
        for (Path image : List.of(SAMPLE, Fixtures.image("plain"))) {
            Path mnt = Files.createDirectory(tmp.resolve("mnt-" + image.getFileName()));
            java.util.Set<Object> inodes = new java.util.HashSet<>();
            long paths;
            exec("mount", "-t", "erofs", "-o", "ro", image.toString(), mnt.toString());
            try (var walk = Files.walk(mnt)) {
                paths = walk.peek(f -> {
                    try {
                        inodes.add(Files.getAttribute(f, "unix:ino", java.nio.file.LinkOption.NOFOLLOW_LINKS));
                    } catch (IOException e) {
                        throw new java.io.UncheckedIOException(e);
                    }
                }).count();
            } finally {
                exec("umount", mnt.toString());
            }
            assertTrue(paths > inodes.size(), image + " has hard links, so fewer inodes than paths");
            Run inspect = run("inspect", image.toString());
            assertTrue(inspect.text().contains("tree:              " + inodes.size() + " inodes: "), inspect.text());
            Run fsck = run("fsck", image.toString());
            assertTrue(fsck.err().contains(": " + inodes.size() + " inodes, "), fsck.err());
        }
    }

    /** A usage error: what is wrong, the usage line and where the help is (not the whole help), exit 2. */
    @Test
    void usageErrorsAreShort() throws Exception {
        Run r = run(Map.of("COLUMNS", ""), "cat", SAMPLE.toString());
        assertEquals(2, r.exit(), r.err());
        assertEquals(List.of("csi-driver-erofs: Missing required parameter: 'PATH'",
                "Usage: csi-driver-erofs cat [-hV] [--device=BLOB]... IMAGE PATH",
                "See 'csi-driver-erofs cat --help' for more."), r.err().lines().toList());
        Run typo = run("fsk", SAMPLE.toString());
        assertEquals(2, typo.exit(), typo.err());
        assertTrue(typo.err().startsWith("csi-driver-erofs: Unmatched arguments") && typo.err().contains("fsck"),
                "names the command meant: " + typo.err());
        Run odd = run("mount", SAMPLE.toString());
        assertEquals(2, odd.exit(), odd.err());
        assertTrue(odd.err().startsWith("csi-driver-erofs: expected IMAGE DIR pairs, but IMAGE " + SAMPLE + " has no DIR"), odd.err());
        assertTrue(odd.err().contains("\nUsage: csi-driver-erofs mount ") && !odd.err().contains("content store directory")
                && odd.err().endsWith("See 'csi-driver-erofs mount --help' for more.\n"), odd.err());
    }

    /** --version prints the version wherever it is given, as picocli's standard options do. */
    @Test
    void versionAnywherePrintsTheVersion() throws Exception {
        for (String[] args : List.of(new String[] {"--version"}, new String[] {"inspect", SAMPLE.toString(), "--version"},
                new String[] {"mount", "-V"}, new String[] {"umount", "--version"})) {
            Run r = run(args);
            assertEquals(0, r.exit(), r.err());
            assertTrue(r.text().matches("csi-driver-erofs \\S+\n"), String.join(" ", args) + " printed: " + r.text());
        }
    }

    /**
     * Help wraps between words only, at the width asked for ($COLUMNS, as a terminal's width)
     * or 80 columns: every line fits unless it is one word, and no word is split (the words are
     * those of the help laid out on one long line each).
     */
    @Test
    void helpWrapsAtWordBoundaries() throws Exception {
        for (String command : List.of("", "inspect", "ls", "cat", "extract", "fsck", "mount", "umount")) {
            String[] args = command.isEmpty() ? new String[] {"--help"} : new String[] {command, "--help"};
            Run wide = run(Map.of("COLUMNS", "100000"), args);
            assertEquals(0, wide.exit(), wide.err());
            for (int width : new int[] {40, 63, 80, 120}) {
                Run r = run(Map.of("COLUMNS", Integer.toString(width)), args);
                assertEquals(0, r.exit(), r.err());
                assertHelpWrapped(r.text(), width, wide.text(), command + " at " + width);
            }
            Run plain = run(Map.of("COLUMNS", ""), args); // not a terminal: 80 columns
            assertHelpWrapped(plain.text(), 80, wide.text(), command + " by default");
        }
        assertTrue(run(Map.of("COLUMNS", "80"), "mount", "--help").text().contains(" ~/.cache/csi-driver-erofs/store)"),
                "a path stays on one line");
    }

    /** On a terminal picocli styles the help with ANSI codes; it wraps the same, at the terminal's width. */
    @Test
    void helpOnATerminalWrapsAtItsWidth() throws Exception {
        String wide = run(Map.of("COLUMNS", "100000"), "mount", "--help").text();
        // script(1) gives the command a pseudo-terminal, 70 columns wide (COLUMNS is not exported, as in a shell)
        Process p = new ProcessBuilder("script", "-qec", "stty cols 70; unset COLUMNS; exec "
                + ROOT.resolve("bin/csi-driver-erofs") + " mount --help", "/dev/null").redirectErrorStream(true).start();
        p.getOutputStream().close();
        String raw = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), raw);
        assertTrue(raw.contains("\u001b["), "styled on a terminal");
        String shown = raw.replaceAll("\u001b\\[[0-9;]*m", "").replace("\r", "").lines()
                .filter(l -> !l.startsWith("csi-driver-erofs: recording")).collect(java.util.stream.Collectors.joining("\n"));
        assertHelpWrapped(shown, 70, wide, "mount on a 70-column terminal");
        assertTrue(shown.lines().anyMatch(l -> l.length() > 60), "uses the terminal's width:\n" + shown);
        // the layout is kept: the usage line continues under its first option, a row's text in its column
        String under = " ".repeat("Usage: csi-driver-erofs mount ".length());
        assertTrue(shown.contains("\n" + under + "[--"), shown);
        assertTrue(shown.contains("\n      --store=DIR           content store directory"), shown);
    }

    private static void assertHelpWrapped(String help, int width, String unwrapped, String what) {
        for (String line : help.lines().toList()) {
            assertTrue(line.length() <= width || !line.strip().contains(" "), what + ": too long: " + line);
            assertEquals(line.stripTrailing(), line, what + ": trailing space");
        }
        assertEquals(List.of(unwrapped.split("\\s+")), List.of(help.split("\\s+")), what + ": words differ");
    }

    /**
     * The first run builds, showing each module as Maven starts it, and on failure Maven's errors
     * and where its full output is. (Maven here is a stand-in printing what Maven prints: a
     * real first build takes minutes.)
     */
    @Test
    void firstRunShowsBuildProgress(@TempDir Path tmp) throws Exception {
        Path top = tmp.resolve("top");
        Files.createDirectories(top.resolve("bin"));
        for (String f : List.of("csi-driver-erofs", "java-home")) {
            Files.copy(ROOT.resolve("bin").resolve(f), top.resolve("bin").resolve(f), java.nio.file.StandardCopyOption.COPY_ATTRIBUTES);
        }
        Path mvnw = top.resolve("mvnw");
        String modules = """
                echo '[INFO] Scanning for projects...'
                echo '[INFO] Building csi-proto 0.1.0-SNAPSHOT                                  [1/5]'
                echo 'Downloaded from central: https://repo.maven.apache.org/maven2/x/x.jar (1 kB at 1 kB/s)'
                echo '[INFO] Building csi-driver-erofs core 0.1.0-SNAPSHOT                      [2/5]'
                echo '[INFO] Building jar: /somewhere/core.jar'
                """;
        Files.writeString(mvnw, "#!/bin/sh\n" + modules + "echo '[ERROR] /x/Y.java:[1,1] cannot find symbol'\nexit 1\n");
        exec("chmod", "+x", mvnw.toString());
        ProcessBuilder pb = new ProcessBuilder(top.resolve("bin/csi-driver-erofs").toString(), "--version");
        pb.environment().put("TMPDIR", tmp.toString());
        Process p = pb.redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(1, p.waitFor(), err);
        assertTrue(err.contains("csi-driver-erofs: building csi-proto (module 1 of 5"), err);
        assertTrue(err.contains("csi-driver-erofs: building csi-driver-erofs core (module 2 of 5"), err);
        assertTrue(err.contains("[ERROR] /x/Y.java:[1,1] cannot find symbol"), err);
        assertTrue(!err.contains("Scanning") && !err.contains("Building jar"), "Maven's other lines stay in the log: " + err);
        java.util.regex.Matcher log = java.util.regex.Pattern.compile("Maven's full output is in (\\S+)").matcher(err);
        assertTrue(log.find(), err);
        assertTrue(Files.readString(Path.of(log.group(1))).contains("Scanning for projects"), "the log keeps everything");

        // a build that succeeds: the command then runs (the stand-in puts the real application in place)
        Files.writeString(mvnw, "#!/bin/sh\n" + modules + "mkdir -p app/target && cp -r '" + ROOT.resolve("app/target/quarkus-app")
                + "' app/target/\n");
        pb.environment().put("CSI_DRIVER_EROFS_AOT", "0");
        p = pb.redirectOutput(ProcessBuilder.Redirect.PIPE).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), err);
        assertTrue(err.contains("building csi-driver-erofs core") && err.contains("csi-driver-erofs: built in "), err);
        assertTrue(out.startsWith("csi-driver-erofs "), out);
    }

    private static List<String> manifest(Path dir) throws Exception {
        return Fixtures.manifestOfTree(dir);
    }

    private static void exec(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).inheritIO().start();
        assertEquals(0, p.waitFor(), String.join(" ", cmd));
    }
}
