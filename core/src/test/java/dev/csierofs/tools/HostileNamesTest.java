package dev.csierofs.tools;

import dev.csierofs.erofs.CraftedImages;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.fs.ErofsFilesystem;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import dev.csierofs.sys.Libc;
import dev.csierofs.sys.SyscallException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Images whose directory entries name what no path can hold ("../x", "a/b", NUL, a second "."),
 * made here from trees with placeholder names ({@link CraftedImages}). fsck reports
 * them, extract refuses them and writes nothing outside its target, and our FUSE mount answers
 * each as the kernel's EROFS does.
 */
class HostileNamesTest {

    @TempDir
    Path tmp;

    private static String run(String... cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
        return out;
    }

    private Path craft(Path tree, String name, byte[]... patches) throws Exception {
        return CraftedImages.patched(tree, tmp.resolve(name + ".erofs"), patches);
    }

    private static byte[] bytes(String s) {
        return CraftedImages.bytes(s);
    }

    private Path tree(String name) throws IOException {
        return Files.createDirectories(tmp.resolve(name));
    }

    private static List<String> listing(Path dir) throws IOException {
        if (!Files.exists(dir)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    private static Checker.Report fsck(Path image) throws IOException {
        try (ErofsImage img = ErofsImage.open(image)) {
            return new Checker(img).check();
        }
    }

    /** Extracts and expects a refusal: returns its message, after checking it is one line and nothing was left in {@code out}. */
    private static String refusedExtract(Path image, Path out) throws IOException {
        try (ErofsImage img = ErofsImage.open(image)) {
            IOException e = assertThrows(IOException.class, () -> new Extractor(img, out, null).extract());
            assertFalse(e.getMessage().contains("\n"), e.getMessage());
            assertEquals(List.of(), listing(out), "left behind in " + out);
            return e.getMessage();
        }
    }

    @Test
    void dotDotNameIsRefusedAndNothingEscapes() throws Exception {
        Path t = tree("t1");
        Files.writeString(t.resolve("keep"), "k");
        Files.writeString(t.resolve("ESCAPE_PLACEHOLDER"), "x"); // 18 bytes, as "../../escaped-file"
        Files.createDirectories(t.resolve("sub"));
        Files.writeString(t.resolve("sub/SUB_PLACEHOLDER"), "y"); // 15 bytes, as "../../../subout"
        Path image = craft(t, "dotdot", bytes("ESCAPE_PLACEHOLDER"), bytes("../../escaped-file"),
                bytes("SUB_PLACEHOLDER"), bytes("../../../subout"));

        Checker.Report r = fsck(image);
        assertTrue(r.problems().stream().anyMatch(p -> p.path().equals("/") && p.reason().contains("\"../../escaped-file\": name holds '/'")),
                r.problems().toString());
        assertTrue(r.problems().stream().anyMatch(p -> p.path().equals("/sub") && p.reason().contains("\"../../../subout\": name holds '/'")),
                r.problems().toString());

        Path out = tmp.resolve("x/y/out");
        String msg = refusedExtract(image, out);
        assertTrue(msg.contains("name holds '/'"), msg);
        assertFalse(Files.exists(out), "the target extract created is removed");
        for (Path p : List.of(tmp.resolve("escaped-file"), tmp.resolve("x/escaped-file"), tmp.resolve("x/subout"),
                tmp.resolve("subout"), tmp.resolve("x/y/escaped-file"))) {
            assertFalse(Files.exists(p), p + " written outside the target");
        }
    }

    @Test
    void nulDotAndRepeatedNamesAreFormatErrors() throws Exception {
        Path t = tree("t2");
        for (String n : List.of("A", "BB", "CC", "NULNAMEXY", "zz")) {
            Files.writeString(t.resolve(n), n.toLowerCase());
        }
        // the names of a small directory lie side by side: ". .. A BB CC NULNAMEXY zz"
        Path nul = craft(t, "nul", bytes("NULNAMEXY"), bytes("NUL\0NAMEX"));
        Path dot = craft(t, "dot", bytes("...ABBCC"), bytes("....BBCC"));
        Path dotdot = craft(t, "dotdot2", bytes("...ABBCC"), bytes("...A..CC"));
        Path twice = craft(t, "twice", bytes("...ABBCC"), bytes("...ABBBB"));
        for (var c : List.of(List.of(nul, "\"NUL\\x00NAMEX\": name holds a NUL byte"), List.of(dot, "\".\": a second \".\" entry"),
                List.of(dotdot, "\"..\": a second \"..\" entry"), List.of(twice, "entry \"BB\": a second entry of that name"))) {
            Path image = (Path) c.get(0);
            String expected = (String) c.get(1);
            Checker.Report r = fsck(image);
            assertTrue(r.problems().stream().anyMatch(p -> p.path().equals("/") && p.reason().endsWith(expected)),
                    image + ": " + r.problems());
            String msg = refusedExtract(image, tmp.resolve("out-" + image.getFileName()));
            assertTrue(msg.endsWith(expected + " (extraction stopped; nothing was left in " + tmp.resolve("out-" + image.getFileName()) + ")"),
                    msg);
        }
    }

    /** An empty name (the last entry's name offset moved onto the padding after the names): fsck, extract and the FUSE mount refuse it. */
    @Test
    void emptyNameIsRefused() throws Exception {
        Path t = tree("t7");
        for (String n : List.of("A", "BB", "zz")) {
            Files.writeString(t.resolve(n), n.toLowerCase());
        }
        Path image = tmp.resolve("empty.erofs");
        run("mkfs.erofs", "--quiet", "-T0", image.toString(), t.toString());
        byte[] b = Files.readAllBytes(image);
        byte[] names = bytes("...ABBzz");
        int at = -1;
        for (int i = 0; i + names.length <= b.length && at < 0; i++) {
            if (Arrays.equals(b, i, i + names.length, names, 0, names.length)) {
                at = i;
            }
        }
        assertTrue(at > 0);
        int table = at - 5 * 12; // five dirents (". .. A BB zz"), their 12-byte records before the names
        assertEquals(5 * 12, (b[table + 8] & 0xff) | (b[table + 9] & 0xff) << 8, "dirent table not where expected");
        int last = table + 4 * 12 + 8;
        int off = (b[last] & 0xff) | (b[last + 1] & 0xff) << 8;
        off += 2; // past "zz": the NUL padding, an empty name
        b[last] = (byte) off;
        b[last + 1] = (byte) (off >>> 8);
        CraftedImages.fixChecksum(b);
        Files.write(image, b);

        // the name's bounds are empty: refused where names are cut out of the block, before any name check
        String expected = "inode 36 directory block 0 at offset 56: bad name bounds [68, 68) in a block of 68 bytes";
        Checker.Report r = fsck(image);
        assertEquals(List.of(new Checker.Problem("/", expected)), r.problems());
        assertTrue(refusedExtract(image, tmp.resolve("out7")).contains(expected));
        // the kernel fails the listing with EUCLEAN, our mount with EIO (as for every format error); lookups agree
        List<String> lookups = List.of("A", "BB", "BBzz", "zz");
        String kernel = kernelProbe(image, lookups);
        String fuse = fuseProbe(image, lookups);
        assertTrue(kernel.endsWith("list error 117\n"), kernel);
        assertEquals(kernel.replace("list error 117", "list error 5"), fuse);
    }

    /** A symlink to a host directory and a directory of the same name holding a file, in either order: refused, and the host directory stays empty. */
    @Test
    void symlinkToHostDirectoryCannotBeWrittenThrough() throws Exception {
        Path host = Files.createDirectories(tmp.resolve("host"));
        for (String order : List.of("ab", "ba")) {
            Path t = tree("t3" + order);
            // the directory is named "b" and patched to "a" ("a" sorts first) or the other way round
            String link = order.equals("ab") ? "a" : "b";
            String dir = order.equals("ab") ? "b" : "a";
            Files.createSymbolicLink(t.resolve(link), host);
            Files.createDirectories(t.resolve(dir));
            Files.writeString(t.resolve(dir).resolve("file"), "through the link");
            // a hard link whose second name is inside the directory
            Files.writeString(t.resolve("f"), "linked");
            Files.createLink(t.resolve(dir).resolve("f2"), t.resolve("f"));
            Path image = craft(t, "link" + order, bytes("...abf"), bytes("...aaf"));
            String msg = refusedExtract(image, tmp.resolve("out" + order));
            assertTrue(msg.contains("a second entry of that name"), msg);
            assertEquals(List.of(), listing(host));
        }
    }

    @Test
    void targetGivenAsSymlinkIsRefused() throws Exception {
        Path t = tree("t4");
        Files.writeString(t.resolve("file"), "x");
        Path image = tmp.resolve("plain.erofs");
        run("mkfs.erofs", "--quiet", image.toString(), t.toString());
        Path real = Files.createDirectories(tmp.resolve("real"));
        Path link = Files.createSymbolicLink(tmp.resolve("link"), real);
        try (ErofsImage img = ErofsImage.open(image)) {
            IOException e = assertThrows(IOException.class, () -> new Extractor(img, link, null).extract());
            assertEquals(link.toAbsolutePath() + " is a symlink; give the directory itself (a symlink is not followed)", e.getMessage());
        }
        assertEquals(List.of(), listing(real));
        assertTrue(Files.isSymbolicLink(link));
    }

    /** The primitive every creation goes through: a symlink anywhere on the way is refused, nothing is created past it. */
    @Test
    void openBeneathNeverFollowsASymlink() throws Exception {
        Path root = Files.createDirectories(tmp.resolve("root"));
        Path outside = Files.createDirectories(tmp.resolve("outside"));
        Files.createDirectories(root.resolve("d"));
        Files.createSymbolicLink(root.resolve("d/link"), outside);
        Files.createSymbolicLink(root.resolve("rel"), Path.of("../outside"));
        int rootFd = Libc.open(bytes(root.toString()), Libc.O_PATH | Libc.O_DIRECTORY | Libc.O_CLOEXEC, 0);
        try {
            for (boolean walk : new boolean[] {false, true}) { // openat2, and the walk for kernels before 5.6
                for (String p : List.of("d/link/x", "rel/x", "d/link", "../outside/x", "d/../../outside/x")) {
                    SyscallException e = assertThrows(SyscallException.class, () -> openBeneath(walk, rootFd, bytes(p),
                            Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC), p);
                    // ELOOP, EXDEV, ENOTDIR; EEXIST where the last component is the symlink (O_EXCL)
                    assertTrue(List.of(40, 18, 20, 17).contains(e.errno()), p + ": " + e.getMessage());
                }
                Libc.close(openBeneath(walk, rootFd, bytes("d/inside-" + walk), Libc.O_WRONLY | Libc.O_CREAT | Libc.O_EXCL | Libc.O_CLOEXEC));
                assertTrue(Files.exists(root.resolve("d/inside-" + walk)));
            }
        } finally {
            Libc.close(rootFd);
        }
        assertEquals(List.of(), listing(outside));
    }

    private static int openBeneath(boolean walk, int dirfd, byte[] path, int flags) throws SyscallException {
        return walk ? Libc.openBeneathByWalk(dirfd, path, flags, 0600) : Libc.openBeneath(dirfd, path, flags, 0600);
    }

    /**
     * Another process swaps the target's directories for symlinks to a host directory while the
     * extraction runs: whatever happens to the extraction, nothing lands in the host directory.
     */
    @Test
    void directoriesSwappedForSymlinksMidExtractLeadNowhere() throws Exception {
        Path t = tree("t5");
        for (int d = 0; d < 40; d++) {
            Path dir = Files.createDirectories(t.resolve(String.format("d%02d", d)));
            for (int f = 0; f < 40; f++) {
                Files.writeString(dir.resolve("f" + f), "content " + d + "/" + f);
            }
            Files.createSymbolicLink(dir.resolve("l"), Path.of("f0"));
        }
        Path image = tmp.resolve("many.erofs");
        run("mkfs.erofs", "--quiet", image.toString(), t.toString());
        Path host = Files.createDirectories(tmp.resolve("host5"));
        for (int round = 0; round < 5; round++) {
            Path out = tmp.resolve("out5-" + round);
            AtomicBoolean stop = new AtomicBoolean();
            Thread swapper = new Thread(() -> {
                while (!stop.get()) {
                    for (int d = 0; d < 40 && !stop.get(); d++) {
                        Path dir = out.resolve(String.format("d%02d", d));
                        try {
                            Files.move(dir, out.resolve("moved" + d));
                            Files.createSymbolicLink(dir, host);
                        } catch (IOException | RuntimeException ignored) {
                            // not there yet, or gone: try the next one
                        }
                    }
                }
            });
            swapper.start();
            try (ErofsImage img = ErofsImage.open(image)) {
                new Extractor(img, out, null).extract();
            } catch (IOException expected) {
                // refused or failed: either is fine, escaping is not
            } finally {
                stop.set(true);
                swapper.join();
            }
            assertEquals(List.of(), listing(host), "round " + round);
        }
    }

    // ---------------------------------------------------------------- FUSE mount against the kernel

    /**
     * What a reader of {@code dir} sees: lookups of {@code names}, then its listing or the error.
     * Lookups first: a READDIRPLUS fills the kernel's dentry cache, a listing of the kernel's
     * EROFS does not, so after a listing the two would differ on names a patched (unsorted)
     * directory hides from the binary search.
     */
    private static String probe(Path dir, List<String> names) throws Exception {
        String script = String.join("\n", "import os, sys",
                "d = sys.argv[1]",
                "for n in sys.argv[2:]:",
                "    try:",
                "        st = os.lstat(os.path.join(d, n))",
                "        print(n, 'size', st.st_size)",
                "    except OSError as e:",
                "        print(n, 'error', e.errno)",
                "try:",
                "    print('list', sorted(os.listdir(d)))",
                "except OSError as e:",
                "    print('list error', e.errno)");
        List<String> cmd = new ArrayList<>(List.of("python3", "-c", script, dir.toString()));
        cmd.addAll(names);
        return run(cmd.toArray(String[]::new));
    }

    private String kernelProbe(Path image, List<String> names) throws Exception {
        Path mnt = Files.createDirectories(tmp.resolve("kmnt-" + image.getFileName()));
        run("mount", "-t", "erofs", "-o", "ro,loop", image.toString(), mnt.toString());
        try {
            return probe(mnt, names);
        } finally {
            run("umount", mnt.toString());
        }
    }

    private String fuseProbe(Path image, List<String> names) throws Exception {
        Path mnt = Files.createDirectories(tmp.resolve("fmnt-" + image.getFileName()));
        try (ErofsImage img = ErofsImage.open(image);
             FuseSession s = FuseSession.mount(new ErofsFilesystem(img), mnt, "erofs", "test", 2, InitNegotiation.Options.defaults())) {
            return probe(mnt, names);
        }
    }

    @Test
    void fuseMountAnswersBadNamesAsTheKernelDoes() throws Exception {
        Path t = tree("t6");
        for (String n : List.of("A", "BB", "NULNAMEXY", "SLASHNAME", "zz")) {
            Files.writeString(t.resolve(n), n.toLowerCase());
        }
        List<String> names = List.of("A", "BB", "NUL", "NULNAMEXY", "SLASHNAME", "zz", "x");
        List<Path> images = List.of(
                craft(t, "k-slash", bytes("SLASHNAME"), bytes("../../x/y")),
                craft(t, "k-nul", bytes("NULNAMEXY"), bytes("NUL\0NAMEX")),
                craft(t, "k-dot", bytes("...ABB"), bytes("....BB")),
                craft(t, "k-dotdot", bytes("...ABBNUL"), bytes("...A..NUL")));
        for (Path image : images) {
            String kernel = kernelProbe(image, names);
            assertEquals(kernel, fuseProbe(image, names), image.getFileName().toString());
        }
        // the oracle's verdicts, so that a kernel that changes its mind is noticed
        assertTrue(kernelProbe(images.get(0), names).endsWith("list error 5\n"));
        assertTrue(kernelProbe(images.get(1), names).contains("list ['A', 'BB', 'NUL', 'SLASHNAME', 'zz']\n"));
        assertTrue(kernelProbe(images.get(1), names).contains("NUL size 9\n"));
    }
}
