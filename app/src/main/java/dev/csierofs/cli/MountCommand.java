package dev.csierofs.cli;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.fs.ContentSharing;
import dev.csierofs.fs.ImageFilesystem;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import dev.csierofs.tools.Sizes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;

@Command(name = "mount", mixinStandardHelpOptions = true, description = {
        "Serve images read-only through our FUSE daemon, one process for all of them, in the foreground, until every DIR is "
                + "unmounted (umount DIR, or csi-driver-erofs umount DIR) or the process gets SIGINT/SIGTERM, which unmount them.",
        "Files with the same content share one copy of page cache across all mounts (and across runs) through a content "
                + "store on disk and FUSE passthrough; where passthrough is unavailable they are served from a page cache in "
                + "the daemon, shared by all its mounts."})
public class MountCommand implements Callable<Integer> {
    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Parameters(arity = "2..*", paramLabel = "IMAGE DIR", description = "an EROFS image file and the existing empty directory "
            + "to mount it on; repeat the pair to serve several images from this one process. IMAGE may be a comma-separated "
            + "stack of layers, lowest first (base.erofs,app.erofs), merged as overlayfs would merge them (whiteouts, opaque "
            + "directories) but inside this daemon")
    List<String> pairs = new ArrayList<>();

    @Option(names = "--device", paramLabel = "BLOB",
            description = "extra device of a multi-device image (blob or tar file), repeat in device-table order; only with one IMAGE")
    List<Path> devices = new ArrayList<>();

    @Option(names = "--store", paramLabel = "DIR", description = "content store directory (default: "
            + "/var/cache/csi-driver-erofs/store as root, else $XDG_CACHE_HOME or ~/.cache/csi-driver-erofs/store)")
    Path store;

    @Option(names = "--store-budget", paramLabel = "SIZE", description = "disk space the store may use; least recently used "
            + "files that nothing has open are deleted beyond it; 0 stores nothing (default: ${DEFAULT-VALUE})")
    String storeBudget = "10G";

    @Option(names = "--page-cache", paramLabel = "SIZE", description = "memory for the daemon's own page cache, used where "
            + "files cannot pass through (default: ${DEFAULT-VALUE})")
    String pageCache = "256M";

    @Option(names = "--no-passthrough", description = "serve every file from the daemon (no content store), for comparison "
            + "or where the kernel's passthrough must not be used")
    boolean noPassthrough;

    @Option(names = "--sync-limit", paramLabel = "SIZE", description = "files up to this size are stored during their first "
            + "open; larger ones are stored in the background and pass through from a later open (default: ${DEFAULT-VALUE})")
    String syncLimit = "64M";

    @Option(names = "--threads", paramLabel = "N", description = "FUSE requests one mount serves at once, each on "
            + "its own /dev/fuse fd (default: 2 per core with one mount, 2 with several); the threads come from one pool "
            + "shared by every mount and end when idle")
    Integer threads;

    @Option(names = "--grace", paramLabel = "SECONDS", description = "on SIGINT/SIGTERM, how long files still open "
            + "on the mounts may go on being read after they are detached; then they fail with ENOTCONN (default: ${DEFAULT-VALUE})")
    int graceSeconds = 10;

    @Option(names = "--stats", description = "print, at exit, how many FUSE requests of each kind were served and what sharing did")
    boolean stats;

    private record Served(String image, Path dir, FuseSession session) {
    }

    private final List<Served> served = new ArrayList<>();
    private final Map<Path, ErofsImage> opened = new java.util.LinkedHashMap<>();
    private ContentSharing sharing;

    @Override
    public Integer call() throws Exception {
        if (pairs.size() % 2 != 0) {
            throw usage("expected IMAGE DIR pairs, got an odd number of arguments (" + pairs.size() + ")");
        }
        if (graceSeconds < 0) {
            throw usage("--grace must be 0 or more seconds");
        }
        int count = pairs.size() / 2;
        if (!devices.isEmpty() && count > 1) {
            throw usage("--device applies to a single IMAGE; serve multi-device images one per process");
        }
        long budget;
        long cache;
        long limit;
        try {
            budget = Sizes.parse(storeBudget, "--store-budget");
            cache = Sizes.parse(pageCache, "--page-cache");
            limit = Sizes.parse(syncLimit, "--sync-limit");
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        int perMount = threads != null ? threads : count == 1 ? 2 * Runtime.getRuntime().availableProcessors() : 2;
        if (perMount < 1) {
            throw usage("--threads must be at least 1");
        }
        ContentSharing.Options options = new ContentSharing.Options(!noPassthrough, limit, cache);
        Path storeDir = store != null ? store : defaultStore();
        sharing = ContentSharing.withStore(storeDir, budget, options);
        try {
            for (int i = 0; i < count; i++) {
                String image = pairs.get(2 * i);
                Path dir = Path.of(pairs.get(2 * i + 1));
                List<Path> layers = new ArrayList<>();
                for (String layer : image.split(",", -1)) {
                    if (layer.isBlank()) {
                        throw usage("'" + image + "' has an empty layer; a stack is LOWEST,...,TOP with no empty entries");
                    }
                    layers.add(Path.of(layer));
                }
                if (layers.size() > 1 && !devices.isEmpty()) {
                    throw usage("--device applies to a single IMAGE, not to a stack of layers");
                }
                List<ErofsImage> images = new ArrayList<>();
                List<String> keys = new ArrayList<>();
                for (Path layer : layers) {
                    ImageOptions.requireFile(layer, "image");
                    images.add(open(layer));
                    keys.add(ContentSharing.fileKey(layer));
                }
                for (Path d : devices) {
                    ImageOptions.requireFile(d, "device");
                }
                ImageFilesystem fs = ImageFilesystem.of(images, sharing, keys);
                // the mount table shows the layers lowest first, joined by colons (its source field takes no commas)
                String source = String.join(":", layers.stream().map(p -> p.toAbsolutePath().toString()).toList());
                FuseSession session = FuseSession.mount(fs, dir, "erofs", source, perMount, InitNegotiation.Options.defaults());
                served.add(new Served(image, dir, session));
                System.err.printf("mounted %s at %s; regular files: %s%n", layers.size() == 1 ? image
                        : layers.size() + " layers " + image, dir, fs.mode());
            }
        } catch (Exception e) {
            stopAll(java.time.Duration.ZERO, false); // nothing half-done: what was mounted goes again
            for (ErofsImage image : opened.values()) {
                image.close();
            }
            sharing.close();
            throw e;
        }
        Thread unmountOnSignal = new Thread(() -> {
            stopAll(java.time.Duration.ofSeconds(graceSeconds), true);
            finish();
        }, "unmount-on-exit");
        Runtime.getRuntime().addShutdownHook(unmountOnSignal);
        System.err.println("SIGINT or SIGTERM unmounts");
        for (Served s : served) {
            while (!s.session().awaitStop(1, TimeUnit.HOURS)) {
                // serve until each mount goes away
            }
        }
        try {
            Runtime.getRuntime().removeShutdownHook(unmountOnSignal);
        } catch (IllegalStateException shuttingDown) {
            unmountOnSignal.join(); // a signal: the hook unmounts and reports
            return 0;
        }
        stopAll(java.time.Duration.ZERO, false); // all unmounted from outside (umount DIR)
        for (Served s : served) {
            System.err.println("unmounted " + s.dir());
        }
        finish();
        return 0;
    }

    /** The image at {@code file}: opened once per file for all the mounts and stacks of this process. */
    private ErofsImage open(Path file) throws IOException {
        Path real = file.toRealPath();
        ErofsImage shared = opened.get(real);
        if (shared == null) {
            shared = ErofsImage.open(file, devices);
            opened.put(real, shared);
        }
        return shared;
    }

    private picocli.CommandLine.ParameterException usage(String message) {
        return new picocli.CommandLine.ParameterException(spec.commandLine(), message);
    }

    /** Detaches every mount at once, then gives files still open up to {@code grace} (all mounts in parallel). */
    private void stopAll(java.time.Duration grace, boolean report) {
        List<Thread> stoppers = new ArrayList<>();
        for (Served s : served) {
            int open = s.session().openHandles();
            if (report && open > 0) {
                System.err.printf("csi-driver-erofs: detached %s; %d open file(s) there may be read for up to %d s more%n",
                        s.dir(), open, grace.toSeconds());
            }
            stoppers.add(Thread.ofPlatform().start(() -> {
                try {
                    int cutOff = s.session().stop(grace);
                    if (!report) {
                        return;
                    }
                    if (cutOff > 0) {
                        System.err.printf("csi-driver-erofs: ended the FUSE connection of %s with %d file(s) still open; "
                                + "those served by the daemon now fail with ENOTCONN (passthrough files keep reading)%n", s.dir(), cutOff);
                    } else {
                        System.err.println("unmounted " + s.dir());
                    }
                } catch (Exception e) {
                    System.err.println("csi-driver-erofs: unmounting " + s.dir() + " failed: " + CliErrors.describe(e));
                }
            }));
        }
        for (Thread t : stoppers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Prints the statistics asked for and releases the images and the store. */
    private void finish() {
        if (stats) {
            for (Served s : served) {
                System.err.println("requests served at " + s.dir() + ": " + s.session().requestCounts().entrySet().stream()
                        .map(e -> e.getKey() + " " + e.getValue()).collect(java.util.stream.Collectors.joining(", ")));
            }
            System.err.println("sharing: " + sharing.stats().describe());
        }
        for (ErofsImage image : opened.values()) {
            try {
                image.close();
            } catch (IOException e) {
                // exiting anyway
            }
        }
        sharing.close();
    }

    static Path defaultStore() {
        if (dev.csierofs.sys.Libc.geteuid() == 0) {
            return Path.of("/var/cache/csi-driver-erofs/store");
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("csi-driver-erofs/store");
    }
}
