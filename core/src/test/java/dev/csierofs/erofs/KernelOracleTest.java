package dev.csierofs.erofs;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The Linux kernel is the oracle: an image mounted with {@code mount -t erofs} and listed by the
 * shared fixtures' {@code manifest.py} must give exactly the manifest our reader gives for the
 * same image ({@link ReaderManifest}).
 *
 * <ul>
 * <li>{@link #readerMatchesKernel}: a source tree full of edge cases ({@code make-edge-tree.py},
 * fixed seed, made at test time) is built with Debian's mkfs.erofs 1.5 in every configuration
 * that changes the on-disk format, mounted, and compared line by line.</li>
 * <li>{@link #storedManifestIsTheKernelsView}: every shared fixture mounted on this kernel gives
 * exactly its stored manifest, so the stored manifests FixtureManifestTest compares against are
 * the kernel's view here too.</li>
 * </ul>
 *
 * Needs root (mount, loop devices; the tree has device nodes, foreign owners and trusted.*
 * xattrs), a kernel with EROFS, python3 and erofs-utils (mkfs.erofs 1.5). Skipped, with the
 * reason, only when mounting is impossible.
 */
class KernelOracleTest {

    private static final String MKFS = "/usr/bin/mkfs.erofs";
    private static final long T = 1710000000L;
    private static final String FIXED_T = "-T" + T;
    private static final String UUID = "-U5f0e1d2c-3b4a-4968-8776-a5b4c3d2e1f0";
    /** mkfs.erofs 1.5 cannot import 255-byte names ("Could not format the device: No such file
     *  or directory"), so every configuration leaves them out; the 254-byte ones stay. */
    private static final String NO_255_BYTE_NAMES = "--exclude-regex=[^/]{255}";
    /** -Eforce-inode-compact refuses uid/gid > 65535 ("cannot be in compact form"). */
    private static final String NO_BIG_IDS = "--exclude-regex=^owners/(big-|u0-g70000|u65536|u70000|u4000000000)";
    /** Placeholder in arguments for the per-class work directory (hints and contexts files). */
    private static final String WORK = "@WORK@";

    @TempDir
    static Path work;
    private static Path tree;

    /**
     * One mkfs.erofs 1.5 configuration. {@code blob}: the file data goes to an extra device
     * ({@code --blobdev}) that the kernel and the reader both get.
     */
    record Config(String name, List<String> args, Map<String, String> env, boolean blob) {
        @Override
        public String toString() {
            return name;
        }
    }

    private static Config cfg(String name, String... args) {
        return new Config(name, List.of(args), Map.of(), false);
    }

    /**
     * Every format-affecting option of mkfs.erofs 1.5 (see {@code mkfs.erofs --help}; its -E
     * options: legacy-compress, force-inode-compact, force-inode-extended, nosbcrc,
     * noinline_data, force-inode-blockmap, force-chunk-indexes, ztailpacking). 1.5 has no -b
     * (block size is always 4096: "invalid option -- 'b'"), and its compressors are lz4 and
     * lz4hc only. -T flattens every mtime to the given time in 1.5 (even with
     * --preserve-mtime), so configurations without -T carry the tree's own mtimes.
     */
    static List<Config> configs() {
        List<Config> c = new ArrayList<>();
        // ---- uncompressed
        c.add(cfg("plain -T", FIXED_T));
        c.add(cfg("plain, own mtimes (no -T, extended inodes)"));
        c.add(new Config("SOURCE_DATE_EPOCH (mtimes clamped, extended inodes)", List.of(),
                Map.of("SOURCE_DATE_EPOCH", Long.toString(T)), false));
        c.add(cfg("--ignore-mtime", "--ignore-mtime"));
        c.add(cfg("-Eforce-inode-compact (uid/gid > 65535 left out)", FIXED_T, "-Eforce-inode-compact", NO_BIG_IDS));
        c.add(cfg("-Eforce-inode-extended, own mtimes", "-Eforce-inode-extended"));
        c.add(cfg("-Enoinline_data", FIXED_T, "-Enoinline_data"));
        c.add(cfg("-Enosbcrc", FIXED_T, "-Enosbcrc"));
        c.add(cfg("-x-1 (no xattrs)", FIXED_T, "-x-1"));
        c.add(cfg("-x0 (xattrs shared eagerly)", FIXED_T, "-x0"));
        c.add(cfg("--all-root", FIXED_T, "--all-root"));
        c.add(cfg("--force-uid=70000 --force-gid=4000000000", "--force-uid=70000", "--force-gid=4000000000"));
        c.add(cfg("--file-contexts (security.selinux labels)", FIXED_T, "--file-contexts=" + WORK + "/file_contexts"));
        // ---- chunk-based
        c.add(cfg("--chunksize=4096", FIXED_T, "--chunksize=4096"));
        c.add(cfg("--chunksize=65536", FIXED_T, "--chunksize=65536"));
        c.add(cfg("--chunksize=65536 -Eforce-chunk-indexes", FIXED_T, "--chunksize=65536", "-Eforce-chunk-indexes"));
        c.add(cfg("--chunksize=8192 -Eforce-inode-blockmap, own mtimes", "--chunksize=8192", "-Eforce-inode-blockmap"));
        c.add(new Config("--blobdev --chunksize=65536 (extra device)", List.of(FIXED_T, "--chunksize=65536"), Map.of(), true));
        c.add(new Config("--blobdev --chunksize=4096 (extra device), own mtimes", List.of("--chunksize=4096"), Map.of(), true));
        // 1.5 writes every file chunk-based when --chunksize is given, even with -z (lz4_0padding set)
        c.add(cfg("-zlz4 --chunksize=65536 (stored chunked)", FIXED_T, "-zlz4", "--chunksize=65536"));
        // ---- compressed
        c.add(cfg("-zlz4", FIXED_T, "-zlz4"));
        c.add(cfg("-zlz4hc", FIXED_T, "-zlz4hc"));
        c.add(cfg("-zlz4hc -C65536 (big pclusters)", FIXED_T, "-zlz4hc", "-C65536"));
        c.add(cfg("-zlz4 -C16384 (big pclusters), own mtimes", "-zlz4", "-C16384"));
        c.add(cfg("-zlz4hc -Eztailpacking", FIXED_T, "-zlz4hc", "-Eztailpacking"));
        c.add(cfg("-zlz4hc -C65536 -Eztailpacking", FIXED_T, "-zlz4hc", "-C65536", "-Eztailpacking"));
        c.add(cfg("-zlz4 -Elegacy-compress", FIXED_T, "-zlz4", "-Elegacy-compress"));
        c.add(cfg("-zlz4hc --max-extent-bytes=8192", FIXED_T, "-zlz4hc", "--max-extent-bytes=8192"));
        c.add(cfg("-zlz4hc -C65536 --compress-hints", FIXED_T, "-zlz4hc", "-C65536", "--compress-hints=" + WORK + "/hints"));
        c.add(cfg("-zlz4hc -Eforce-inode-compact (uid/gid > 65535 left out)", FIXED_T, "-zlz4hc", "-Eforce-inode-compact", NO_BIG_IDS));
        c.add(cfg("-zlz4 -Eforce-inode-extended -Enoinline_data -x-1, own mtimes", "-zlz4", "-Eforce-inode-extended",
                "-Enoinline_data", "-x-1"));
        return c;
    }

    static List<String> fixtures() throws IOException {
        return Fixtures.names();
    }

    @BeforeAll
    static void kernelAvailable() {
        String why = KernelMount.unavailableReason();
        assumeTrue(why == null, why);
    }

    /** The edge-case source tree, made once per class run (lazily: the fixture test needs none). */
    private static synchronized Path tree() throws IOException, InterruptedException {
        if (tree == null) {
            Path script = work.resolve("make-edge-tree.py");
            try (InputStream in = KernelOracleTest.class.getResourceAsStream("make-edge-tree.py")) {
                if (in == null) {
                    throw new IOException("test resource make-edge-tree.py missing");
                }
                Files.copy(in, script);
            }
            Path t = work.resolve("tree");
            Files.createDirectory(t);
            KernelMount.run(List.of("python3", script.toString(), t.toString()), Map.of(), null);
            Files.writeString(work.resolve("hints"), "4096 ^sizes/\n65536 ^bulk/text\n16384 .*\n");
            Files.writeString(work.resolve("file_contexts"),
                    "/xattrs(/.*)?\tsystem_u:object_r:etc_t:s0\n/links/.*\tsystem_u:object_r:bin_t:s0\n");
            tree = t;
        }
        return tree;
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("configs")
    void readerMatchesKernel(Config config) throws Exception {
        assertTrue(Files.isExecutable(Path.of(MKFS)), MKFS + " missing: install Debian's erofs-utils (1.5)");
        Path src = tree();
        String slug = config.name().replaceAll("[^A-Za-z0-9]+", "-");
        Path image = work.resolve(slug + ".erofs");
        Path blob = work.resolve(slug + ".blob");
        List<String> cmd = new ArrayList<>(List.of(MKFS, "--quiet", UUID, NO_255_BYTE_NAMES));
        for (String a : config.args()) {
            cmd.add(a.replace(WORK, work.toString()));
        }
        if (config.blob()) {
            cmd.add("--blobdev=" + blob);
        }
        cmd.add(image.toString());
        cmd.add(src.toString());
        Map<String, String> env = new LinkedHashMap<>(config.env());
        if (!env.containsKey("SOURCE_DATE_EPOCH")) {
            env.put("SOURCE_DATE_EPOCH", null); // an inherited one would change the inode format: unset it
        }
        List<Path> devices = config.blob() ? List.of(blob) : List.of();
        try {
            KernelMount.run(cmd, env, null);
            List<String> kernel;
            List<String> kernelSeeks;
            try (KernelMount m = KernelMount.mount(image, devices, work.resolve("mnt"))) {
                kernel = m.manifest();
                kernelSeeks = KernelMount.seekMap(work.resolve("mnt"));
            }
            assertTrue(kernel.size() > 1400, "kernel shows only " + kernel.size() + " manifest lines: tree not imported?");
            try (ErofsImage img = ErofsImage.open(image, devices)) {
                List<String> reader = ReaderManifest.of(img);
                FixtureManifestTest.assertManifestsEqual(config.name(), kernel, reader);
                assertLookupsFindEveryEntry(img);
                // our FUSE mount of the image shows what the kernel's mount shows
                Path fuseDir = Files.createDirectories(work.resolve("fuse-" + slug));
                List<String> viaFuse;
                List<String> fuseSeeks;
                try (dev.csierofs.fuse.FuseSession fuse = dev.csierofs.fuse.FuseSession.mount(new dev.csierofs.fs.ErofsFilesystem(img),
                        fuseDir, "erofs", image.toString(), 2, dev.csierofs.fuse.InitNegotiation.Options.defaults())) {
                    viaFuse = Fixtures.manifestOfTree(fuseDir);
                    fuseSeeks = KernelMount.seekMap(fuseDir);
                }
                FixtureManifestTest.assertManifestsEqual(config.name() + " (FUSE)", kernel, viaFuse);
                FixtureManifestTest.assertManifestsEqual(config.name() + " (SEEK_DATA/SEEK_HOLE over FUSE)", kernelSeeks, fuseSeeks);
                // extract restores what the kernel shows (directory sizes belong to the target filesystem)
                Path out = work.resolve("extract-" + slug);
                new dev.csierofs.tools.Extractor(img, out, null).extract();
                try {
                    FixtureManifestTest.assertManifestsEqual(config.name() + " (extracted)",
                            Fixtures.withoutDirSizes(kernel), Fixtures.withoutDirSizes(Fixtures.manifestOfTree(out)));
                } finally {
                    KernelMount.run(List.of("rm", "-rf", out.toString()), Map.of(), null);
                }
            } catch (ErofsException e) { // surefire reports list tests by index: name the configuration
                throw new AssertionError(config.name() + ": the kernel reads this image, our reader fails: " + e.getMessage(), e);
            }
        } finally {
            Files.deleteIfExists(image);
            Files.deleteIfExists(blob);
        }
    }

    /**
     * manifest.py reaches every path by name (the kernel's lookup), ReaderManifest by listing
     * directories: so also look every listed name up through our reader (binary search over
     * blocks, then within one), and a near miss of each name must not be found.
     */
    private static void assertLookupsFindEveryEntry(ErofsImage img) throws Exception {
        new TreeWalker(img).walk((path, ino) -> {
            if (!ino.isDirectory()) {
                return;
            }
            Directory dir = img.directory(ino);
            List<Dirent> entries = new ArrayList<>();
            dir.readdir(0, d -> entries.add(d));
            java.util.Set<String> names = new java.util.HashSet<>();
            entries.forEach(d -> names.add(Escape.text(d.name())));
            for (Dirent d : entries) {
                if (d.isDot() || d.isDotDot()) {
                    continue;
                }
                String where = Escape.text(TreeWalker.join(path, d.name()));
                java.util.Optional<Dirent> found = dir.lookup(d.name());
                assertTrue(found.isPresent(), "lookup misses " + where);
                assertEquals(d.nid(), found.get().nid(), "lookup of " + where + " finds another inode");
                byte[] miss = java.util.Arrays.copyOf(d.name(), d.name().length + 1);
                miss[miss.length - 1] = '~';
                if (miss.length <= 255 && !names.contains(Escape.text(miss))) {
                    assertTrue(dir.lookup(miss).isEmpty(), "lookup finds the absent " + where + "~");
                }
            }
        });
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void storedManifestIsTheKernelsView(String name) throws Exception {
        List<String> live;
        try (KernelMount m = KernelMount.mount(Fixtures.image(name), Fixtures.devices(name), work.resolve("mnt-fixture"))) {
            live = m.manifest();
        }
        List<String> stored = Fixtures.manifest(name);
        FixtureManifestTest.assertManifestsEqual(name + " (stored vs live kernel)", stored, live);
    }

    /** SEEK_DATA and SEEK_HOLE through our FUSE mount of each fixture land where the kernel's do. */
    @ParameterizedTest(name = "{0}")
    @MethodSource("fixtures")
    void fuseSeeksLikeTheKernel(String name) throws Exception {
        List<String> kernel;
        Path kmnt = work.resolve("mnt-seek");
        try (KernelMount m = KernelMount.mount(Fixtures.image(name), Fixtures.devices(name), kmnt)) {
            kernel = KernelMount.seekMap(kmnt);
        }
        Path fmnt = Files.createDirectories(work.resolve("fuse-seek"));
        List<String> viaFuse;
        try (ErofsImage img = ErofsImage.open(Fixtures.image(name), Fixtures.devices(name));
             dev.csierofs.fuse.FuseSession fuse = dev.csierofs.fuse.FuseSession.mount(new dev.csierofs.fs.ErofsFilesystem(img),
                     fmnt, "erofs", name, 2, dev.csierofs.fuse.InitNegotiation.Options.defaults())) {
            viaFuse = KernelMount.seekMap(fmnt);
        }
        assertTrue(kernel.size() > 10, name + ": only " + kernel.size() + " regular files seen");
        FixtureManifestTest.assertManifestsEqual(name + " (SEEK_DATA/SEEK_HOLE over FUSE)", kernel, viaFuse);
    }
}
