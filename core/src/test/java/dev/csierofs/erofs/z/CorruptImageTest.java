package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Hostile images: random damage to the compression maps and pclusters of a fixture (a private
 * copy) must end in an ErofsException or in (wrong) data, never another exception, a huge
 * allocation or a hang.
 */
class CorruptImageTest {

    @TempDir
    Path tmp;

    @ParameterizedTest
    @ValueSource(strings = {"lz4", "lz4hc", "lzma", "deflate", "zstd", "ztailpacking", "fragments", "dedupe", "48bit", "b512-lz4hc"})
    void damagedMapsAndPclustersOnlyThrowErofsException(String name) throws Exception {
        byte[] pristine = Files.readAllBytes(ZFixtures.image(name));
        List<long[]> regions = new ArrayList<>();
        List<Long> nids = new ArrayList<>();
        try (ErofsImage img = ErofsImage.open(ZFixtures.image(name))) {
            for (Inode ino : ZFixtures.inodes(img).values()) {
                if (!ino.isCompressed() || ino.inMetabox()) {
                    continue;
                }
                nids.add(ino.nid());
                CompressedData d = CompressedData.open(img, ino);
                regions.add(d.indexRange());
                for (long pos = 0; pos < ino.size(); ) {
                    Extent e = d.extentAt(pos);
                    if (e.kind() == Extent.ENCODED) {
                        regions.add(new long[] {e.pa(), e.pa() + e.plen()});
                    }
                    pos = e.end();
                }
            }
        }
        assertTrue(!regions.isEmpty());
        Random r = new Random(name.hashCode());
        Path copy = tmp.resolve(name + ".erofs");
        byte[] buf = new byte[1 << 16];
        assertTimeoutPreemptively(Duration.ofSeconds(120), () -> {
            for (int iter = 0; iter < 60; iter++) {
                byte[] img = pristine.clone();
                int flips = 1 + r.nextInt(8);
                for (int k = 0; k < flips; k++) {
                    long[] reg = regions.get(r.nextInt(regions.size()));
                    int at = (int) (reg[0] + r.nextInt((int) Math.max(1, reg[1] - reg[0])));
                    if (at >= 0 && at < img.length) {
                        img[at] = r.nextInt(3) == 0 ? (byte) 0xff : (byte) (img[at] ^ (1 << r.nextInt(8)));
                    }
                }
                Files.write(copy, img);
                try (ErofsImage im = ErofsImage.open(copy)) {
                    for (long nid : nids) {
                        try {
                            Inode ino = im.inode(nid);
                            FileData d = im.openData(ino);
                            long pos = 0;
                            int steps = 0;
                            while (pos < ino.size() && steps++ < 4096) {
                                int n = d.read(pos, buf, 0, buf.length);
                                if (n <= 0) {
                                    break;
                                }
                                pos += n;
                            }
                            // and a few random reads
                            for (int k = 0; k < 4 && ino.size() > 0; k++) {
                                d.read(Math.floorMod(r.nextLong(), ino.size()), buf, 0, 1 + r.nextInt(buf.length));
                            }
                        } catch (ErofsException expected) {
                            // the point of the test
                        }
                    }
                } catch (ErofsException expected) {
                    // damage that makes the image unreadable as a whole is fine too
                }
            }
        });
    }
}
