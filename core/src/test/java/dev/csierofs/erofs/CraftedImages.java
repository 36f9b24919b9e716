package dev.csierofs.erofs;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.CRC32C;

/**
 * Hostile images made by tests: mkfs.erofs builds an image of a tree whose names are placeholders
 * of the right length, then the placeholder bytes are replaced (dirents carry no checksum; the
 * superblock checksum is recomputed, since in a small image the names share its block).
 */
public final class CraftedImages {
    private CraftedImages() {
    }

    /** Images {@code tree} into {@code image}, then replaces the one occurrence of each {@code patches[2i]} by {@code patches[2i+1]}. */
    public static Path patched(Path tree, Path image, byte[]... patches) throws IOException, InterruptedException {
        Process p = new ProcessBuilder("mkfs.erofs", "--quiet", "-T0", image.toString(), tree.toString()).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (p.waitFor() != 0) {
            throw new IOException("mkfs.erofs failed: " + out);
        }
        byte[] b = Files.readAllBytes(image);
        for (int i = 0; i < patches.length; i += 2) {
            byte[] from = patches[i], to = patches[i + 1];
            if (from.length != to.length) {
                throw new IllegalArgumentException("a patch must keep the length");
            }
            int at = indexOf(b, from, 0);
            if (at < 0 || indexOf(b, from, at + 1) >= 0) {
                throw new IllegalArgumentException(new String(from, StandardCharsets.ISO_8859_1) + " is not once in the image");
            }
            System.arraycopy(to, 0, b, at, to.length);
        }
        fixChecksum(b);
        Files.write(image, b);
        return image;
    }

    public static byte[] bytes(String s) {
        return s.getBytes(StandardCharsets.ISO_8859_1);
    }

    private static int indexOf(byte[] b, byte[] x, int from) {
        outer:
        for (int i = from; i <= b.length - x.length; i++) {
            for (int j = 0; j < x.length; j++) {
                if (b[i + j] != x[j]) {
                    continue outer;
                }
            }
            return i;
        }
        return -1;
    }

    /** The superblock checksum the kernel's way: CRC32C of the rest of block 0 from the superblock on, without the final inversion. */
    public static void fixChecksum(byte[] b) {
        int o = Superblock.OFFSET;
        if ((b[o + 8] & Features.COMPAT_SB_CHKSUM) == 0) {
            return;
        }
        int blksz = 1 << (b[o + 12] & 0xff);
        byte[] copy = Arrays.copyOfRange(b, o, blksz > o ? blksz : o + blksz);
        copy[4] = copy[5] = copy[6] = copy[7] = 0;
        CRC32C crc = new CRC32C();
        crc.update(copy);
        int v = (int) ~crc.getValue();
        for (int i = 0; i < 4; i++) {
            b[o + 4 + i] = (byte) (v >>> (8 * i));
        }
    }
}
