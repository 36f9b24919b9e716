package dev.csierofs.cli;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.fs.ErofsFilesystem;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

@Command(name = "mount", mixinStandardHelpOptions = true, description = "Serve an image read-only at DIR through our FUSE "
        + "daemon, in the foreground, until DIR is unmounted (umount DIR, or csi-driver-erofs umount DIR) or the "
        + "process gets SIGINT/SIGTERM, which unmount it.")
public class MountCommand implements Callable<Integer> {
    @Mixin
    ImageOptions img;

    @Parameters(index = "1", paramLabel = "DIR", description = "an existing empty directory to mount on")
    Path dir;

    @Option(names = "--threads", paramLabel = "N", description = "threads reading FUSE requests (default: 2 per core)")
    int threads = 2 * Runtime.getRuntime().availableProcessors();

    @Override
    public Integer call() throws Exception {
        try (ErofsImage image = img.open()) {
            FuseSession session = FuseSession.mount(new ErofsFilesystem(image), dir, "erofs",
                    img.image.toAbsolutePath().toString(), threads, InitNegotiation.Options.defaults());
            Thread unmountOnSignal = new Thread(() -> {
                try {
                    session.close();
                } catch (Exception e) {
                    System.err.println("csi-driver-erofs: unmounting " + dir + " failed: " + CliErrors.describe(e));
                }
            }, "unmount-on-exit");
            Runtime.getRuntime().addShutdownHook(unmountOnSignal);
            System.err.printf("mounted %s at %s (kernel offers passthrough: %s); SIGINT or SIGTERM unmounts%n",
                    img.image, dir, session.passthrough() ? "yes" : "no");
            while (!session.awaitStop(1, TimeUnit.HOURS)) {
                // serve until the mount goes away
            }
            try {
                Runtime.getRuntime().removeShutdownHook(unmountOnSignal);
            } catch (IllegalStateException shuttingDown) {
                // the hook is already running: it unmounts
            }
            session.close();
            System.err.println("unmounted " + dir);
        }
        return 0;
    }
}
