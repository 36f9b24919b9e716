package dev.csierofs.bench;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.tools.Extractor;

import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Extracts an image RUNS times in one JVM and prints each run's time, so bench/extract.sh can
 * separate the cost of JVM start-up and warm-up (first run) from steady-state extraction.
 * Not a test. Arguments: IMAGE OUTDIR RUNS.
 */
public final class ExtractLoop {
    public static void main(String[] args) throws Exception {
        Path image = Path.of(args[0]);
        Path outDir = Path.of(args[1]);
        int runs = Integer.parseInt(args[2]);
        for (int i = 0; i < runs; i++) {
            Path out = outDir.resolve("loop-" + i);
            long t0 = System.nanoTime();
            try (ErofsImage img = ErofsImage.open(image)) {
                new Extractor(img, out, null).extract();
            }
            System.out.printf("%.3f%n", (System.nanoTime() - t0) / 1e9);
            new ProcessBuilder("rm", "-rf", out.toString()).inheritIO().start().waitFor();
        }
    }
}
