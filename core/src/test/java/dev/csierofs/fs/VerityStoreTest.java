package dev.csierofs.fs;

import dev.csierofs.cas.Digest;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import dev.csierofs.sys.Libc;
import dev.csierofs.sys.Verity;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.TreeMap;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A content store on ext4 made with {@code -O verity} (a loop device): every store file gets
 * fs-verity, measured as the digest computed from the bytes we verified (Merkle trees of one
 * block, one level and two levels); a store file cannot be written; a block damaged on the
 * device reaches a reader through the passthrough mount as EIO, never as its bytes; a restart
 * replaces the damaged copy.
 */
class VerityStoreTest {
    private static final int MIB = 1 << 20;

    private static String run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
        return out;
    }

    private static void write(Path p, byte[] content) throws IOException {
        Files.createDirectories(p.getParent());
        Files.write(p, content);
    }

    private static byte[] random(int seed, int size) {
        byte[] x = new byte[size];
        new Random(seed).nextBytes(x);
        return x;
    }

    private static String sha(byte[] b) {
        return HexFormat.of().formatHex(Digest.sha256().digest(b));
    }

    private static Map<String, String> hashes(Path root) throws Exception {
        Map<String, String> out = new TreeMap<>();
        try (Stream<Path> s = Files.walk(root)) {
            for (Path p : s.filter(Files::isRegularFile).toList()) {
                out.put(root.relativize(p).toString(), sha(Files.readAllBytes(p)));
            }
        }
        return out;
    }

    @Test
    void storeFilesOnAVerityFilesystemAreSealedAndADamagedBlockIsNeverServed(@TempDir Path tmp) throws Exception {
        Path src = tmp.resolve("src");
        Map<String, byte[]> files = new TreeMap<>();
        files.put("one-byte", new byte[]{42});
        files.put("one-block", random(1, 4096));
        files.put("small.txt", "hello verity\n".getBytes(StandardCharsets.UTF_8));
        files.put("one-level.bin", random(2, 300_000));
        files.put("two-levels.bin", random(3, 5 * MIB + 123)); // 1,281 blocks: 11 blocks of hashes, then 1
        for (var f : files.entrySet()) {
            write(src.resolve(f.getKey()), f.getValue());
        }
        Path image = tmp.resolve("v.erofs");
        run("mkfs.erofs", "--quiet", image.toString(), src.toString());

        Path disk = tmp.resolve("ext4.img");
        run("truncate", "-s", "128M", disk.toString());
        run("mkfs.ext4", "-q", "-F", "-b", "4096", "-O", "verity", disk.toString());
        String loop = run("losetup", "-f", "--show", disk.toString()).trim();
        Path ext = Files.createDirectory(tmp.resolve("ext"));
        try {
            run("mount", loop, ext.toString());
            try {
                org.junit.jupiter.api.Assumptions.assumeTrue(kernelHasVerity(ext),
                        "this kernel has no fs-verity (CONFIG_FS_VERITY is not set): the store runs without it here");
                exercise(tmp, image, disk, ext.resolve("store"), files);
            } finally {
                run("umount", ext.toString());
            }
        } finally {
            run("losetup", "-d", loop);
        }
    }

    private void exercise(Path tmp, Path image, Path disk, Path storeDir, Map<String, byte[]> files) throws Exception {
        ContentSharing.Options options = new ContentSharing.Options(true, 8L * MIB, 16L * MIB);
        String damaged = sha(files.get("one-level.bin"));
        Path damagedCopy = storeDir.resolve("sha256").resolve(damaged.substring(0, 2)).resolve(damaged);
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        try (ContentSharing sharing = ContentSharing.withStore(storeDir, 1L << 30, options)) {
            assertTrue(sharing.store().verity(), "ext4 with -O verity offers fs-verity");
            assertTrue(sharing.store().guarantee().contains("fs-verity is on"), sharing.store().guarantee());
            try (ErofsImage img = ErofsImage.open(image)) {
                ErofsFilesystem fs = new ErofsFilesystem(img, sharing, "test:" + image);
                try (FuseSession session = FuseSession.mount(fs, mnt, "erofs", image.toString(), 2, InitNegotiation.Options.defaults())) {
                    Map<String, String> expected = new TreeMap<>();
                    files.forEach((k, v) -> expected.put(k, sha(v)));
                    assertEquals(expected, hashes(mnt));
                    sharing.awaitBackground();
                    assertEquals(0, sharing.store().stats().corrupt(), "every kernel measurement matched the digest computed here");
                    assertEquals(files.size(), sharing.store().fileCount());
                    for (byte[] content : files.values()) {
                        String h = sha(content);
                        Path copy = storeDir.resolve("sha256").resolve(h.substring(0, 2)).resolve(h);
                        int fd = Libc.open(copy.toString().getBytes(StandardCharsets.UTF_8), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
                        try {
                            assertNotNull(Verity.measure(fd), "fs-verity on " + copy);
                        } finally {
                            Libc.close(fd);
                        }
                    }
                    assertThrows(IOException.class, () -> Files.write(damagedCopy, new byte[]{1}, StandardOpenOption.WRITE),
                            "a sealed store file cannot be written");

                    // damage the third block of one store file on the device itself, below the filesystem
                    long physical = firstPhysicalBlock(damagedCopy);
                    try (var dev = java.nio.channels.FileChannel.open(disk, StandardOpenOption.WRITE)) {
                        dev.write(java.nio.ByteBuffer.wrap("EVIL".getBytes(StandardCharsets.US_ASCII)), (physical + 2) * 4096 + 10);
                    }
                    run("sh", "-c", "sync; echo 3 > /proc/sys/vm/drop_caches");
                    Path file = mnt.resolve("one-level.bin");
                    IOException failed = assertThrows(IOException.class, () -> Files.readAllBytes(file));
                    assertTrue(String.valueOf(failed.getMessage()).contains("Input/output error"), String.valueOf(failed));
                    try (var ch = java.nio.channels.FileChannel.open(file)) {
                        java.nio.ByteBuffer first = java.nio.ByteBuffer.allocate(4096);
                        assertEquals(4096, ch.read(first, 0), "undamaged blocks still read");
                        java.nio.ByteBuffer third = java.nio.ByteBuffer.allocate(4096);
                        assertThrows(IOException.class, () -> ch.read(third, 2 * 4096), "the damaged block is EIO");
                    }
                    assertFalse(sha(files.get("one-level.bin")).isEmpty());
                }
            }
        }
        // after a restart the copy is hashed again, found damaged (EIO) and replaced
        run("sh", "-c", "echo 3 > /proc/sys/vm/drop_caches");
        try (ContentSharing sharing = ContentSharing.withStore(storeDir, 1L << 30, options);
             ErofsImage img = ErofsImage.open(image)) {
            ErofsFilesystem fs = new ErofsFilesystem(img, sharing, "test:" + image);
            try (FuseSession session = FuseSession.mount(fs, mnt, "erofs", image.toString(), 2, InitNegotiation.Options.defaults())) {
                assertEquals(damaged, sha(Files.readAllBytes(mnt.resolve("one-level.bin"))));
                assertEquals(1, sharing.store().stats().corrupt());
                assertEquals(damaged, sha(Files.readAllBytes(damagedCopy)), "replaced by a sealed good copy");
            }
        }
    }

    private static boolean kernelHasVerity(Path dir) throws Exception {
        Path probe = dir.resolve("probe");
        Files.write(probe, new byte[]{1});
        int fd = Libc.open(probe.toString().getBytes(StandardCharsets.UTF_8), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
        try {
            Verity.enable(fd);
            return true;
        } catch (dev.csierofs.sys.SyscallException e) {
            return false;
        } finally {
            Libc.close(fd);
            Files.delete(probe);
        }
    }

    /** The first physical block of {@code f} on its device ({@code filefrag -v}, 4 KiB units). */
    private static long firstPhysicalBlock(Path f) throws Exception {
        for (String line : run("filefrag", "-v", "-b4096", f.toString()).split("\n")) {
            String[] cols = line.trim().split("[\\s:.]+");
            if (cols.length > 4 && cols[0].equals("0")) { // "0:        0..      73:      34816..     34889:     74:"
                return Long.parseLong(cols[3]);
            }
        }
        throw new AssertionError("no extent 0 in filefrag output for " + f);
    }
}
