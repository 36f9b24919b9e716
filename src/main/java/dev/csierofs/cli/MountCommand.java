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

    @Option(names = "--grace", paramLabel = "SECONDS", description = "on SIGINT/SIGTERM, how long files still open "
            + "on the mount may go on being read after it is detached; then they fail with ENOTCONN (default: ${DEFAULT-VALUE})")
    int graceSeconds = 10;

    @Option(names = "--stats", description = "print how many FUSE requests of each kind were served, at exit")
    boolean stats;

    @Override
    public Integer call() throws Exception {
        if (graceSeconds < 0) {
            throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "--grace must be 0 or more seconds");
        }
        try (ErofsImage image = img.open()) {
            FuseSession session = FuseSession.mount(new ErofsFilesystem(image), dir, "erofs",
                    img.image.toAbsolutePath().toString(), threads, InitNegotiation.Options.defaults());
            Thread unmountOnSignal = new Thread(() -> unmountOnSignal(session), "unmount-on-exit");
            Runtime.getRuntime().addShutdownHook(unmountOnSignal);
            System.err.printf("mounted %s at %s (kernel offers passthrough: %s); SIGINT or SIGTERM unmounts%n",
                    img.image, dir, session.passthrough() ? "yes" : "no");
            while (!session.awaitStop(1, TimeUnit.HOURS)) {
                // serve until the mount goes away
            }
            try {
                Runtime.getRuntime().removeShutdownHook(unmountOnSignal);
            } catch (IllegalStateException shuttingDown) {
                unmountOnSignal.join(); // a signal: the hook unmounts and reports
                return 0;
            }
            session.close(); // unmounted from outside (umount DIR)
            printStats(session);
            System.err.println("unmounted " + dir);
        }
        return 0;
    }

    private void printStats(FuseSession session) {
        if (stats) {
            System.err.println("requests served: " + session.requestCounts().entrySet().stream()
                    .map(e -> e.getKey() + " " + e.getValue()).collect(java.util.stream.Collectors.joining(", ")));
        }
    }

    /** Detaches at once; files still open get the grace period, then the connection is ended. */
    private void unmountOnSignal(FuseSession session) {
        try {
            int open = session.openHandles();
            if (open > 0) {
                System.err.printf("csi-driver-erofs: detached %s; %d open file(s) there may be read for up to %d s more%n",
                        dir, open, graceSeconds);
            }
            int cutOff = session.stop(java.time.Duration.ofSeconds(graceSeconds));
            printStats(session);
            if (cutOff > 0) {
                System.err.printf("csi-driver-erofs: ended the FUSE connection of %s with %d file(s) still open; "
                        + "their reads now fail with ENOTCONN%n", dir, cutOff);
            } else {
                System.err.println("unmounted " + dir);
            }
        } catch (Exception e) {
            System.err.println("csi-driver-erofs: unmounting " + dir + " failed: " + CliErrors.describe(e));
        }
    }
}
