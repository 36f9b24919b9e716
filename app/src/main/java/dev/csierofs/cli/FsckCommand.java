package dev.csierofs.cli;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.tools.Checker;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;

import java.util.concurrent.Callable;

@Command(name = "fsck", mixinStandardHelpOptions = true, description = "Read every inode and every byte of an image, verify the superblock checksum and every "
        + "fingerprint xattr. Exits 1 and prints the path and reason of each problem found.")
public class FsckCommand implements Callable<Integer> {
    @Mixin
    ImageOptions img;

    @Override
    public Integer call() throws Exception {
        try (ErofsImage image = img.open()) {
            Checker c = new Checker(image);
            Checker.Report r;
            try (Progress p = Progress.start(() -> String.format("checking: %d inodes, %d MB", c.inodesRead(), c.bytesRead() >> 20))) {
                r = c.check();
            }
            for (Checker.Problem p : r.problems()) {
                System.out.println(p.path() + ": " + p.reason());
            }
            System.err.printf("%s: %d inodes, %d bytes read, %d fingerprints verified, superblock checksum %s, %d problem(s)%n",
                    img.image, r.inodes(), r.bytes(), r.fingerprints(), r.checksumVerified() ? "verified" : "absent", r.problems().size());
            return r.ok() ? 0 : CliErrors.EXIT_FAILURE;
        }
    }
}
