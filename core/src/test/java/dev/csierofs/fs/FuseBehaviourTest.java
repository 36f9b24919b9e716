package dev.csierofs.fs;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Fixtures;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import dev.csierofs.sys.Mounts;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Path reporting, concurrency and lifecycle of images served over our FUSE daemon. */
class FuseBehaviourTest {

    private static FuseSession serve(ErofsImage img, Path dir, int threads) throws Exception {
        return FuseSession.mount(new ErofsFilesystem(img), dir, "erofs", "test", threads, InitNegotiation.Options.defaults());
    }

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
        return out;
    }

    /** A library mapped from the mount shows the mount's own path in /proc/self/maps and /proc/self/fd. */
    @Test
    void mappedLibraryShowsTheMountPath(@TempDir Path tmp) throws Exception {
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        try (ErofsImage img = ErofsImage.open(Fixtures.image("lz4hc")); FuseSession s = serve(img, mnt, 2)) {
            Path lib = mnt.resolve("usr/lib/x86_64-linux-gnu/libmd.so.0.0.5");
            String out = run("python3", "-c", String.join("\n",
                    "import mmap, os, sys",
                    "f = open(sys.argv[1], 'rb')",
                    "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)",
                    "print([l.split()[-1] for l in open('/proc/self/maps') if 'libmd.so.0.0.5' in l][0])",
                    "print(os.readlink('/proc/self/fd/%d' % f.fileno()))",
                    "print(m[:4] == b'\\x7fELF')"), lib.toString());
            List<String> lines = out.lines().toList();
            assertEquals(lib.toString(), lines.get(0), "/proc/self/maps");
            assertEquals(lib.toString(), lines.get(1), "/proc/self/fd");
            assertEquals("True", lines.get(2));
        }
    }

    /**
     * Replies larger than a reader's request buffer (16 KiB): a 40,000-byte xattr value and an
     * 18 KiB xattr name list go through the shared large reply buffers, and a 1,500-entry directory
     * of long names is listed in several READDIRs. All as the kernel's own mount shows them.
     */
    @Test
    void repliesLargerThanTheRequestBufferMatchTheKernel(@TempDir Path tmp) throws Exception {
        Path tree = Files.createDirectories(tmp.resolve("tree"));
        run("mount", "-t", "tmpfs", "tmpfs", tree.toString()); // user xattrs up to 64 KiB (ext4 allows one block)
        Path image = tmp.resolve("big.erofs");
        try {
            Path f = Files.writeString(tree.resolve("f"), "x");
            var xattrs = Files.getFileAttributeView(f, java.nio.file.attribute.UserDefinedFileAttributeView.class);
            xattrs.write("big", java.nio.ByteBuffer.wrap("v".repeat(40_000).getBytes(StandardCharsets.US_ASCII)));
            for (int i = 0; i < 75; i++) {
                xattrs.write(String.format("n%02d", i).repeat(80), java.nio.ByteBuffer.wrap(Integer.toString(i).getBytes()));
            }
            Path d = Files.createDirectory(tree.resolve("d"));
            for (int i = 0; i < 1500; i++) {
                Files.createFile(d.resolve(String.format("entry-%04d-", i) + "x".repeat(100)));
            }
            run("mkfs.erofs", "--quiet", image.toString(), tree.toString());
        } finally {
            run("umount", tree.toString());
        }
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        Path kernel = Files.createDirectory(tmp.resolve("kernel"));
        String script = String.join("\n", "import hashlib, os, sys",
                "f = os.path.join(sys.argv[1], 'f')",
                "names = sorted(os.listxattr(f))",
                "print(len(names), sum(len(n) + 1 for n in names))",
                "print(len(os.getxattr(f, 'user.big')), os.getxattr(f, 'user.big') == b'v' * 40000)",
                "print(hashlib.sha256('/'.join(names).encode()).hexdigest(), [os.getxattr(f, n) for n in names[:3]])",
                "d = sorted(os.listdir(os.path.join(sys.argv[1], 'd')))",
                "print(len(d), hashlib.sha256('/'.join(d).encode()).hexdigest())");
        String want;
        run("mount", "-t", "erofs", "-o", "ro", image.toString(), kernel.toString());
        try {
            want = run("python3", "-c", script, kernel.toString());
        } finally {
            run("umount", kernel.toString());
        }
        String got;
        try (ErofsImage img = ErofsImage.open(image); FuseSession s = serve(img, mnt, 2)) {
            got = run("python3", "-c", script, mnt.toString());
        }
        assertTrue(want.startsWith("76 18"), "the image holds what the test means to read: " + want);
        assertTrue(want.contains("40000 True"), want);
        assertEquals(want, got);
    }

    /** A program exec'd from the mount shows the mount's path as /proc/<pid>/exe. */
    @Test
    void execdProgramShowsTheMountPath(@TempDir Path tmp) throws Exception {
        Path tree = Files.createDirectories(tmp.resolve("tree/bin"));
        Files.copy(Path.of("/bin/sleep"), tree.resolve("sleep"));
        Path image = tmp.resolve("sleep.erofs");
        run("mkfs.erofs", "-zlz4hc", image.toString(), tmp.resolve("tree").toString());
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        try (ErofsImage img = ErofsImage.open(image); FuseSession s = serve(img, mnt, 2)) {
            Path sleep = mnt.resolve("bin/sleep");
            Process p = new ProcessBuilder(sleep.toString(), "30").start();
            try {
                assertEquals(sleep.toString(), Files.readSymbolicLink(Path.of("/proc/" + p.pid() + "/exe")).toString());
                assertTrue(Files.readString(Path.of("/proc/" + p.pid() + "/maps")).contains(sleep.toString()));
            } finally {
                p.destroyForcibly().waitFor();
            }
        }
    }

    /** Many threads reading every file while another walks the tree all see the kernel's bytes. */
    @Test
    void concurrentReadersAndWalkersAgreeWithTheManifest(@TempDir Path tmp) throws Exception {
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        Map<String, String> want = new ConcurrentHashMap<>();
        for (String l : Fixtures.manifest("zstd")) {
            String[] f = l.split("\t");
            if (f.length > 11 && f[1].equals("reg") && f[0].matches("[A-Za-z0-9/._-]+")) {
                want.put(f[0], f[11]);
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try (ErofsImage img = ErofsImage.open(Fixtures.image("zstd")); FuseSession s = serve(img, mnt, 4)) {
            List<Future<?>> jobs = new ArrayList<>();
            for (int t = 0; t < 6; t++) {
                List<String> paths = new ArrayList<>(want.keySet());
                java.util.Collections.shuffle(paths, new java.util.Random(t));
                jobs.add(pool.submit(() -> {
                    MessageDigest sha = MessageDigest.getInstance("SHA-256");
                    for (String p : paths) {
                        try (InputStream in = Files.newInputStream(mnt.resolve(p.substring(1)))) {
                            sha.reset();
                            byte[] b = new byte[7919];
                            for (int n; (n = in.read(b)) > 0; ) {
                                sha.update(b, 0, n);
                            }
                            assertEquals(want.get(p), HexFormat.of().formatHex(sha.digest()), p);
                        }
                    }
                    return null;
                }));
            }
            for (int t = 0; t < 2; t++) {
                jobs.add(pool.submit(() -> {
                    try (Stream<Path> walk = Files.walk(mnt)) {
                        assertTrue(walk.count() > 800);
                    }
                    return null;
                }));
            }
            for (Future<?> j : jobs) {
                j.get(120, TimeUnit.SECONDS);
            }
        } finally {
            pool.shutdownNow();
        }
    }

    /** One process holds 100 mounts at once, each serving its image; all go away cleanly. */
    @Test
    void hundredMountsInOneProcess(@TempDir Path tmp) throws Exception {
        List<FuseSession> sessions = new ArrayList<>();
        List<Path> dirs = new ArrayList<>();
        try (ErofsImage img = ErofsImage.open(Fixtures.image("plain"))) {
            try {
                for (int i = 0; i < 100; i++) {
                    Path d = Files.createDirectory(tmp.resolve("m" + i));
                    dirs.add(d);
                    sessions.add(serve(img, d, 1));
                }
                for (Path d : dirs) {
                    assertEquals("ISLAND-3M+1", new String(readAt(d.resolve("var/lib/images/disk.img"), (3 << 20) + 1, 11),
                            StandardCharsets.US_ASCII));
                }
            } finally {
                for (FuseSession s : sessions) {
                    s.close();
                }
            }
        }
        for (Path d : dirs) {
            assertTrue(Mounts.at(d.toRealPath().toString()).isEmpty(), d + " still mounted");
        }
    }

    /** After a lazy unmount an open file still reads; the daemon ends once it is closed. */
    @Test
    void lazyUnmountWithAnOpenFile(@TempDir Path tmp) throws Exception {
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        try (ErofsImage img = ErofsImage.open(Fixtures.image("lz4"))) {
            FuseSession s = serve(img, mnt, 2);
            try {
                try (var ch = java.nio.channels.FileChannel.open(mnt.resolve("usr/share/fixture/prose.txt"))) {
                    run("umount", "-l", mnt.toString());
                    assertTrue(Mounts.at(mnt.toRealPath().toString()).isEmpty(), "gone from the namespace at once");
                    java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(1 << 16);
                    assertTrue(ch.read(b, 0) > 0, "the open file still reads through the live connection");
                    assertTrue(!s.awaitStop(200, TimeUnit.MILLISECONDS), "the daemon must serve while the file is open");
                }
                assertTrue(s.awaitStop(10, TimeUnit.SECONDS), "the daemon ends when the last user is gone");
            } finally {
                s.close();
            }
        }
    }

    /** ls -lAR (with st_blocks totals), find, tar and cp -a see the same tree through our mount as through the kernel's. */
    @Test
    void everydayToolsSeeWhatTheKernelShows(@TempDir Path tmp) throws Exception {
        for (String name : new String[] {"plain", "lz4hc", "48bit", "chunk", "metabox", "b512-lz4hc"}) {
            Path fuse = Files.createDirectory(tmp.resolve(name + "-fuse"));
            Path kernel = Files.createDirectory(tmp.resolve(name + "-kernel"));
            run("mount", "-t", "erofs", "-o", "ro", Fixtures.image(name).toString(), kernel.toString());
            try (ErofsImage img = ErofsImage.open(Fixtures.image(name)); FuseSession s = serve(img, fuse, 2)) {
                for (String[] tool : new String[][] {
                    {"ls", "-lAR", "--time-style=full-iso", "."}, // -A: the root's ".." is outside both mounts
                    {"find", ".", "-printf", "%p %y %m %n %u %g %s %T@ %l\\n"},
                    {"sh", "-c", "tar --numeric-owner -cf - . | sha256sum"}}) {
                    assertEquals(runIn(kernel, tool), runIn(fuse, tool), name + ": " + String.join(" ", tool));
                }
                Path a = tmp.resolve(name + "-copy-kernel");
                Path b = tmp.resolve(name + "-copy-fuse");
                run("cp", "-a", kernel.toString(), a.toString());
                run("cp", "-a", fuse.toString(), b.toString());
                assertEquals(Fixtures.manifestOfTree(a), Fixtures.manifestOfTree(b), name + ": cp -a");
            } finally {
                run("umount", kernel.toString());
            }
        }
    }

    private static String runIn(Path dir, String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + " in " + dir + ": " + out);
        return out;
    }

    private static byte[] readAt(Path p, long pos, int len) throws Exception {
        try (var ch = java.nio.channels.FileChannel.open(p)) {
            java.nio.ByteBuffer b = java.nio.ByteBuffer.allocate(len);
            while (b.hasRemaining() && ch.read(b, pos + b.position()) > 0) {
                // positional reads until full
            }
            return b.array();
        }
    }
}
