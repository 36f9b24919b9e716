package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Round trip through Debian's mkfs.erofs 1.5 (/usr/bin/mkfs.erofs): a generated tree with big
 * compressible and incompressible files, sizes on and around block and pcluster multiples, and
 * empty files, packed with several option sets; every file read back must equal its source.
 */
class MkfsRoundTripTest {
    private static final Path MKFS = Path.of("/usr/bin/mkfs.erofs");

    @TempDir
    static Path work;

    static Path tree;
    static final Map<String, byte[]> FILES = new LinkedHashMap<>();

    @BeforeAll
    static void makeTree() throws IOException {
        tree = work.resolve("tree");
        Random r = new Random(20240310);
        String[] words = new String[300];
        for (int i = 0; i < words.length; i++) {
            StringBuilder w = new StringBuilder();
            for (int k = 0; k < 2 + r.nextInt(8); k++) {
                w.append((char) ('a' + r.nextInt(26)));
            }
            words[i] = w.toString();
        }
        java.util.function.IntFunction<byte[]> text = n -> {
            StringBuilder sb = new StringBuilder(n + 16);
            while (sb.length() < n) {
                sb.append(words[r.nextInt(words.length)]).append(r.nextInt(12) == 0 ? '\n' : ' ');
            }
            return Arrays.copyOf(sb.toString().getBytes(StandardCharsets.US_ASCII), n);
        };
        java.util.function.IntFunction<byte[]> noise = n -> {
            byte[] b = new byte[n];
            r.nextBytes(b);
            return b;
        };
        add("big/text", text.apply(3 * 1024 * 1024 + 123));
        add("big/noise", noise.apply(600_000));
        byte[] mixed = new byte[1 << 20];
        for (int i = 0; i < mixed.length; i += 16384) {
            byte[] part = (i / 16384) % 3 == 0 ? noise.apply(16384) : text.apply(16384);
            System.arraycopy(part, 0, mixed, i, 16384);
        }
        add("big/mixed", mixed);
        add("big/zeros", new byte[1 << 20]);
        for (int size : new int[] {1, 511, 512, 3584, 4095, 4096, 4097, 8192, 12288, 65535, 65536, 65537, 131072, 262144}) {
            add("sizes/text-" + size, text.apply(size));
            add("sizes/noise-" + size, noise.apply(size));
        }
        for (int i = 0; i < 3; i++) {
            add("empty/e" + i, new byte[0]);
        }
        for (int i = 0; i < 20; i++) {
            add("small/s" + i, text.apply(1 + r.nextInt(20000)));
        }
        add("deep/a/b/c/d/file", text.apply(70000));
        for (Map.Entry<String, byte[]> e : FILES.entrySet()) {
            Path p = tree.resolve(e.getKey());
            Files.createDirectories(p.getParent());
            Files.write(p, e.getValue());
        }
    }

    private static void add(String path, byte[] data) {
        FILES.put(path, data);
    }

    @ParameterizedTest
    @ValueSource(strings = {"-zlz4", "-zlz4hc", "-zlz4hc -C65536", "-zlz4hc -C16384 -Eztailpacking", "-zlz4 -Elegacy-compress",
        "-zlz4hc,12 -C262144 -Eztailpacking", "-zlz4 -C131072 -Eforce-inode-extended"})
    void filesReadBackEqual(String options) throws Exception {
        assumeTrue(Files.isExecutable(MKFS), "Debian mkfs.erofs not installed");
        Path img = work.resolve("img-" + Integer.toHexString(options.hashCode()) + ".erofs");
        List<String> cmd = new ArrayList<>();
        cmd.add(MKFS.toString());
        cmd.addAll(List.of(options.split(" ")));
        cmd.addAll(List.of("-T0", img.toString(), tree.toString()));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] log = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "mkfs timed out");
        assertEquals(0, p.exitValue(), "mkfs failed: " + new String(log, StandardCharsets.UTF_8));

        int compressed = 0;
        try (ErofsImage image = ErofsImage.open(img)) {
            Map<String, Inode> inodes = ZFixtures.inodes(image);
            for (Map.Entry<String, byte[]> e : FILES.entrySet()) {
                Inode ino = inodes.get("/" + e.getKey());
                assertNotNull(ino, e.getKey());
                assertEquals(e.getValue().length, ino.size(), e.getKey());
                if (ino.isCompressed()) {
                    compressed++;
                }
                FileData d = image.openData(ino);
                for (int chunk : new int[] {4096, 100_000}) {
                    byte[] got = ZFixtures.readAll(d, ino.size(), chunk);
                    assertArrayEquals(e.getValue(), got, e.getKey() + " (" + options + ", " + chunk + "-byte reads)");
                }
                if (ino.size() > 10) {
                    Random r = new Random(e.getKey().hashCode());
                    for (int k = 0; k < 20; k++) {
                        int pos = r.nextInt((int) ino.size());
                        int len = 1 + r.nextInt(20000);
                        byte[] buf = new byte[len];
                        int n = d.read(pos, buf, 0, len);
                        assertArrayEquals(Arrays.copyOfRange(e.getValue(), pos, pos + n), Arrays.copyOf(buf, n), e.getKey());
                    }
                }
            }
        }
        assertTrue(compressed >= 5, options + ": only " + compressed + " compressed files");
    }
}
