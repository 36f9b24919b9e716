package dev.csierofs.mounts;

import dev.csierofs.cas.Digest;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.fs.ContentSharing;
import dev.csierofs.fs.ImageFilesystem;
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
 * One FUSE mount per distinct image, or stack of layers, on the node, shared by every volume that
 * shows it (volumes are bind mounts of it), counted by reference and unmounted a grace period
 * after the last volume goes. A stack is merged inside the daemon ({@link OverlayFilesystem}).
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

    /** A mounted image (or stack) and how many volumes use it. */
    public static final class Mounted {
        final String key;
        final Path path;
        final List<ErofsImage> images;
        final FuseSession session;
        int refs;
        /** The pending unmount of an unused mount; cancelled when a volume takes it again. */
        java.util.concurrent.ScheduledFuture<?> unmount;
        /** What to let go of once this mount is stopped (or taken again); guarded by the ImageMounts. */
        final List<Runnable> onStop = new java.util.ArrayList<>();

        Mounted(String key, Path path, List<ErofsImage> images, FuseSession session) {
            this.key = key;
            this.path = path;
            this.images = List.copyOf(images);
            this.session = session;
        }

        /** Where the image is mounted (the source of the volumes' bind mounts). */
        public Path path() {
            return path;
        }

        public String key() {
            return key;
        }

        /** The images, lowest layer first. */
        public List<ErofsImage> images() {
            return images;
        }

        /** Bytes of all layers' filesystems (NodeGetVolumeStats). */
        public long bytes() {
            return images.stream().mapToLong(i -> i.superblock().blocks() * i.superblock().blockSize()).sum();
        }

        /** Inodes of all layers (an upper entry hiding a lower one counts both). */
        public long inodes() {
            return images.stream().mapToLong(i -> i.superblock().inos()).sum();
        }

        private void closeImages() throws IOException {
            IOException failure = null;
            for (ErofsImage i : images) {
                try {
                    i.close();
                } catch (IOException e) {
                    failure = e;
                }
            }
            if (failure != null) {
                throw failure;
            }
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

    /** The node-wide key of a stack: its files and devices, lowest first (a file's content is what it is now). */
    public static String key(List<VolumeSource.Layer> layers) {
        StringBuilder k = new StringBuilder();
        for (VolumeSource.Layer layer : layers) {
            k.append(k.isEmpty() ? "" : "\n").append(layer.file()).append(layer.devices().isEmpty() ? "" : "+" + layer.devices());
        }
        return k.toString();
    }

    /**
     * The mount of {@code layers} (one image, or a stack lowest first; local files), made if
     * needed, with one more reference. Digests given in the volume context are checked against
     * the files first (once per file version).
     */
    public Mounted acquire(List<VolumeSource.Layer> layers) throws IOException, InvalidVolumeException {
        for (VolumeSource.Layer layer : layers) {
            if (layer.digest().isPresent() && layer.url() == null) { // downloaded blobs were checked by the blob store
                // outside the lock: hashing a large image must not hold up other volumes' publishes
                Digest actual = digestOf(layer.file());
                if (!actual.equals(layer.digest().get())) {
                    throw new InvalidVolumeException("'" + (layers.size() == 1 ? VolumeSource.DIGEST : VolumeSource.DIGESTS) + "': "
                            + layer.file() + " is " + actual + ", not " + layer.digest().get());
                }
            }
        }
        String key = key(layers);
        Mounted m = take(key);
        if (m != null) {
            return m;
        }
        Mounted made = mount(key, layers); // outside the lock as well; two racing publishers may both mount
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
        // taken again: the new volume holds what the mount needs, so what the last one held can go
        m.onStop.forEach(Runnable::run);
        m.onStop.clear();
        return m;
    }

    private void discard(Mounted m) {
        try {
            // nothing is open on a spare: once detached its session ends by itself. With no grace
            // the session would be aborted through fusectl by connection number, a number the
            // kernel frees with the detached mount and may already have given to another
            // publisher's new mount (seen: that mount's INIT read failed with ENODEV)
            m.session.stop(Duration.ofSeconds(5));
            m.closeImages();
            Files.deleteIfExists(m.path);
        } catch (IOException e) {
            LOG.warning("unmounting the spare mount " + m.path + ": " + e.getMessage());
        }
    }

    /**
     * What the mount table shows as the source of the mount of {@code layers}: the image's path, or
     * the layers' paths joined by colons, lowest first, when that is short and plain; otherwise
     * (a long stack, a path with a comma or blank, which the mount table cannot take) a digest of
     * the stack's key, so that the source never limits how many layers a stack has. The log line
     * of the mount names every layer.
     */
    static String sourceOf(String key, List<VolumeSource.Layer> layers) {
        String joined = String.join(":", layers.stream().map(l -> l.file().toString()).toList());
        if (joined.length() <= MAX_PLAIN_SOURCE && joined.chars().noneMatch(c -> c == ',' || Character.isWhitespace(c)
                || Character.isISOControl(c) || c > 0x7e)) {
            return joined;
        }
        return (layers.size() == 1 ? "erofs-" : "erofs-stack-") + Digest.of(Digest.sha256().digest(
                key.getBytes(java.nio.charset.StandardCharsets.UTF_8))).hex().substring(0, 32);
    }

    /** Longest source shown as paths (the kernel takes up to a page; mountinfo readers like short lines). */
    private static final int MAX_PLAIN_SOURCE = 1024;

    /** The layer as a volume names it, for messages: its URL, or its path under the image root. */
    private static String named(VolumeSource.Layer layer) {
        return layer.url() != null ? layer.url().toString() : layer.file().toString();
    }

    private Mounted mount(String key, List<VolumeSource.Layer> layers) throws IOException, InvalidVolumeException {
        Path at = dir.resolve(Digest.of(Digest.sha256().digest(key.getBytes(java.nio.charset.StandardCharsets.UTF_8))).hex()
                .substring(0, 16) + "-" + generation.incrementAndGet());
        // a mount left by an earlier plugin process: its connection ended with that process, and
        // even a stat of its mount point fails (ENOTCONN) until it is detached
        while (!dev.csierofs.sys.Mounts.at(at.toString()).isEmpty()) {
            dev.csierofs.sys.Libc.umount2(at.toString(), dev.csierofs.sys.Libc.MNT_DETACH);
        }
        Files.createDirectories(at);
        List<ErofsImage> images = new java.util.ArrayList<>();
        try {
            List<String> keys = new java.util.ArrayList<>();
            for (VolumeSource.Layer layer : layers) {
                try {
                    images.add(ErofsImage.open(layer.file(), layer.devices()));
                } catch (dev.csierofs.erofs.ErofsException e) {
                    // the image's own content (or it is no image at all): the volume names a wrong file
                    throw new InvalidVolumeException("'" + (layers.size() == 1 ? VolumeSource.IMAGE : VolumeSource.LAYERS) + "': "
                            + named(layer) + " is not a usable EROFS image (" + e.getMessage() + "); give an image made by mkfs.erofs");
                }
                // a downloaded blob is named by its digest: the same name for every mount of it and across
                // restarts (its file's mtime changes with use), so its per-file digests are kept
                keys.add(layer.url() != null && layer.digest().isPresent() ? "blob:" + layer.digest().get().hex()
                        : ContentSharing.fileKey(layer.file()));
            }
            ImageFilesystem fs;
            try {
                fs = ImageFilesystem.of(images, sharing, keys);
            } catch (dev.csierofs.erofs.ErofsException e) {
                throw new InvalidVolumeException("'" + (layers.size() == 1 ? VolumeSource.IMAGE : VolumeSource.LAYERS) + "': "
                        + "the images cannot be served (" + e.getMessage() + "); give images made by mkfs.erofs");
            }
            String source = sourceOf(key, layers);
            // one mount serves every pod of this image: as many requests at once as cores (the
            // workers come from one pool and only join while requests are slow, so an idle or
            // quiet mount costs no thread)
            int workers = Math.max(2, Runtime.getRuntime().availableProcessors());
            FuseSession session = FuseSession.mount(fs, at, "erofs", source, workers, InitNegotiation.Options.defaults());
            LOG.info("mounted " + (layers.size() == 1 ? layers.get(0).file() : layers.size() + " layers " + String.join(":",
                    layers.stream().map(l -> l.file().toString()).toList())) + (source.startsWith("erofs-") ? " (source " + source + ")"
                    : "") + " at " + at
                    + "; regular files: " + fs.mode());
            return new Mounted(key, at, images, session);
        } catch (IOException | InvalidVolumeException | RuntimeException e) {
            for (ErofsImage i : images) {
                i.close();
            }
            Files.deleteIfExists(at);
            throw e;
        }
    }

    /** One volume less; after the last one the image is unmounted once the grace period passes unused. */
    public void release(String key) {
        release(key, () -> { });
    }

    /**
     * One volume less, and {@code whenUnused} (letting go of what the volume held for the mount,
     * such as its downloaded blobs) run once the mount no longer needs it: at once if other volumes
     * still use the mount (they hold the same), else when it is unmounted, or when a volume takes
     * it again within the grace period (that volume holds its own).
     */
    public void release(String key, Runnable whenUnused) {
        Mounted gone;
        synchronized (this) {
            Mounted m = byKey.get(key);
            if (m == null || --m.refs > 0) {
                gone = null;
            } else if (!grace.isZero()) {
                m.onStop.add(whenUnused);
                m.unmount = reaper.schedule(() -> unmountIfUnused(key), grace.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
                return;
            } else {
                gone = byKey.remove(key);
            }
        }
        if (gone != null) {
            stop(gone); // outside the lock: it may wait for open files, and other volumes' publishes must not
        }
        whenUnused.run();
    }

    private void unmountIfUnused(String key) {
        Mounted gone;
        synchronized (this) {
            Mounted m = byKey.get(key);
            if (m == null || m.refs != 0) {
                return;
            }
            gone = byKey.remove(key);
        }
        stop(gone);
    }

    /** Ends a mount already taken out of the table, then lets go of what its last volume held for it. */
    private void stop(Mounted m) {
        try {
            m.session.stop(Duration.ofSeconds(5));
            m.closeImages();
            Files.deleteIfExists(m.path);
            LOG.info("unmounted " + m.path + " (no volume uses it)");
        } catch (IOException e) {
            LOG.warning("unmounting " + m.path + ": " + e.getMessage());
        }
        List<Runnable> after;
        synchronized (this) {
            after = List.copyOf(m.onStop);
            m.onStop.clear();
        }
        after.forEach(Runnable::run);
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

    /** Unmounts everything, all mounts at once (each may wait up to its grace for open files). */
    @Override
    public void close() {
        reaper.shutdownNow();
        List<Mounted> all;
        synchronized (this) {
            all = List.copyOf(byKey.values());
            byKey.clear();
        }
        List<Thread> stoppers = new java.util.ArrayList<>();
        for (Mounted m : all) {
            stoppers.add(Thread.ofPlatform().name("unmount-" + m.path.getFileName()).start(() -> stop(m)));
        }
        for (Thread t : stoppers) {
            try {
                t.join();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                return;
            }
        }
    }
}
