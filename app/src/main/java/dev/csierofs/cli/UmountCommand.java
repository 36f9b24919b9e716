package dev.csierofs.cli;

import dev.csierofs.sys.FuseMount;
import picocli.CommandLine.Command;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.Callable;

@Command(name = "umount", mixinStandardHelpOptions = true, description = "Unmount an image mounted with 'mount' (lazily: "
        + "files still open keep working until closed); its mount process then exits.")
public class UmountCommand implements Callable<Integer> {
    @Parameters(index = "0", paramLabel = "DIR", description = "the mount point")
    Path dir;

    @Override
    public Integer call() throws Exception {
        if (java.nio.file.Files.notExists(dir)) { // said here, rather than as the mount(2) helper's refusal
            throw new IOException(dir + ": no such directory");
        }
        if (!FuseMount.detach(dir, "erofs")) {
            throw new IOException(dir + " has no csi-driver-erofs mount (see /proc/self/mountinfo for what is mounted there)");
        }
        return 0;
    }
}
