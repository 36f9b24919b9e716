package dev.csierofs.volumes;

import dev.csierofs.mounts.ImageMounts;
import dev.csierofs.sys.Errno;
import dev.csierofs.sys.Libc;
import dev.csierofs.sys.Mounts;
import dev.csierofs.sys.SyscallException;

import java.io.IOException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.logging.Logger;

/**
 * Published volumes: each target path is a read-only bind mount of its image's FUSE mount.
 * Calls on one target are serialized; calls on different targets run in parallel.
 */
public final class Volumes {
    private static final Logger LOG = Logger.getLogger(Volumes.class.getName());

    /** A published target: which volume, from what, through which image mount. */
    public record Published(String volumeId, VolumeSource source, String mountKey) {
    }

    /** The target is already published with other arguments (ALREADY_EXISTS). */
    public static final class ConflictException extends Exception {
        public ConflictException(String message) {
            super(message);
        }
    }

    /** Asked for something this version cannot serve yet (UNIMPLEMENTED). */
    public static final class UnsupportedVolumeException extends Exception {
        public UnsupportedVolumeException(String message) {
            super(message);
        }
    }

    private final Path imageRoot;
    private final ImageMounts mounts;
    private final Map<Path, Published> byTarget = new ConcurrentHashMap<>();
    private final Map<Path, Object> locks = new ConcurrentHashMap<>();

    public Volumes(Path imageRoot, ImageMounts mounts) {
        this.imageRoot = imageRoot;
        this.mounts = mounts;
    }

    private Object lock(Path target) {
        return locks.computeIfAbsent(target, t -> new Object());
    }

    /**
     * Publishes {@code volumeId} at {@code target}: OK again for the same volume and source,
     * a conflict for anything else; nothing is left behind on failure.
     */
    public void publish(String volumeId, Path target, Map<String, String> context)
            throws InvalidVolumeException, ConflictException, UnsupportedVolumeException, IOException {
        VolumeSource source = VolumeSource.parse(context, imageRoot);
        if (source.layers().size() != 1) {
            throw new UnsupportedVolumeException("layer stacks ('layers' with more than one entry) are not served yet");
        }
        VolumeSource.Layer layer = source.layers().get(0);
        if (!layer.isLocal()) {
            throw new UnsupportedVolumeException("https:// sources are not served yet; put the image under the image root");
        }
        synchronized (lock(target)) {
            Published p = byTarget.get(target);
            if (p != null) {
                if (p.volumeId().equals(volumeId) && p.source().equals(source)) {
                    return; // idempotent
                }
                throw new ConflictException(target + " is already published with " + (p.volumeId().equals(volumeId)
                        ? "other volume attributes" : "volume " + p.volumeId()));
            }
            if (!Mounts.at(target.toString()).isEmpty()) {
                throw new ConflictException(target + " already has something mounted on it");
            }
            ImageMounts.Mounted m = mounts.acquire(layer);
            boolean created = false;
            try {
                if (!Files.isDirectory(target)) {
                    Files.createDirectories(target);
                    created = true;
                }
                bindReadOnly(m.path(), target);
            } catch (IOException | RuntimeException e) {
                mounts.release(m.key());
                if (created) {
                    Files.deleteIfExists(target);
                }
                throw e;
            }
            byTarget.put(target, new Published(volumeId, source, m.key()));
            LOG.info("published " + volumeId + " at " + target + " (" + layer.describe() + ")");
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
     * Unpublishes {@code target}: unmounts it if it is ours, deletes the target directory, and lets
     * the image mount go when no volume uses it. OK for an unknown or already removed target.
     */
    public void unpublish(String volumeId, Path target) throws IOException {
        synchronized (lock(target)) {
            Published p = byTarget.get(target);
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
            if (top(target) != null) {
                throw new IOException(target + " has a mount that is not ours on it; not touching it");
            }
            try {
                Files.deleteIfExists(target);
            } catch (DirectoryNotEmptyException e) {
                throw new IOException(target + " is not empty after unmounting; not deleting it");
            }
            if (p != null) {
                byTarget.remove(target);
                mounts.release(p.mountKey());
                LOG.info("unpublished " + p.volumeId() + " from " + target);
            }
        }
    }

    private static Mounts.Entry top(Path target) throws SyscallException {
        return Mounts.top(target.toString()).orElse(null);
    }

    /** The published targets (tests, metrics, state). */
    public Map<Path, Published> published() {
        return Map.copyOf(byTarget);
    }
}
