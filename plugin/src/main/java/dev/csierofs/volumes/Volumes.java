package dev.csierofs.volumes;

import dev.csierofs.blobs.BlobStore;
import dev.csierofs.cas.ContentStore;
import dev.csierofs.cas.OwnerOnly;
import dev.csierofs.mounts.ImageMounts;
import dev.csierofs.sys.Errno;
import dev.csierofs.sys.FuseDevice;
import dev.csierofs.sys.FuseMount;
import dev.csierofs.sys.Libc;
import dev.csierofs.sys.Mounts;
import dev.csierofs.sys.SyscallException;

import java.io.IOException;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileStore;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.LongUnaryOperator;
import java.util.logging.Logger;

/**
 * Published volumes: each target path is a read-only bind mount of its image's FUSE mount.
 * Calls on one target are serialized; calls on different targets run in parallel.
 */
public final class Volumes {
    private static final Logger LOG = Logger.getLogger(Volumes.class.getName());

    /** A published target: which volume, from what, through which image mount, holding which downloaded blobs. */
    public record Published(String volumeId, VolumeSource source, String mountKey, LocalLayers local) {
    }

    /** The target is already published with other arguments (ALREADY_EXISTS). */
    public static final class ConflictException extends Exception {
        public ConflictException(String message) {
            super(message);
        }
    }

    /** The target is published, but for another volume (NOT_FOUND: this volume is not there). */
    public static final class NotPublishedException extends Exception {
        public NotPublishedException(String message) {
            super(message);
        }
    }

    private final Path imageRoot;
    private final ImageMounts mounts;
    private final BlobStore blobs;
    private final Path records;
    private final TargetPaths targets;
    private final Map<Path, Published> byTarget = new ConcurrentHashMap<>();
    private final Map<Path, Object> locks = new ConcurrentHashMap<>();
    /** Recorded targets a restart could not publish again, retried until they are (or are unpublished). */
    private final Map<Path, Unrecovered> unrecovered = new ConcurrentHashMap<>();
    /** Frees disk space on the state directory's disk (the content store's unused files); returns the bytes free after. */
    private volatile LongUnaryOperator freeDisk = need -> 0;

    /** A recorded volume not published again after a restart: what to publish, why it failed, since when, how often tried. */
    public record Unrecovered(String volumeId, Map<String, String> context, String reason, Instant since, int attempts) {
    }

    /**
     * {@code records}: a directory with one small file per published target (volume id, target,
     * volume context), written before a publish answers and deleted when it is unpublished, so a
     * restarted plugin knows what it had published. {@code blobs}: where {@code https://} layers
     * are downloaded to.
     */
    public Volumes(Path imageRoot, ImageMounts mounts, BlobStore blobs, Path records) throws IOException {
        this(imageRoot, mounts, blobs, records, new TargetPaths(java.util.Optional.empty()));
    }

    /** {@code targets}: how target paths are resolved, and where they may be (--kubelet-dir). */
    public Volumes(Path imageRoot, ImageMounts mounts, BlobStore blobs, Path records, TargetPaths targets) throws IOException {
        this.targets = targets;
        this.imageRoot = imageRoot;
        this.mounts = mounts;
        this.blobs = blobs;
        this.records = OwnerOnly.directory(records);
    }

    /** What frees disk space when a write in the state directory meets ENOSPC (the content store's {@link ContentStore#freeDisk}). */
    public void onDiskFull(LongUnaryOperator freeDisk) {
        this.freeDisk = freeDisk;
    }

    /** What a restart found: targets published again, and those that could not be (with why). */
    public record Recovery(List<Path> republished, Map<Path, String> failed) {
    }

    /**
     * After a restart: every target the records name is published again. Its old bind mount is of
     * a FUSE connection that ended with the old process (reads there fail with ENOTCONN), so it is
     * detached first and bound anew; processes that still hold files from the old mount keep
     * failing, new opens work. A target that cannot be served again (its image is gone, say) is
     * reported and kept on record, so that its unpublish still cleans it up.
     */
    public Recovery recover() throws IOException {
        List<Path> ok = new ArrayList<>();
        Map<Path, String> failed = new LinkedHashMap<>();
        List<Path> files;
        try (var s = Files.list(records)) {
            files = s.filter(p -> p.getFileName().toString().endsWith(".volume")).sorted().toList();
        }
        for (Path f : files) {
            Properties r = new Properties();
            try (var in = Files.newInputStream(f)) {
                r.load(in);
            } catch (IOException e) {
                failed.put(f, "unreadable record: " + e.getMessage());
                continue;
            }
            Path target;
            try {
                target = TargetPaths.canonical(Path.of(r.getProperty("target", "")));
            } catch (InvalidVolumeException | TargetException | java.nio.file.InvalidPathException e) {
                failed.put(f, "the record's target " + r.getProperty("target") + ": " + e.getMessage());
                continue;
            }
            String volumeId = r.getProperty("volume-id", "");
            Map<String, String> context = new TreeMap<>();
            for (String k : r.stringPropertyNames()) {
                if (k.startsWith("context.")) {
                    context.put(k.substring("context.".length()), r.getProperty(k));
                }
            }
            try {
                synchronized (lock(target)) {
                    detachOurs(target);
                }
                publish(volumeId, target, context);
                ok.add(target);
                if (!f.equals(recordOf(target))) { // written by a version that kept targets as requested
                    Files.deleteIfExists(f);
                }
            } catch (Exception e) {
                failed.put(target, e.getMessage());
                unrecovered.put(target, new Unrecovered(volumeId, Map.copyOf(context), e.getMessage(), Instant.now(), 1));
                LOG.warning("could not publish " + volumeId + " at " + target + " again after a restart: " + e.getMessage()
                        + "; " + placeholder(target) + "; retrying every " + RETRY_SECONDS + " s");
            }
        }
        return new Recovery(ok, failed);
    }

    /** How often {@link #retryUnrecovered} is meant to run. */
    public static final int RETRY_SECONDS = 10;

    /**
     * While a recorded volume cannot be published again, its target must not look like an empty,
     * healthy volume (a container started on it would run on nothing): it gets a FUSE mount
     * whose connection is aborted at once, so every access fails with ENOTCONN ("Transport
     * endpoint is not connected"), as a plugin mount whose daemon died does. It is ours
     * (fuse.erofs, source "unavailable"): publishing or unpublishing the target removes it.
     */
    private String placeholder(Path target) {
        synchronized (lock(target)) {
            try {
                if (!Files.isDirectory(target)) {
                    Files.createDirectories(target);
                }
                if (top(target) != null) {
                    return "its target has a mount that is not ours on it; left as it is";
                }
                try (var dir = Files.list(target)) {
                    if (dir.findAny().isPresent()) {
                        return "its target is not empty; left as it is";
                    }
                }
                try (FuseDevice dev = FuseDevice.open()) {
                    FuseMount.mount(dev, target, "erofs", "unavailable");
                } // the fd closes unanswered: the kernel aborts the connection
                return "its target fails every access with ENOTCONN meanwhile";
            } catch (IOException | RuntimeException e) {
                return "its target could not be marked unavailable (" + e.getMessage() + ")";
            }
        }
    }

    /**
     * Tries again to publish what a restart could not (run every {@link #RETRY_SECONDS} s);
     * returns how many are still not published.
     */
    public int retryUnrecovered() {
        for (Map.Entry<Path, Unrecovered> e : unrecovered.entrySet()) {
            Path target = e.getKey();
            Unrecovered u = e.getValue();
            try {
                publish(u.volumeId(), target, u.context()); // takes the placeholder off first
                LOG.info("published " + u.volumeId() + " at " + target + " again after " + u.attempts() + " failed attempt(s) since "
                        + u.since());
            } catch (Exception failed) {
                String why = failed.getMessage();
                unrecovered.computeIfPresent(target, (t, old) -> new Unrecovered(old.volumeId(), old.context(), why, old.since(),
                        old.attempts() + 1));
                if (!why.equals(u.reason())) {
                    LOG.warning("still cannot publish " + u.volumeId() + " at " + target + " again: " + why);
                }
            }
        }
        return unrecovered.size();
    }

    /** Recorded volumes a restart could not publish again, by target. */
    public Map<Path, Unrecovered> unrecovered() {
        return Map.copyOf(unrecovered);
    }

    private Path recordOf(Path target) {
        return records.resolve(dev.csierofs.cas.Digest.of(dev.csierofs.cas.Digest.sha256().digest(
                target.toString().getBytes(java.nio.charset.StandardCharsets.UTF_8))).hex().substring(0, 32) + ".volume");
    }

    private void writeRecord(String volumeId, Path target, Map<String, String> context) throws IOException {
        Properties r = new Properties();
        r.setProperty("volume-id", volumeId);
        r.setProperty("target", target.toString());
        context.forEach((k, v) -> r.setProperty("context." + k, v));
        Path f = recordOf(target);
        Path tmp = f.resolveSibling(f.getFileName() + ".tmp");
        try {
            Files.deleteIfExists(tmp);
            try (var out = Channels.newOutputStream(FileChannel.open(tmp,
                    Set.of(StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE),
                    OwnerOnly.FILE_MODE))) {
                r.store(out, "published by csi-driver-erofs");
            }
            Files.move(tmp, f, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp); // a failed write leaves nothing
        }
    }

    private Object lock(Path target) {
        return locks.computeIfAbsent(target, t -> new Object());
    }

    /**
     * Publishes {@code volumeId} at {@code target}: OK again for the same volume and source,
     * a conflict for anything else; nothing is left behind on failure. A full disk (ENOSPC in the
     * state directory) has the content store delete what nothing uses, and the publish is tried
     * once more; then it fails with {@link NoSpaceException}. A target a restart could not
     * publish again loses its placeholder first (and gets it back if this fails too).
     */
    public void publish(String volumeId, Path requested, Map<String, String> context)
            throws InvalidVolumeException, ConflictException, TargetException, IOException {
        Path target = targets.forPublish(requested);
        synchronized (lock(target)) {
            Unrecovered u = unrecovered.get(target);
            if (u != null && u.volumeId().equals(volumeId)) {
                detachOurs(target);
            }
            try {
                try {
                    publishOnce(volumeId, target, context);
                } catch (IOException e) {
                    if (!ContentStore.isNoSpace(e)) {
                        throw e;
                    }
                    long free = freeDisk.applyAsLong(64L << 20);
                    LOG.info("publishing " + volumeId + " at " + target + ": the disk of " + records + " was full; " + free
                            + " bytes free after deleting unused store files; trying again");
                    try {
                        publishOnce(volumeId, target, context);
                    } catch (IOException again) {
                        if (!ContentStore.isNoSpace(again)) {
                            throw again;
                        }
                        throw new NoSpaceException("no space left on the disk of the state directory " + records.getParent() + " ("
                                + describeDisk(records) + ") even after deleting the content store's unused files: free disk "
                                + "space there, lower --store-budget or --blob-budget, or move --state-dir to a larger disk", again);
                    }
                }
                if (u != null) {
                    unrecovered.remove(target);
                }
            } catch (IOException | InvalidVolumeException | ConflictException | TargetException | RuntimeException e) {
                if (u != null && u.volumeId().equals(volumeId)) {
                    placeholder(target);
                }
                throw e;
            }
        }
    }

    private static String describeDisk(Path dir) {
        try {
            FileStore fs = Files.getFileStore(dir);
            return fs.getUsableSpace() + " bytes free of " + fs.getTotalSpace();
        } catch (IOException e) {
            return "free space unknown";
        }
    }

    /** One attempt at publishing at {@code target}, a canonical path. */
    private void publishOnce(String volumeId, Path target, Map<String, String> context)
            throws InvalidVolumeException, ConflictException, TargetException, IOException {
        VolumeSource source = VolumeSource.parse(context, imageRoot);
        synchronized (lock(target)) {
            Published p = byTarget.get(target);
            if (p != null) {
                if (p.volumeId().equals(volumeId) && p.source().equals(source)) {
                    return; // idempotent
                }
                throw new ConflictException(target + " is already published with " + (p.volumeId().equals(volumeId)
                        ? "other volume attributes (unpublish it first to change them)" : "volume " + p.volumeId()
                        + ", not " + volumeId));
            }
            checkFree(target);
            // https:// layers become their downloaded blobs, held while the volume is published
            LocalLayers local = LocalLayers.resolve(source.layers(), blobs);
            ImageMounts.Mounted m;
            try {
                m = mounts.acquire(local.layers());
            } catch (IOException | InvalidVolumeException | RuntimeException e) {
                local.close();
                throw e;
            }
            boolean created = false;
            try {
                if (!Files.isDirectory(target)) {
                    created = makeTarget(target);
                }
                bindReadOnly(m.path(), target);
                writeRecord(volumeId, target, context);
            } catch (IOException | TargetException | RuntimeException e) {
                if (Mounts.top(target.toString()).filter(x -> x.source().equals(m.path().toString())
                        || x.fsType().equals("fuse.erofs")).isPresent()) {
                    Libc.umount2(target.toString(), Libc.MNT_DETACH);
                }
                mounts.release(m.key(), local::close);
                if (created) {
                    Files.deleteIfExists(target);
                }
                throw e;
            }
            byTarget.put(target, new Published(volumeId, source, m.key(), local));
            LOG.info("published " + volumeId + " at " + target + " (" + String.join(", ", source.layers().stream()
                    .map(VolumeSource.Layer::describe).toList()) + ")");
        }
    }

    /**
     * Refuses a target the node has something at: a file or symlink, a directory with content
     * (a mount would hide it, and it could never be removed at unpublish), a mount this plugin did
     * not make (it would be stacked on and hidden), mounts below it, or a place inside a volume.
     */
    private void checkFree(Path target) throws TargetException, IOException {
        for (Path published : byTarget.keySet()) {
            if (target.startsWith(published)) {
                throw new TargetException(target + " is inside volume " + byTarget.get(published).volumeId() + " published at "
                        + published + "; a target must be a directory of its own");
            }
        }
        String at = target.toString();
        for (Mounts.Entry e : Mounts.read()) {
            if (e.mountPoint().equals(at)) {
                throw new TargetException(target + " already has a " + e.fsType() + " mount (of " + e.source() + ") that this "
                        + "plugin did not make; it is not stacked on: unmount it, or publish at another target");
            }
            if (e.mountPoint().startsWith(at + "/")) {
                throw new TargetException(target + " has a " + e.fsType() + " mount below it, at " + e.mountPoint()
                        + ", which a volume there would hide; publish at another target");
            }
        }
        if (Files.exists(target, LinkOption.NOFOLLOW_LINKS)) {
            if (!TargetPaths.isDirectory(target)) {
                throw new TargetException(target + " is a file, not a directory: a volume's target must be a directory, or "
                        + "absent (the plugin makes it); remove the file or publish at another target");
            }
            try (var entries = Files.list(target)) {
                List<String> some = entries.limit(3).map(x -> x.getFileName().toString()).toList();
                if (!some.isEmpty()) {
                    throw new TargetException(target + " is not empty (it has " + String.join(", ", some) + (some.size() == 3
                            ? ", ..." : "") + "): a volume mounted there would hide that content; empty the directory or "
                            + "publish at another target");
                }
            }
        }
    }

    /** Makes the target directory (and the missing ones above it); whether it made the target itself. */
    private static boolean makeTarget(Path target) throws TargetException {
        try {
            Files.createDirectories(target);
            if (!target.toRealPath().equals(target)) { // a symlink put in place meanwhile
                throw new TargetException(target + " changed while it was made: it now resolves to " + target.toRealPath());
            }
            return true;
        } catch (IOException e) {
            throw new TargetException("cannot make the target directory " + target + ": " + TargetPaths.reason(e));
        }
    }

    private static void bindReadOnly(Path source, Path target) throws SyscallException {
        Libc.mount(source.toString(), target.toString(), "none", Libc.MS_BIND, null);
        try {
            Libc.mount("none", target.toString(), "none", Libc.MS_REMOUNT | Libc.MS_BIND | Libc.MS_RDONLY | Libc.MS_NOSUID
                    | Libc.MS_NODEV, null);
        } catch (SyscallException e) {
            Libc.umount2(target.toString(), Libc.MNT_DETACH); // never leave a writable-looking bind behind
            throw e;
        }
    }

    /**
     * Unpublishes {@code volumeId} from {@code requested}: acts only on what this plugin published
     * for that volume there. Its mount goes (lazily if a process still uses it), its record, and the
     * target directory if it is then empty; the image mount goes when no volume uses it. A target
     * that is not the plugin's (no volume, no record there) is left as it is: OK, as the spec asks
     * of an unpublish repeated, except that an empty directory at it is removed (what a publish that
     * failed may have left). A target that holds another volume: {@link NotPublishedException}.
     */
    public void unpublish(String volumeId, Path requested) throws NotPublishedException, TargetException, IOException,
            InvalidVolumeException {
        Path target;
        try {
            target = TargetPaths.canonical(requested);
        } catch (TargetException notOurs) { // a symlink, a file above it: never ours
            LOG.info("unpublish " + volumeId + " from " + requested + ": not a target of this plugin (" + notOurs.getMessage()
                    + "); nothing done");
            return;
        }
        synchronized (lock(target)) {
            Published p = byTarget.get(target);
            String published = p != null ? p.volumeId() : recordedVolume(target);
            if (published == null) {
                removeIfEmptyDirectory(target);
                return;
            }
            if (!published.equals(volumeId)) {
                throw new NotPublishedException("volume " + volumeId + " is not published at " + target + ": volume " + published
                        + " is (left as it is); unpublish it with volume_id " + published);
            }
            Mounts.Entry top = top(target);
            if (top != null && !top.fsType().equals("fuse.erofs")) {
                throw new TargetException(target + " has a " + top.fsType() + " mount (of " + top.source() + ") on top of volume "
                        + volumeId + " that this plugin did not make; unmount it first, then unpublish again");
            }
            detachOurs(target);
            Files.deleteIfExists(recordOf(target));
            unrecovered.remove(target);
            if (p != null) {
                byTarget.remove(target);
                // the volume's blobs stay held while its image mount may stay (the grace period)
                mounts.release(p.mountKey(), p.local()::close);
            }
            try {
                Files.deleteIfExists(target);
                LOG.info("unpublished " + volumeId + " from " + target);
            } catch (DirectoryNotEmptyException e) {
                LOG.warning("unpublished " + volumeId + " from " + target + ", whose directory is not empty under the volume: "
                        + "left in place");
            }
        }
    }

    /** The volume the record for {@code target} names (one a restart could not publish again), or null. */
    private String recordedVolume(Path target) {
        Properties r = new Properties();
        try (var in = Files.newInputStream(recordOf(target))) {
            r.load(in);
        } catch (IOException | IllegalArgumentException e) {
            return null;
        }
        return target.toString().equals(r.getProperty("target")) ? r.getProperty("volume-id") : null;
    }

    /** Removes {@code target} if it is an empty directory with nothing mounted on it, inside the kubelet directory. */
    private void removeIfEmptyDirectory(Path target) throws SyscallException {
        if (targets.allowed(target) && TargetPaths.isDirectory(target) && Mounts.at(target.toString()).isEmpty()) {
            try {
                Files.delete(target); // a directory: rmdir, which refuses one with entries
            } catch (IOException notEmpty) {
                // not ours, left as it is
            }
        }
    }

    /** Unmounts our (fuse.erofs) mounts from {@code target}: lazily if a process still uses one. */
    private static void detachOurs(Path target) throws SyscallException {
        for (Mounts.Entry e = top(target); e != null && e.fsType().equals("fuse.erofs"); e = top(target)) {
            try {
                Libc.umount2(target.toString(), 0);
            } catch (SyscallException busy) {
                if (busy.errno() != Errno.EBUSY) {
                    throw busy;
                }
                Libc.umount2(target.toString(), Libc.MNT_DETACH); // a process still has it open: it keeps its view
            }
        }
    }

    private static Mounts.Entry top(Path target) throws SyscallException {
        return Mounts.top(target.toString()).orElse(null);
    }

    /** What NodeGetVolumeStats reports: sizes from the image's superblock, and whether the volume still serves. */
    public record Stats(long bytes, long inodes, String abnormal) {
    }

    /** Stats of the volume published at {@code target}; null if no such volume is published there. */
    public Stats stats(String volumeId, Path requested) {
        Path target;
        try {
            target = TargetPaths.canonical(requested);
        } catch (InvalidVolumeException | TargetException e) {
            return null;
        }
        Published p = byTarget.get(target);
        Unrecovered u = unrecovered.get(target);
        if (p == null && u != null && u.volumeId().equals(volumeId)) {
            return new Stats(0, 0, "not published again since the plugin restarted (" + u.attempts() + " attempt(s) since "
                    + u.since() + "): " + u.reason() + "; retried every " + RETRY_SECONDS + " s, its target fails every access "
                    + "meanwhile");
        }
        if (p == null || !p.volumeId().equals(volumeId)) {
            return null;
        }
        ImageMounts.Mounted m = mounts.get(p.mountKey());
        if (m == null) {
            return new Stats(0, 0, "the image mount of this volume is gone");
        }
        String abnormal = null;
        try {
            Files.readAttributes(target, java.nio.file.attribute.BasicFileAttributes.class);
            if (Mounts.top(target.toString()).filter(e -> e.fsType().equals("fuse.erofs")).isEmpty()) {
                abnormal = target + " is no longer mounted";
            }
        } catch (IOException e) {
            abnormal = "the volume does not answer: " + e.getMessage();
        }
        return new Stats(m.bytes(), m.inodes(), abnormal);
    }

    /** The published targets (tests, metrics, state). */
    public Map<Path, Published> published() {
        return Map.copyOf(byTarget);
    }
}
