package dev.csierofs.cli;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.fs.ContentSharing;
import dev.csierofs.fs.ImageFilesystem;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import dev.csierofs.sys.Errno;
import dev.csierofs.sys.FuseDevice;
import dev.csierofs.sys.Libc;
import dev.csierofs.sys.Mounts;
import dev.csierofs.sys.Signals;
import dev.csierofs.sys.SyscallException;
import dev.csierofs.tools.Sizes;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;

@Command(name = "mount", mixinStandardHelpOptions = true, description = {
        "Serve images read-only through our FUSE daemon, one process for all of them, in the foreground, until every DIR is "
                + "unmounted (umount DIR, or csi-driver-erofs umount DIR) or the process gets SIGINT/SIGTERM, which unmount them.",
        "Files with the same content share one copy of page cache across all mounts (and across runs) through a content "
                + "store on disk and FUSE passthrough; where passthrough is unavailable they are served from a page cache in "
                + "the daemon, shared by all its mounts."})
public class MountCommand implements Callable<Integer> {
    @Spec
    CommandSpec spec;

    @Parameters(arity = "1..*", paramLabel = "IMAGE DIR", description = "an EROFS image file and the existing empty directory "
            + "to mount it on (see --nonempty); repeat the pair to serve several images from this one process. IMAGE may be a comma-separated "
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

    @Option(names = "--nonempty", description = "allow a DIR that is not empty: the mount hides its content until "
            + "unmounted (by default such a DIR is refused)")
    boolean nonEmpty;

    private record Served(String image, Path dir, FuseSession session) {
    }

    /** One IMAGE DIR pair, checked before anything is mounted. */
    private record Pair(String image, List<Path> layers, Path dir) {
    }

    private final List<Served> served = new ArrayList<>();
    private final Map<Path, ErofsImage> opened = new LinkedHashMap<>();
    private ContentSharing sharing;
    /** Set by SIGINT/SIGTERM; guarded by this. */
    private boolean stopRequested;
    /** Whether every mount is up (a stop asked for earlier waits until then); guarded by this. */
    private boolean serving;
    /** The thread unmounting after a signal, once started; guarded by this. */
    private Thread stopper;

    @Override
    public Integer call() throws Exception {
        if (pairs.size() % 2 != 0) {
            throw usage("expected IMAGE DIR pairs, but IMAGE " + pairs.getLast() + " has no DIR to mount it on");
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
        // everything that can be refused is refused before the first mount: no "mounted" line, then an error
        List<Pair> checked = checkPairs(count);
        // SIGINT and SIGTERM unmount and end the process with 0 (the JVM's default would exit 130 or 143)
        Signals.handle("INT", this::requestStop);
        Signals.handle("TERM", this::requestStop);
        ContentSharing.Options options = new ContentSharing.Options(!noPassthrough, limit, cache);
        Path storeDir = store != null ? store : defaultStore();
        List<String> report = new ArrayList<>();
        try {
            List<ImageFilesystem> filesystems = new ArrayList<>();
            List<String> sources = new ArrayList<>();
            for (Pair pair : checked) {
                List<ErofsImage> images = new ArrayList<>();
                List<String> keys = new ArrayList<>();
                for (Path layer : pair.layers()) {
                    images.add(open(layer));
                    keys.add(ContentSharing.fileKey(layer));
                }
                if (sharing == null) {
                    sharing = ContentSharing.withStore(storeDir, budget, options);
                }
                filesystems.add(ImageFilesystem.of(images, sharing, keys));
                // the mount table shows the layers lowest first, joined by colons (its source field takes no commas)
                sources.add(String.join(":", pair.layers().stream().map(p -> p.toAbsolutePath().toString()).toList()));
            }
            for (int i = 0; i < checked.size(); i++) {
                Pair pair = checked.get(i);
                FuseSession session;
                try {
                    session = FuseSession.mount(filesystems.get(i), pair.dir(), "erofs", sources.get(i), perMount,
                            InitNegotiation.Options.defaults());
                } catch (SyscallException e) {
                    if (e.call().equals("open") && e.subject().equals(FuseDevice.PATH)
                            && (e.errno() == Errno.EACCES || e.errno() == Errno.EPERM)) {
                        throw new IOException("cannot open " + FuseDevice.PATH + " (" + Libc.strerror(e.errno())
                                + "): mount needs root, or CAP_SYS_ADMIN and read-write access to " + FuseDevice.PATH, e);
                    }
                    throw e;
                }
                served.add(new Served(pair.image(), pair.dir(), session));
                report.add(String.format("mounted %s at %s; regular files: %s", pair.layers().size() == 1 ? pair.image()
                        : pair.layers().size() + " layers " + pair.image(), pair.dir(), filesystems.get(i).mode()));
            }
        } catch (Exception e) {
            stopAll(Duration.ZERO, false); // nothing half-done: what was mounted goes again
            for (ErofsImage image : opened.values()) {
                image.close();
            }
            if (sharing != null) {
                sharing.close();
            }
            throw e;
        }
        // any other way the JVM ends (SIGHUP, a fatal error) still unmounts
        Thread unmountOnExit = new Thread(() -> {
            stopAll(Duration.ofSeconds(graceSeconds), true);
            finish();
        }, "unmount-on-exit");
        Runtime.getRuntime().addShutdownHook(unmountOnExit);
        report.forEach(System.err::println);
        System.err.println("SIGINT or SIGTERM unmounts");
        synchronized (this) {
            serving = true;
            if (stopRequested) {
                startStopper();
            }
        }
        for (Served s : served) {
            while (!s.session().awaitStop(1, TimeUnit.HOURS)) {
                // serve until each mount goes away
            }
        }
        try {
            Runtime.getRuntime().removeShutdownHook(unmountOnExit);
        } catch (IllegalStateException shuttingDown) {
            unmountOnExit.join(); // the hook unmounts and reports
            return 0;
        }
        Thread signalled;
        synchronized (this) {
            serving = false; // a signal from now on changes nothing
            signalled = stopper;
        }
        if (signalled != null) {
            signalled.join(); // it reports each mount as it goes
        } else {
            stopAll(Duration.ZERO, false); // all unmounted from outside (umount DIR)
            for (Served s : served) {
                System.err.println("unmounted " + s.dir());
            }
        }
        finish();
        return 0;
    }

    /** On SIGINT/SIGTERM (a JVM signal thread): unmount everything, giving open files the grace period. */
    private synchronized void requestStop() {
        stopRequested = true;
        if (serving && stopper == null) {
            startStopper();
        }
    }

    private void startStopper() {
        stopper = Thread.ofPlatform().name("unmount-on-signal").start(() -> stopAll(Duration.ofSeconds(graceSeconds), true));
    }

    /**
     * Checks every pair without touching anything: images and devices readable, each DIR an
     * existing directory, empty (unless --nonempty), not given twice and without a mount of ours.
     */
    private List<Pair> checkPairs(int count) throws IOException {
        List<Pair> checked = new ArrayList<>();
        Map<Path, Path> dirs = new HashMap<>();
        List<Mounts.Entry> mounts = Mounts.read();
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
            for (Path layer : layers) {
                ImageOptions.requireFile(layer, "image");
            }
            for (Path d : devices) {
                ImageOptions.requireFile(d, "device");
            }
            if (!Files.exists(dir)) {
                throw new IOException(dir + ": no such directory (create it first: mkdir " + dir + ")");
            }
            if (!Files.isDirectory(dir)) {
                throw new IOException(dir + " is not a directory: mount onto an empty directory");
            }
            Path real = dir.toRealPath();
            Path before = dirs.putIfAbsent(real, dir);
            if (before != null) {
                throw new IOException(dir + " is given twice" + (before.toString().equals(dir.toString()) ? "" : " (also as " + before + ")")
                        + ": each IMAGE needs a directory of its own");
            }
            for (Mounts.Entry e : mounts) {
                if (e.mountPoint().equals(real.toString()) && e.fsType().equals("fuse.erofs")) {
                    throw new IOException(real + " already has a csi-driver-erofs mount of " + e.source()
                            + ": unmount it first (csi-driver-erofs umount " + dir + ") or choose another directory");
                }
            }
            if (!nonEmpty) {
                try (Stream<Path> entries = Files.list(dir)) {
                    Optional<Path> first = entries.findFirst();
                    if (first.isPresent()) {
                        throw new IOException(dir + " is not empty (it holds " + first.get().getFileName()
                                + "), and mounting would hide its content: use an empty directory, or --nonempty to mount over it");
                    }
                }
            }
            checked.add(new Pair(image, layers, dir));
        }
        return checked;
    }

    /** The image at {@code file}: opened once per file for all the mounts and stacks of this process. */
    private ErofsImage open(Path file) throws IOException {
        Path real = file.toRealPath();
        ErofsImage shared = opened.get(real);
        if (shared == null) {
            shared = ImageOptions.open(file, devices, true);
            opened.put(real, shared);
        }
        return shared;
    }

    private ParameterException usage(String message) {
        return new ParameterException(spec.commandLine(), message);
    }

    /** Detaches every mount at once, then gives files still open up to {@code grace} (all mounts in parallel). */
    private void stopAll(Duration grace, boolean report) {
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
                        .map(e -> e.getKey() + " " + e.getValue()).collect(Collectors.joining(", ")));
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
        if (Libc.geteuid() == 0) {
            return Path.of("/var/cache/csi-driver-erofs/store");
        }
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("csi-driver-erofs/store");
    }
}
