package dev.csierofs.csi;

import dev.csierofs.cas.OwnerOnly;
import dev.csierofs.sys.Signals;
import io.quarkus.runtime.Quarkus;
import io.quarkus.runtime.QuarkusApplication;
import io.quarkus.runtime.annotations.QuarkusMain;
import jakarta.inject.Inject;

import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * {@code csi-driver-erofs serve}: the CSI node plugin. Listener settings are read when Quarkus
 * starts, so the command line is turned into configuration here, before it starts: options
 * become system properties, which win over the environment and application.properties.
 */
@QuarkusMain
public class PluginMain implements QuarkusApplication {
    static final String USAGE = """
            Usage: csi-driver-erofs serve [OPTIONS]
            Serves the CSI Identity and Node services on a unix socket, metrics and health on a TCP port.
              --endpoint unix:///PATH   the socket kubelet connects to (env CSI_ENDPOINT; default unix:///csi/csi.sock)
              --node-id NAME            this node's name, required (env CSI_NODE_ID)
              --driver-name NAME        the CSI driver name (env CSI_DRIVER_NAME; default erofs.csierofs.dev)
              --state-dir DIR           volume state, content store, layers (env CSI_STATE_DIR; default /var/lib/csi-driver-erofs)
              --image-root DIR          where volumes' local images are (env CSI_IMAGE_ROOT; default /var/lib/csi-driver-erofs/images)
              --kubelet-dir DIR         publish and unpublish only targets under this directory, e.g. /var/lib/kubelet
                                        (env CSI_KUBELET_DIR; default: anywhere)
              --unmount-grace DURATION  how long an image mount no volume uses stays (env CSI_UNMOUNT_GRACE; default 5m)
              --store-budget SIZE       disk the content store may use, e.g. 50G (env CSI_STORE_BUDGET; default 10G)
              --page-cache SIZE         memory of the daemon's own page cache, for files that cannot pass through
                                        (env CSI_PAGE_CACHE; default 256M)
              --blob-budget SIZE        disk downloaded https:// images may use beyond those in use (env CSI_BLOB_BUDGET; default 20G)
              --ca-file PEM             CA certificates trusted for https:// images besides the JVM's own (env CSI_CA_FILE)
              --metrics-port PORT       /q/metrics and /q/health (env CSI_METRICS_PORT; default 9808)
              --writable-requests MODE  publishes asking for readonly=false: refuse (INVALID_ARGUMENT), or read-only
                                        (publish read-only anyway, for conformance tools such as csi-sanity that
                                        cannot ask for read-only) (env CSI_WRITABLE_REQUESTS; default refuse)
              -h, --help                this text
            """;
    /** CSI: at most 63 characters, starting and ending alphanumeric, with dashes, dots and alphanumerics between. */
    private static final Pattern DRIVER_NAME = Pattern.compile("[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?");
    private static final Map<String, String> OPTIONS = Map.ofEntries(
            Map.entry("--node-id", "csi.node-id"),
            Map.entry("--driver-name", "csi.driver-name"),
            Map.entry("--state-dir", "csi.state-dir"),
            Map.entry("--image-root", "csi.image-root"),
            Map.entry("--kubelet-dir", "csi.kubelet-dir"),
            Map.entry("--unmount-grace", "csi.unmount-grace"),
            Map.entry("--store-budget", "csi.store-budget"),
            Map.entry("--page-cache", "csi.page-cache"),
            Map.entry("--blob-budget", "csi.blob-budget"),
            Map.entry("--ca-file", "csi.ca-file"),
            Map.entry("--metrics-port", "quarkus.management.port"),
            Map.entry("--writable-requests", "csi.writable-requests"));
    /** Held for the life of the process: a second plugin on the same socket would take it over. */
    private static HeldLock socketLock;
    /** Held for the life of the process: two plugins must not share one state directory (store, mounts, volume records). */
    private static HeldLock stateLock;

    @Inject
    PluginConfig config;

    /** A command line the plugin refuses, with the message to print. */
    static final class UsageException extends Exception {
        UsageException(String message) {
            super(message);
        }
    }

    public static void main(String... args) {
        Map<String, String> props;
        try {
            props = properties(args, System.getenv());
        } catch (UsageException e) {
            System.err.println("csi-driver-erofs serve: " + e.getMessage());
            System.err.print(USAGE);
            System.exit(2);
            return;
        }
        if (props == null) {
            System.out.print(USAGE);
            return;
        }
        // a start refused here leaves nothing behind: the port is checked before anything is made,
        // and what the socket's and the state directory's locks made is taken back
        try {
            checkMetricsPort(Integer.parseInt(props.getOrDefault("quarkus.management.port", "9808")),
                    System.getenv().getOrDefault("QUARKUS_MANAGEMENT_HOST", "0.0.0.0"));
            Path socket = Path.of(props.get("quarkus.http.domain-socket"));
            prepareSocket(socket);
            lockStateDir(Path.of(props.getOrDefault("csi.state-dir", System.getenv().getOrDefault("CSI_STATE_DIR",
                    "/var/lib/csi-driver-erofs"))));
        } catch (IOException | IllegalStateException e) {
            releaseLocks();
            System.err.println("csi-driver-erofs serve: " + e.getMessage());
            System.exit(1);
            return;
        }
        props.forEach(System::setProperty);
        // after Quarkus has stopped (every image mount ended): the lock files go, then the process
        Quarkus.run(PluginMain.class, (code, failure) -> {
            releaseLocks();
            System.exit(code);
        }, args);
    }

    /** Lets both locks go, deleting their files (and the directories made for them, if empty). */
    static void releaseLocks() {
        if (stateLock != null) {
            stateLock.release();
            stateLock = null;
        }
        if (socketLock != null) {
            socketLock.release();
            socketLock = null;
        }
    }

    /**
     * The configuration a command line asks for; null for --help. The endpoint comes from
     * --endpoint, else CSI_ENDPOINT, else the default; other options only when given (the
     * environment reaches them through Quarkus's own mapping).
     */
    static Map<String, String> properties(String[] args, Map<String, String> env) throws UsageException {
        Map<String, String> props = new LinkedHashMap<>();
        String endpoint = env.getOrDefault("CSI_ENDPOINT", "unix:///csi/csi.sock");
        int i = args.length > 0 && args[0].equals("serve") ? 1 : 0;
        for (; i < args.length; i++) {
            String a = args[i];
            if (a.equals("-h") || a.equals("--help")) {
                return null;
            }
            String name = a.contains("=") ? a.substring(0, a.indexOf('=')) : a;
            if (!name.equals("--endpoint") && !OPTIONS.containsKey(name)) {
                throw new UsageException("unknown option " + name);
            }
            String value;
            if (a.contains("=")) {
                value = a.substring(a.indexOf('=') + 1);
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new UsageException(name + " needs a value");
            }
            if (name.equals("--endpoint")) {
                endpoint = value;
            } else {
                props.put(OPTIONS.get(name), value);
            }
        }
        props.put("quarkus.http.domain-socket", socketPath(endpoint).toString());
        if (!props.containsKey("quarkus.management.port") && env.containsKey("CSI_METRICS_PORT")) {
            props.put("quarkus.management.port", env.get("CSI_METRICS_PORT"));
        }
        // checked here, before anything binds, rather than after Quarkus has started
        String nodeId = props.getOrDefault("csi.node-id", env.getOrDefault("CSI_NODE_ID", ""));
        if (nodeId.isBlank()) {
            throw new UsageException("no node id: give --node-id NAME or set CSI_NODE_ID (in Kubernetes, from the pod's spec.nodeName)");
        }
        String driver = props.getOrDefault("csi.driver-name", env.getOrDefault("CSI_DRIVER_NAME", "erofs.csierofs.dev"));
        if (!DRIVER_NAME.matcher(driver).matches()) {
            throw new UsageException("driver name '" + driver + "' is not a valid CSI driver name (lower-case DNS-style, at most 63 "
                    + "characters, e.g. erofs.csierofs.dev)");
        }
        // sizes with suffixes, as `mount --store-budget` takes them, on the command line and in the environment
        size(props, env, "csi.store-budget", "--store-budget", "CSI_STORE_BUDGET");
        size(props, env, "csi.page-cache", "--page-cache", "CSI_PAGE_CACHE");
        size(props, env, "csi.blob-budget", "--blob-budget", "CSI_BLOB_BUDGET");
        String kubeletDir = props.getOrDefault("csi.kubelet-dir", env.getOrDefault("CSI_KUBELET_DIR", ""));
        if (!kubeletDir.isBlank() && !Files.isDirectory(Path.of(kubeletDir))) {
            throw new UsageException("--kubelet-dir " + kubeletDir + " is not a directory: give the kubelet's root directory "
                    + "(--root-dir of kubelet, /var/lib/kubelet by default)");
        }
        String caFile = props.getOrDefault("csi.ca-file", env.getOrDefault("CSI_CA_FILE", ""));
        if (!caFile.isBlank()) { // read now: a bad file is a start-up error, not a failure of every https:// volume
            try {
                dev.csierofs.blobs.HttpsFetcher.trusting(java.util.Optional.of(Path.of(caFile)));
            } catch (IOException | java.nio.file.InvalidPathException e) {
                throw new UsageException(e.getMessage());
            }
        }
        String writable = props.getOrDefault("csi.writable-requests", env.getOrDefault("CSI_WRITABLE_REQUESTS", "refuse"));
        if (!writable.equals("refuse") && !writable.equals("read-only")) {
            throw new UsageException("--writable-requests must be refuse or read-only, got " + writable);
        }
        String port = props.getOrDefault("quarkus.management.port", "9808");
        if (!port.matches("[0-9]{1,5}") || Integer.parseInt(port) > 65535) {
            throw new UsageException("--metrics-port must be a TCP port number, got " + port);
        }
        return props;
    }

    /** A size option (or its environment variable) as bytes: suffixes K, M, G, T accepted in both. */
    private static void size(Map<String, String> props, Map<String, String> env, String key, String option, String variable)
            throws UsageException {
        String given = props.getOrDefault(key, env.get(variable));
        if (given != null) {
            try {
                props.put(key, Long.toString(dev.csierofs.tools.Sizes.parse(given, props.containsKey(key) ? option : variable)));
            } catch (IllegalArgumentException e) {
                throw new UsageException(e.getMessage());
            }
        }
    }

    /** {@code unix:///abs/path} (as kubelet and csi-sanity write it) or a bare absolute path. */
    static Path socketPath(String endpoint) throws UsageException {
        String path = endpoint.startsWith("unix://") ? endpoint.substring("unix://".length()) : endpoint;
        if (!path.startsWith("/")) {
            throw new UsageException("--endpoint must be unix:///ABSOLUTE/PATH, got " + endpoint);
        }
        if (path.getBytes(java.nio.charset.StandardCharsets.UTF_8).length > 107) {
            throw new UsageException("socket path " + path + " is longer than a unix socket address allows (107 bytes)");
        }
        return Path.of(path);
    }

    /** Refuses a state directory another plugin serves from (each would unmount the other's image mounts at start). */
    static void lockStateDir(Path stateDir) throws IOException {
        Path made = firstMissing(stateDir);
        OwnerOnly.directory(stateDir);
        Path lock = stateDir.resolve("plugin.lock");
        stateLock = HeldLock.take(lock, made, "another plugin uses the state directory " + stateDir + " (it holds " + lock
                + "); give each plugin its own --state-dir");
    }

    /** The topmost directory of {@code dir} and its parents that does not exist yet, or null. */
    private static Path firstMissing(Path dir) {
        Path missing = null;
        for (Path p = dir.toAbsolutePath(); p != null && !Files.exists(p, LinkOption.NOFOLLOW_LINKS); p = p.getParent()) {
            missing = p;
        }
        return missing;
    }

    /**
     * A lock file held by this process until {@link #release}, which deletes it (and the
     * directories made for it, if nothing else is in them). Deleting a lock file races with a
     * process that opened it just before: that one would lock the deleted file while a third locks
     * a new one. So whoever takes the lock then checks that the file it holds (seen through
     * /proc/self/fd, which opens nothing: closing any descriptor of the file would drop the
     * lock) is still the one at the path, and tries again if not.
     */
    static final class HeldLock {
        private final Path path;
        private final Path madeDir;
        private final FileChannel channel;

        private HeldLock(Path path, Path madeDir, FileChannel channel) {
            this.path = path;
            this.madeDir = madeDir;
            this.channel = channel;
        }

        /** Takes the lock file {@code lock}; refused with {@code taken} if another process holds it. */
        static HeldLock take(Path lock, Path madeDir, String taken) throws IOException {
            for (int attempt = 0; attempt < 10; attempt++) {
                FileChannel ch = FileChannel.open(lock, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock held;
                try {
                    held = ch.tryLock();
                } catch (java.nio.channels.OverlappingFileLockException sameProcess) {
                    held = null;
                }
                if (held == null) {
                    ch.close();
                    removeIfEmpty(madeDir, lock.getParent());
                    throw new IllegalStateException(taken);
                }
                if (stillAtPath(lock)) {
                    return new HeldLock(lock, madeDir, ch);
                }
                ch.close(); // the file was deleted (and maybe made anew) by its last holder meanwhile
            }
            throw new IllegalStateException(lock + " keeps being replaced; is another plugin starting and stopping there?");
        }

        /** Whether a descriptor of this process for {@code lock} is the file at that path now. */
        private static boolean stillAtPath(Path lock) throws IOException {
            Object atPath;
            try {
                atPath = Files.readAttributes(lock, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            } catch (java.nio.file.NoSuchFileException gone) {
                return false;
            }
            try (var fds = Files.newDirectoryStream(Path.of("/proc/self/fd"))) {
                for (Path fd : fds) {
                    try {
                        if (atPath.equals(Files.readAttributes(fd, BasicFileAttributes.class).fileKey())) {
                            return true;
                        }
                    } catch (IOException closedMeanwhile) {
                        // another thread's descriptor, gone
                    }
                }
            }
            return false;
        }

        /** Deletes the file while still holding it, then lets go. */
        void release() {
            try {
                Files.deleteIfExists(path);
                channel.close();
                removeIfEmpty(madeDir, path.getParent());
            } catch (IOException e) {
                System.err.println("csi-driver-erofs serve: removing " + path + ": " + e.getMessage());
            }
        }

        /** Removes {@code from} and the directories between it and {@code top} (made by this process), if empty. */
        private static void removeIfEmpty(Path top, Path from) {
            if (top == null) {
                return;
            }
            for (Path p = from.toAbsolutePath(); p != null && p.startsWith(top.toAbsolutePath()); p = p.getParent()) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException notEmpty) {
                    return;
                }
            }
        }
    }

    /** Says so in one line when the metrics port is taken, rather than in Quarkus's start-up stack trace. */
    static void checkMetricsPort(int port, String host) throws IOException {
        if (port == 0) {
            return;
        }
        try (var probe = new java.net.ServerSocket()) {
            probe.setReuseAddress(true);
            probe.bind(new java.net.InetSocketAddress(host, port));
        } catch (java.net.BindException e) {
            throw new IOException("the metrics port " + host + ":" + port + " is in use (" + e.getMessage()
                    + "); choose another with --metrics-port or CSI_METRICS_PORT");
        }
    }

    /**
     * Vert.x unlinks whatever is at the socket path and fails when the directory is missing: create
     * the directory, refuse anything but a (stale) socket there, and hold a lock so that a second
     * plugin does not take a live socket over.
     */
    static void prepareSocket(Path socket) throws IOException {
        Path dir = socket.toAbsolutePath().getParent();
        Path made = firstMissing(dir);
        Files.createDirectories(dir);
        if (Files.exists(socket, LinkOption.NOFOLLOW_LINKS)) {
            BasicFileAttributes a = Files.readAttributes(socket, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
            if (!a.isOther()) {
                throw new IllegalStateException(socket + " exists and is not a socket; not replacing it");
            }
        }
        Path lock = dir.resolve(socket.getFileName() + ".lock");
        socketLock = HeldLock.take(lock, made, "another plugin is serving " + socket + " (it holds " + lock + ")");
    }

    @Override
    public int run(String... args) {
        if (config.nodeId().isEmpty()) {
            System.err.println("csi-driver-erofs serve: no node id: give --node-id NAME or set CSI_NODE_ID "
                    + "(in Kubernetes, from the pod's spec.nodeName)");
            return 2;
        }
        if (!DRIVER_NAME.matcher(config.driverName()).matches()) {
            System.err.println("csi-driver-erofs serve: driver name '" + config.driverName() + "' is not a valid CSI "
                    + "driver name (lower-case DNS-style, at most 63 characters, e.g. erofs.csierofs.dev)");
            return 2;
        }
        // SIGTERM is how kubelet stops a DaemonSet pod: an orderly stop that exits 0, where the JVM's
        // default handling would exit 143
        Signals.handle("TERM", () -> Quarkus.asyncExit(0));
        Quarkus.waitForExit();
        return 0;
    }
}
