package dev.csierofs.volumes;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Target paths as the kernel sees them. A request may spell one directory many ways
 * ({@code /pods/a/./mount}, {@code /pods/x/../a/mount}, a symlinked parent); the mount table
 * and the volume records know one, the canonical path: every directory above the target resolved
 * (symlinks followed), the last component kept as named. A target whose last component is itself
 * a symlink is refused: mounting on it would mount on whatever it points to. With a kubelet
 * directory, targets must lie inside it (after resolving, so a symlink cannot lead out).
 */
public final class TargetPaths {
    private static final int PATH_MAX = 4095;

    private final Path kubeletDir;

    /** {@code kubeletDir}: canonicalised here, once (a symlinked /var/lib/kubelet still works). */
    public TargetPaths(Optional<Path> kubeletDir) throws IOException {
        if (kubeletDir.isPresent()) {
            try {
                this.kubeletDir = kubeletDir.get().toRealPath();
            } catch (NoSuchFileException e) {
                throw new NoSuchFileException(kubeletDir.get().toString(), null,
                        "the kubelet directory (--kubelet-dir) does not exist");
            }
        } else {
            this.kubeletDir = null;
        }
    }

    /** The kubelet directory, canonical, if targets are confined to it. */
    public Optional<Path> kubeletDir() {
        return Optional.ofNullable(kubeletDir);
    }

    /** Whether {@code canonical} may be a target: inside the kubelet directory, if there is one. */
    public boolean allowed(Path canonical) {
        return kubeletDir == null || (canonical.startsWith(kubeletDir) && !canonical.equals(kubeletDir));
    }

    /** The canonical path of a target a publish asks for: refused if outside the kubelet directory. */
    public Path forPublish(Path requested) throws InvalidVolumeException, TargetException {
        Path target = canonical(requested);
        if (!allowed(target)) {
            throw new InvalidVolumeException("target_path " + requested + (target.toString().equals(requested.toString()) ? ""
                    : " (" + target + " once resolved)") + " is outside the kubelet directory " + kubeletDir
                    + " (--kubelet-dir): kubelet publishes under it only");
        }
        return target;
    }

    /**
     * The canonical path of {@code requested} (absolute). Directories above it that do not exist
     * yet are taken as named; a {@code ..} among them is refused, since it cannot be resolved.
     */
    public static Path canonical(Path requested) throws InvalidVolumeException, TargetException {
        String text = requested.toString();
        if (!requested.isAbsolute()) {
            throw new InvalidVolumeException("target_path must be absolute: " + text);
        }
        if (text.getBytes(StandardCharsets.UTF_8).length > PATH_MAX) {
            throw new InvalidVolumeException("target_path is longer than " + PATH_MAX + " bytes");
        }
        List<String> names = new ArrayList<>();
        for (Path name : requested) {
            if (!name.toString().equals(".")) {
                names.add(name.toString());
            }
        }
        if (names.isEmpty() || names.getLast().equals("..")) {
            throw new InvalidVolumeException("target_path must end in the name of a directory: " + text);
        }
        Path dir = requested.getRoot();
        int i = 0;
        for (; i < names.size() - 1; i++) {
            Path next = dir.resolve(names.get(i));
            try {
                next = next.toRealPath();
            } catch (NoSuchFileException missing) {
                break; // this one and those below it are made by the publish
            } catch (IOException e) {
                throw new TargetException("target_path " + text + ": cannot resolve " + next + ": " + reason(e));
            }
            if (!Files.isDirectory(next)) {
                throw new TargetException("target_path " + text + ": " + dir.resolve(names.get(i)) + " is not a directory");
            }
            dir = next;
        }
        for (; i < names.size() - 1; i++) {
            if (names.get(i).equals("..")) {
                throw new InvalidVolumeException("target_path " + text + " has '..' below a directory that does not exist");
            }
            dir = dir.resolve(names.get(i));
        }
        Path target = dir.resolve(names.getLast());
        if (Files.isSymbolicLink(target)) {
            String to;
            try {
                to = Files.readSymbolicLink(target).toString();
            } catch (IOException e) {
                to = "?";
            }
            throw new TargetException("target_path " + text + " is a symlink (to " + to + "): a volume is mounted on a directory "
                    + "itself, never through a symlink; give the real directory");
        }
        return target;
    }

    /** Whether {@code p} is a directory (not following a symlink); false if it does not exist. */
    static boolean isDirectory(Path p) {
        return Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS);
    }

    /** An I/O failure's reason without Java's exception class name. */
    static String reason(IOException e) {
        String m = e.getMessage();
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) {
            m = f.getReason();
        }
        return m == null ? e.getClass().getSimpleName() : m;
    }

    /** Checks that {@code text} parses as a path at all (NUL bytes do not). */
    public static Path parse(String text) throws InvalidVolumeException {
        try {
            return Path.of(text);
        } catch (InvalidPathException e) {
            throw new InvalidVolumeException("target_path is not a valid path: " + e.getReason());
        }
    }
}
