package dev.csierofs.cas;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.FileAttribute;
import java.nio.file.attribute.PosixFilePermission;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.Collections;
import java.util.EnumSet;
import java.util.Set;
import java.util.logging.Logger;

/**
 * Directories and files only their owner can reach (0700, 0600). The content store holds the
 * content of every image on the node, whatever its mode inside the image (a 0600 key file
 * included), and the state directory holds volume attributes: another user of the host must not
 * read them. The mount enforces each file's own mode; the store behind it must not undo that.
 * Passthrough is unaffected: the kernel reads a backing file with the credentials of the daemon
 * that opened it.
 */
public final class OwnerOnly {
    private static final Logger LOG = Logger.getLogger(OwnerOnly.class.getName());
    private static final Set<PosixFilePermission> DIR = PosixFilePermissions.fromString("rwx------");
    private static final Set<PosixFilePermission> FILE = PosixFilePermissions.fromString("rw-------");
    /** For {@link java.nio.channels.FileChannel#open} and {@link Files#createFile}: created 0600. */
    public static final FileAttribute<Set<PosixFilePermission>> FILE_MODE = PosixFilePermissions.asFileAttribute(FILE);
    private static final FileAttribute<Set<PosixFilePermission>> DIR_MODE = PosixFilePermissions.asFileAttribute(DIR);
    private static final Set<PosixFilePermission> OTHERS = EnumSet.of(PosixFilePermission.GROUP_READ,
            PosixFilePermission.GROUP_WRITE, PosixFilePermission.GROUP_EXECUTE, PosixFilePermission.OTHERS_READ,
            PosixFilePermission.OTHERS_WRITE, PosixFilePermission.OTHERS_EXECUTE);

    private OwnerOnly() {
    }

    /**
     * Creates {@code dir} and missing parents like {@link Files#createDirectories}, the ones it
     * creates 0700, and makes {@code dir} itself 0700 if it existed with more (a directory made by
     * an older version, or by hand). Returns {@code dir}.
     */
    public static Path directory(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            Path parent = dir.toAbsolutePath().getParent();
            if (parent != null && !Files.isDirectory(parent)) {
                directory(parent);
            }
            try {
                Files.createDirectory(dir, DIR_MODE);
            } catch (java.nio.file.FileAlreadyExistsException raced) {
                if (!Files.isDirectory(dir)) {
                    throw raced;
                }
            }
        }
        tighten(dir, DIR);
        return dir;
    }

    /** Makes an existing file 0600 if it allows more (group or others). */
    public static void file(Path f) throws IOException {
        tighten(f, FILE);
    }

    private static void tighten(Path p, Set<PosixFilePermission> mode) throws IOException {
        Set<PosixFilePermission> now = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
        if (!Collections.disjoint(now, OTHERS)) {
            Files.setPosixFilePermissions(p, mode);
        }
    }

    /**
     * Takes group and other permissions off everything under {@code root} when {@code root}
     * itself allows them (not following symlinks, not crossing into other filesystems: mount
     * points of image mounts live there): state written by versions that used the default umask.
     * {@code root} goes last, so an interrupted pass runs again at the next start. Returns how
     * many were changed.
     */
    public static int tightenTree(Path root) throws IOException {
        if (!Files.isDirectory(root)
                || Collections.disjoint(Files.getPosixFilePermissions(root, LinkOption.NOFOLLOW_LINKS), OTHERS)) {
            return 0;
        }
        Object dev = Files.getAttribute(root, "unix:dev");
        int[] changed = {0};
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override
            public FileVisitResult preVisitDirectory(Path d, BasicFileAttributes a) throws IOException {
                if (!dev.equals(Files.getAttribute(d, "unix:dev", LinkOption.NOFOLLOW_LINKS))) {
                    return FileVisitResult.SKIP_SUBTREE;
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                changed[0] += change(d, DIR);
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                if (a.isRegularFile()) {
                    changed[0] += change(f, FILE);
                }
                return FileVisitResult.CONTINUE;
            }

            @Override
            public FileVisitResult visitFileFailed(Path f, IOException e) {
                LOG.warning("cannot check the mode of " + f + ": " + e.getMessage());
                return FileVisitResult.CONTINUE;
            }
        });
        if (changed[0] > 0) {
            LOG.info(root + ": made " + changed[0] + " file(s) and director(ies) readable by their owner only"
                    + " (written by an earlier version with group or other access)");
        }
        return changed[0];
    }

    private static int change(Path p, Set<PosixFilePermission> mode) throws IOException {
        Set<PosixFilePermission> now = Files.getPosixFilePermissions(p, LinkOption.NOFOLLOW_LINKS);
        if (Collections.disjoint(now, OTHERS)) {
            return 0;
        }
        Set<PosixFilePermission> keep = EnumSet.copyOf(now);
        keep.removeAll(OTHERS);
        Files.setPosixFilePermissions(p, keep.isEmpty() ? mode : keep);
        return 1;
    }
}
