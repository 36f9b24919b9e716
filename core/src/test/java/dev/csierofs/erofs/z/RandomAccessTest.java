package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Inode;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Random access: reads at random offsets and lengths equal the same slice of a sequential read;
 * a sequential read decodes every pcluster exactly once, whatever the read size; concurrent
 * readers of one FileData agree.
 */
class RandomAccessTest {

    /** The largest compressed regular files of an image (by size). */
    static List<Inode> bigCompressedFiles(ErofsImage img, int count) throws Exception {
        List<Inode> files = new ArrayList<>();
        for (Inode ino : ZFixtures.inodes(img).values()) {
            if (ino.isRegular() && ino.isCompressed() && ino.size() > 0) {
                files.add(ino);
            }
        }
        files.sort(Comparator.comparingLong(Inode::size).reversed());
        return files.subList(0, Math.min(count, files.size()));
    }

    @ParameterizedTest
    @ValueSource(strings = {"lz4", "lz4hc", "lzma", "deflate", "zstd", "ztailpacking", "fragments", "dedupe",
        "tail-frag-dedupe", "b512-lz4hc", "48bit", "metabox", "deb15-lz4hc"})
    void randomReadsEqualSequentialSlices(String name) throws Exception {
        Random r = new Random(name.hashCode());
        try (ErofsImage img = ErofsImage.open(ZFixtures.image(name))) {
            List<Inode> files = bigCompressedFiles(img, 4);
            assertTrue(!files.isEmpty(), "no compressed files in " + name);
            Map<String, String> expected = ZFixtures.regularFiles(name);
            for (Inode ino : files) {
                byte[] whole = ZFixtures.readAll(CompressedData.open(img, ino), ino.size(), 1 << 20);
                assertTrue(expected.containsValue(ZFixtures.sha256(whole, 0, whole.length)), "sequential read of " + ino.label());
                CompressedData d = CompressedData.open(img, ino);
                for (int i = 0; i < 300; i++) {
                    long pos = r.nextInt(whole.length + 10);
                    int len = switch (r.nextInt(4)) {
                        case 0 -> r.nextInt(16);
                        case 1 -> r.nextInt(5000);
                        case 2 -> r.nextInt(70000);
                        default -> r.nextInt(whole.length + 100);
                    };
                    int off = r.nextInt(8);
                    byte[] buf = new byte[off + len + 3];
                    int n = d.read(pos, buf, off, len);
                    int want = (int) Math.max(0, Math.min(len, whole.length - pos));
                    assertEquals(want, n, ino.label() + " read(" + pos + ", " + len + ")");
                    if (n > 0) {
                        assertArrayEquals(Arrays.copyOfRange(whole, (int) pos, (int) pos + n), Arrays.copyOfRange(buf, off, off + n),
                                ino.label() + " read(" + pos + ", " + len + ")");
                    }
                }
                // backwards, block by block
                CompressedData back = CompressedData.open(img, ino);
                byte[] rev = new byte[whole.length];
                for (long pos = ((whole.length - 1) / 3000) * 3000L; pos >= 0; pos -= 3000) {
                    back.read(pos, rev, (int) pos, (int) Math.min(3000, whole.length - pos));
                }
                assertArrayEquals(whole, rev, ino.label() + " backwards");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(ints = {1000, 4096, 65536, 131072, 1 << 20})
    void sequentialReadDecodesEachPclusterOnce(int chunk) throws Exception {
        for (String name : List.of("lz4hc", "lzma", "zstd", "ztailpacking", "dedupe", "48bit", "b512-lz4hc")) {
            try (ErofsImage img = ErofsImage.open(ZFixtures.image(name))) { // a fresh image: nothing cached yet
                for (Inode ino : bigCompressedFiles(img, 3)) {
                    CompressedData d = CompressedData.open(img, ino);
                    ZFixtures.readAll(d, ino.size(), chunk);
                    int pclusters = 0;
                    CompressedData probe = CompressedData.open(img, ino);
                    for (long pos = 0; pos < ino.size(); ) {
                        Extent e = probe.extentAt(pos);
                        if (e.kind() == Extent.ENCODED || e.kind() == Extent.META) {
                            pclusters++;
                        }
                        pos = e.end();
                    }
                    assertEquals(pclusters, d.decodeCount(), name + " " + ino.label() + " read in " + chunk + "-byte chunks");
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"lz4hc", "zstd", "fragments", "48bit"})
    void concurrentReadersAgree(String name) throws Exception {
        try (ErofsImage img = ErofsImage.open(ZFixtures.image(name))) {
            List<Inode> files = bigCompressedFiles(img, 3);
            List<byte[]> wholes = new ArrayList<>();
            List<CompressedData> shared = new ArrayList<>();
            for (Inode ino : files) {
                wholes.add(ZFixtures.readAll(CompressedData.open(img, ino), ino.size(), 1 << 20));
                shared.add(CompressedData.open(img, ino));
            }
            ExecutorService pool = Executors.newFixedThreadPool(8);
            try {
                List<Future<?>> futures = new ArrayList<>();
                for (int t = 0; t < 8; t++) {
                    final int seed = t;
                    futures.add(pool.submit(() -> {
                        Random r = new Random(seed);
                        for (int i = 0; i < 400; i++) {
                            int f = r.nextInt(files.size());
                            byte[] whole = wholes.get(f);
                            int pos = r.nextInt(whole.length);
                            int len = 1 + r.nextInt(40000);
                            byte[] buf = new byte[len];
                            int n = shared.get(f).read(pos, buf, 0, len);
                            assertArrayEquals(Arrays.copyOfRange(whole, pos, pos + n), Arrays.copyOf(buf, n));
                        }
                        return null;
                    }));
                }
                for (Future<?> fu : futures) {
                    fu.get();
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }
}
