package dev.csierofs.bench;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.TreeWalker;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Reads every regular file of each image repeatedly in one JVM and prints decoded MB/s, after
 * a warm-up pass. Not a test: run by bench/extract.sh. Each image is read until at least
 * 200 MB have been decoded or 3 passes, whichever is more.
 */
public final class DecodeThroughput {
    public static void main(String[] args) throws Exception {
        System.out.printf("%-28s %-10s %10s %8s %10s%n", "image", "algorithm", "MB/pass", "passes", "MB/s");
        for (String a : args) {
            Path p = Path.of(a);
            try (ErofsImage img = ErofsImage.open(p)) {
                List<Inode> files = new ArrayList<>();
                new TreeWalker(img).walk((path, ino) -> {
                    if (ino.isRegular()) {
                        files.add(ino);
                    }
                });
                long bytes = pass(img, files); // warm-up
                int passes = (int) Math.max(3, (200L << 20) / Math.max(1, bytes));
                long t0 = System.nanoTime();
                for (int i = 0; i < passes; i++) {
                    pass(img, files);
                }
                double s = (System.nanoTime() - t0) / 1e9;
                System.out.printf("%-28s %-10s %10.1f %8d %10.0f%n", p.getParent().getFileName() + "/" + p.getFileName(), algorithm(img), bytes / 1e6, passes, bytes * passes / 1e6 / s);
            }
        }
    }

    private static String algorithm(ErofsImage img) {
        var sb = img.superblock();
        if ((sb.featureIncompat() & 0x2) == 0) {
            return (sb.featureIncompat() & 0x1) != 0 ? "lz4" : "none/lz4";
        }
        String[] n = {"lz4", "lzma", "deflate", "zstd"};
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 4; i++) {
            if ((sb.availableComprAlgs() & (1 << i)) != 0) {
                s.append(s.isEmpty() ? "" : "+").append(n[i]);
            }
        }
        return s.toString();
    }

    private static long pass(ErofsImage img, List<Inode> files) throws Exception {
        byte[] buf = new byte[1 << 17];
        long total = 0;
        for (Inode f : files) {
            FileData d = img.openData(f);
            long pos = 0;
            while (pos < f.size()) {
                int n = d.read(pos, buf, 0, buf.length);
                if (n <= 0) {
                    break;
                }
                pos += n;
            }
            total += pos;
        }
        return total;
    }
}
