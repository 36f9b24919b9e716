package dev.csierofs.cas;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Our fs-verity digest against fsverity-utils' ({@code fsverity digest}, computed in userspace
 * exactly as the kernel measures it), for sizes at every edge of the Merkle tree: empty, within
 * one block, one block, one full block of hashes (128 data blocks) and one more, two and three
 * levels; fed in chunks that do not align with blocks.
 */
class VerityDigestTest {
    @Test
    void matchesFsverityUtilsAtEveryTreeShape(@TempDir Path tmp) throws Exception {
        long[] sizes = {0, 1, 4095, 4096, 4097, 300_000, 128 * 4096, 128 * 4096 + 1, 5 * (1 << 20) + 123,
                128L * 128 * 4096 + 4096};
        Random r = new Random(5);
        for (long size : sizes) {
            byte[] content = new byte[(int) size];
            r.nextBytes(content);
            Path f = tmp.resolve("f" + size);
            Files.write(f, content);
            Process p = new ProcessBuilder("fsverity", "digest", "--hash-alg=sha256", "--block-size=4096", f.toString())
                    .redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            assertEquals(0, p.waitFor(), out);
            String expected = out.substring("sha256:".length(), out.indexOf(' '));
            VerityDigest vd = new VerityDigest();
            int at = 0;
            int chunk = 1;
            while (at < content.length) {
                int n = Math.min(chunk, content.length - at);
                vd.update(content, at, n);
                at += n;
                chunk = chunk * 3 + 7; // 1, 10, 37, ... then large: crosses block boundaries every way
            }
            assertEquals(expected, HexFormat.of().formatHex(vd.digest()), size + " bytes");
            Files.delete(f);
        }
    }
}
