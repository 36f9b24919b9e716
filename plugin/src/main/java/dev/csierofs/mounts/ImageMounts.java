package dev.csierofs.mounts;

import dev.csierofs.cas.Digest;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.fs.ContentSharing;
import dev.csierofs.fs.ErofsFilesystem;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import dev.csierofs.volumes.InvalidVolumeException;
import dev.csierofs.volumes.VolumeSource;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.logging.Logger;

/**
 * One FUSE mount per distinct image on the node, shared by every volume that shows it (volumes
 * are bind mounts of it), counted by reference and unmounted when the last volume goes.
 */
public final class ImageMounts implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(ImageMounts.class.getName());

    private final Path dir;
    private final ContentSharing sharing;
    private final Duration grace;
    private final java.util.concurrent.ScheduledExecutorService reaper = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "image-mount-reaper");
        t.setDaemon(true);
        return t;
    });
    private final Map<String, Mounted> byKey = new HashMap<>(); // guarded by this
    /** Makes each mount point unique, so that two publishers racing for one image never share one. */
    private final java.util.concurrent.atomic.AtomicLong generation = new java.util.concurrent.atomic.AtomicLong();
    /** Digests of local image files already checked, by (path, size, mtime): hashing is done once. */
    private final Map<String, Digest> checked = new java.util.concurrent.ConcurrentHashMap<>();

    /** A mounted image and how many volumes use it. */
    public static final class Mounted {
        final String key;
        final Path path;
        final ErofsImage image;
        final FuseSession session;
        int refs;
        /** The pending unmount of an unused mount; cancelled when a volume takes it again. */
        java.util.concurrent.ScheduledFuture<?> unmount;

        Mounted(String key, Path path, ErofsImage image, FuseSession session) {
            this.key = key;
            this.path = path;
            this.image = image;
            this.session = session;
        }

        /** Where the image is mounted (the source of the volumes' bind mounts). */
        public Path path() {
            return path;
        }

        public String key() {
            return key;
        }

        public ErofsImage image() {
            return image;
        }
    }

    /**
     * {@code grace}: how long a mount no volume uses stays, so that a pod restarted or rescheduled
     * onto the node finds its image mounted (and its files' kernel state) still there.
     */
    public ImageMounts(Path dir, ContentSharing sharing, Duration grace) throws IOException {
        this.dir = Files.createDirectories(dir).toRealPath();
        this.sharing = sharing;
        this.grace = grace;
        clearStale();
    }

    /**
     * Mounts found under the directory at start belong to an earlier plugin process: their FUSE
     * connections ended with it (even a stat of them fails), so they are detached and their
     * directories removed; volumes still bound to them are published again by the recovery.
     */
    private void clearStale() throws IOException {
        String prefix = dir + "/";
        for (dev.csierofs.sys.Mounts.Entry e : dev.csierofs.sys.Mounts.read()) {
            if (e.mountPoint().startsWith(prefix)) {
                dev.csierofs.sys.Libc.umount2(e.mountPoint(), dev.csierofs.sys.Libc.MNT_DETACH);
            }
        }
        try (var left = Files.list(dir)) {
            for (Path p : left.toList()) {
                try {
                    Files.deleteIfExists(p);
                } catch (IOException notEmpty) {
                    LOG.warning("leaving " + p + " in place: " + notEmpty.getMessage());
                }
            }
        }
    }

    /** The node-wide key of a layer: its file and devices (a file's content is what it is now). */
    public static String key(VolumeSource.Layer layer) {
        return layer.file() + (layer.devices().isEmpty() ? "" : "+" + layer.devices());
    }

    /**
     * The mount of {@code layer}, made if needed, with one more reference. A digest given in the
     * volume context is checked against the file first (once per file version).
     */
    public Mounted acquire(VolumeSource.Layer layer) throws IOException, InvalidVolumeException {
        if (layer.digest().isPresent()) {
            // outside the lock: hashing a large image must not hold up other volumes' publishes
            Digest actual = digestOf(layer.file());
            if (!actual.equals(layer.digest().get())) {
                throw new InvalidVolumeException("'digest': " + layer.file() + " is " + actual + ", not " + layer.digest().get());
            }
        }
        String key = key(layer);
        Mounted m = take(key);
        if (m != null) {
            return m;
        }
        Mounted made = mount(key, layer); // outside the lock as well; two racing publishers may both mount
        synchronized (this) {
            m = take(key);
            if (m == null) {
                made.refs = 1;
                byKey.put(key, made);
                return made;
            }
        }
        discard(made); // another publisher mounted it first: use theirs
        return m;
    }

    /** The existing mount of {@code key} with one more reference (and its pending unmount cancelled), or null. */
    private synchronized Mounted take(String key) {
        Mounted m = byKey.get(key);
        if (m == null) {
            return null;
        }
        if (m.unmount != null) {
            m.unmount.cancel(false);
            m.unmount = null;
        }
        m.refs++;
        return m;
    }

    private void discard(Mounted m) {
        try {
            m.session.stop(Duration.ZERO);
            m.image.close();
        } catch (IOException e) {
            LOG.warning("unmounting the spare mount " + m.path + ": " + e.getMessage());
        }
    }

    private Mounted mount(String key, VolumeSource.Layer layer) throws IOException {
        Path at = dir.resolve(Digest.of(Digest.sha256().digest(key.getBytes(java.nio.charset.StandardCharsets.UTF_8))).hex()
                .substring(0, 16) + "-" + generation.incrementAndGet());
        // a mount left by an earlier plugin process: its connection ended with that process, and
        // even a stat of its mount point fails (ENOTCONN) until it is detached
        while (!dev.csierofs.sys.Mounts.at(at.toString()).isEmpty()) {
            dev.csierofs.sys.Libc.umount2(at.toString(), dev.csierofs.sys.Libc.MNT_DETACH);
        }
        Files.createDirectories(at);
        ErofsImage image = ErofsImage.open(layer.file(), layer.devices());
        try {
            ErofsFilesystem fs = new ErofsFilesystem(image, sharing, ContentSharing.fileKey(layer.file()));
            FuseSession session = FuseSession.mount(fs, at, "erofs", layer.file().toString(), 2, InitNegotiation.Options.defaults());
            LOG.info("mounted " + layer.file() + " at " + at + "; regular files: " + fs.mode());
            return new Mounted(key, at, image, session);
        } catch (IOException | RuntimeException e) {
            image.close();
            throw e;
        }
    }

    /** One volume less; after the last one the image is unmounted once the grace period passes unused. */
    public synchronized void release(String key) {
        Mounted m = byKey.get(key);
        if (m == null || --m.refs > 0) {
            return;
        }
        if (grace.isZero()) {
            unmount(m);
        } else {
            m.unmount = reaper.schedule(() -> unmountIfUnused(key), grace.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }

    private synchronized void unmountIfUnused(String key) {
        Mounted m = byKey.get(key);
        if (m != null && m.refs == 0) {
            unmount(m);
        }
    }

    private void unmount(Mounted m) {
        byKey.remove(m.key);
        try {
            m.session.stop(Duration.ofSeconds(5));
            m.image.close();
            Files.deleteIfExists(m.path);
            LOG.info("unmounted " + m.path + " (no volume uses it)");
        } catch (IOException e) {
            LOG.warning("unmounting " + m.path + ": " + e.getMessage());
        }
    }

    /** The mount with {@code key}, or null. */
    public synchronized Mounted get(String key) {
        return byKey.get(key);
    }

    /** Mounts in use, for metrics and tests. */
    public synchronized int count() {
        return byKey.size();
    }

    private Digest digestOf(Path file) throws IOException {
        Map<String, Object> a = Files.readAttributes(file, "unix:dev,ino,size,lastModifiedTime");
        String version = file + ":" + a.get("dev") + ":" + a.get("ino") + ":" + a.get("size") + ":" + a.get("lastModifiedTime");
        Digest d = checked.get(version); // a concurrent map: two first publishes of one file may both hash it
        if (d == null) {
            var md = Digest.sha256();
            byte[] buf = new byte[1 << 20];
            try (InputStream in = Files.newInputStream(file)) {
                int n;
                while ((n = in.read(buf)) > 0) {
                    md.update(buf, 0, n);
                }
            }
            d = Digest.of(md.digest());
            checked.put(version, d);
        }
        return d;
    }

    @Override
    public synchronized void close() {
        reaper.shutdownNow();
        for (Mounted m : List.copyOf(byKey.values())) {
            unmount(m);
        }
    }
}
