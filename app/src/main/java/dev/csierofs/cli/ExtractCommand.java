package dev.csierofs.cli;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.tools.Extractor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "extract", mixinStandardHelpOptions = true, description = "Restore an image's tree into DIR (new or empty): content, type, mode, owner, mtime with "
        + "nanoseconds, symlinks, hard links, device nodes, fifos, sockets and xattrs, like fsck.erofs --extract.")
public class ExtractCommand implements Callable<Integer> {
    @Mixin
    ImageOptions img;

    @Parameters(index = "1", paramLabel = "DIR", description = "target directory (created if missing; must be empty)")
    Path dir;

    @Option(names = {"-v", "--verbose"}, description = "print each path as it is extracted")
    boolean verbose;

    @Option(names = "--threads", paramLabel = "N", description = "threads writing file content (default: one per core)")
    int threads = Math.max(2, Runtime.getRuntime().availableProcessors());

    @Override
    public Integer call() throws Exception {
        long t0 = System.nanoTime();
        try (ErofsImage image = img.open()) {
            Extractor x = new Extractor(image, dir, verbose ? System.out::println : null, threads);
            Extractor.Stats s;
            try (Progress p = Progress.start(() -> String.format("extracting: %d files, %d MB", x.filesWritten(), x.bytesWritten() >> 20))) {
                s = x.extract();
            }
            System.err.printf("extracted %d directories, %d files (%d bytes), %d symlinks, %d special files, %d hard links into %s in %.2f s%n",
                    s.directories(), s.files(), s.bytes(), s.symlinks(), s.specials(), s.hardLinks(), dir, (System.nanoTime() - t0) / 1e9);
            s.skipped().forEach((kind, sk) -> System.err.printf("warning: %d path(s) without %s, for example %s%n", sk.count(), kind, sk.example()));
        }
        return 0;
    }
}
