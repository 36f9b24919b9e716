package dev.csierofs.erofs;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

/**
 * The Linux kernel as a test oracle: mounts an EROFS image read-only ({@code mount -t erofs}),
 * extra devices through read-only loop devices (mount(8) puts the image itself on a loop device,
 * and then a plain file in {@code device=} is refused), and writes the manifest of the mounted
 * tree with the shared fixtures' {@code manifest.py}. {@link #close()} always unmounts and
 * detaches the loop devices it attached.
 */
public final class KernelMount implements AutoCloseable {

    private final Path mountpoint;
    private final List<String> loops;
    private boolean mounted;

    private KernelMount(Path mountpoint, List<String> loops) {
        this.mountpoint = mountpoint;
        this.loops = loops;
    }

    /** Why the kernel cannot be used as an oracle here, or null if it can. */
    static String unavailableReason() {
        try {
            Object uid = Files.getAttribute(Path.of("/proc/self"), "unix:uid");
            if (!Integer.valueOf(0).equals(uid)) {
                return "kernel oracle needs root (mount, loop devices, mknod, trusted.* xattrs); running as uid " + uid;
            }
            if (!Files.readString(Path.of("/proc/filesystems")).contains("erofs")) {
                return "this kernel has no EROFS support (no 'erofs' in /proc/filesystems)";
            }
        } catch (IOException | UnsupportedOperationException e) {
            return "cannot tell whether mounting is possible: " + e;
        }
        return null;
    }

    /** Mounts {@code image} (with its extra devices, in device-table order) at {@code mountpoint}. */
    /** The manifest of {@code image} as the kernel's own EROFS mount of it (at {@code mountpoint}) shows it. */
    public static List<String> manifestOfImage(Path image, Path mountpoint) throws IOException, InterruptedException {
        try (KernelMount m = mount(image, List.of(), mountpoint)) {
            return m.manifest();
        }
    }

    /**
     * The manifest of a layer stack as the kernel shows it: each image mounted by the kernel's
     * EROFS under {@code work}, and an overlayfs of them ({@code lowerdir=top:...:bottom}, no upper
     * layer) at {@code work/merged}. {@code layers} lowest first. Everything is unmounted after.
     */
    public static List<String> manifestOfOverlay(List<Path> layers, Path work) throws IOException, InterruptedException {
        if (layers.size() == 1) { // overlayfs wants two lower layers; one shows as the image itself
            return manifestOfImage(layers.get(0), work.resolve("layer0"));
        }
        List<KernelMount> mounts = new ArrayList<>();
        Path merged = work.resolve("merged");
        try {
            StringBuilder lower = new StringBuilder();
            for (int i = 0; i < layers.size(); i++) {
                KernelMount m = mount(layers.get(i), List.of(), work.resolve("layer" + i));
                mounts.add(m);
                lower.insert(0, m.mountpoint + (i == 0 ? "" : ":"));
            }
            Files.createDirectories(merged);
            run(List.of("mount", "-t", "overlay", "overlay", "-o", "lowerdir=" + lower, merged.toString()), Map.of(), null);
            try {
                return manifest(merged);
            } finally {
                run(List.of("umount", merged.toString()), Map.of(), null);
            }
        } finally {
            for (KernelMount m : mounts) {
                m.close();
            }
        }
    }

    static KernelMount mount(Path image, List<Path> extraDevices, Path mountpoint) throws IOException, InterruptedException {
        Files.createDirectories(mountpoint);
        KernelMount m = new KernelMount(mountpoint, new ArrayList<>());
        try {
            StringBuilder opts = new StringBuilder("ro");
            for (Path dev : extraDevices) {
                String loop = run(List.of("losetup", "-f", "--show", "-r", dev.toAbsolutePath().toString()), Map.of(), null).strip();
                m.loops.add(loop);
                opts.append(",device=").append(loop);
            }
            try {
                run(List.of("mount", "-t", "erofs", "-o", opts.toString(), image.toAbsolutePath().toString(), mountpoint.toString()),
                        Map.of(), null);
            } catch (IOException e) {
                throw new IOException(e.getMessage() + "\nkernel log:\n" + dmesgTail(), e);
            }
            m.mounted = true;
            return m;
        } catch (IOException | InterruptedException | RuntimeException e) {
            try {
                m.close();
            } catch (IOException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    /** The manifest the kernel shows for the mounted tree (manifest.py output, header included). */
    List<String> manifest() throws IOException, InterruptedException {
        return manifest(mountpoint);
    }

    static List<String> manifest(Path root) throws IOException, InterruptedException {
        Path script = Fixtures.dir().resolve("manifest.py");
        Path out = Files.createTempFile("kernel-manifest", ".txt");
        try {
            run(List.of("python3", script.toString(), root.toString()), Map.of(), out);
            return Files.readAllLines(out, StandardCharsets.US_ASCII);
        } finally {
            Files.deleteIfExists(out);
        }
    }

    /**
     * Where SEEK_DATA and SEEK_HOLE land in every regular file under {@code root}
     * (seek-map.py: the data segments, then probes from fixed offsets), one line per file.
     */
    static List<String> seekMap(Path root) throws IOException, InterruptedException {
        Path script = Files.createTempFile("seek-map", ".py");
        Path out = Files.createTempFile("seek-map", ".txt");
        try (java.io.InputStream in = KernelMount.class.getResourceAsStream("seek-map.py")) {
            if (in == null) {
                throw new IOException("test resource seek-map.py missing");
            }
            Files.copy(in, script, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            run(List.of("python3", script.toString(), root.toString()), Map.of(), out);
            return Files.readAllLines(out, StandardCharsets.US_ASCII);
        } finally {
            Files.deleteIfExists(script);
            Files.deleteIfExists(out);
        }
    }

    @Override
    public void close() throws IOException {
        IOException failure = null;
        if (mounted) {
            try {
                run(List.of("umount", mountpoint.toString()), Map.of(), null);
                mounted = false;
            } catch (IOException | InterruptedException e) {
                failure = new IOException("umount " + mountpoint + " failed", e);
                try { // never leave a mount behind inside a temp dir that is about to be deleted
                    run(List.of("umount", "-l", mountpoint.toString()), Map.of(), null);
                    mounted = false;
                } catch (IOException | InterruptedException e2) {
                    failure.addSuppressed(e2);
                }
            }
        }
        for (String loop : loops) {
            try {
                run(List.of("losetup", "-d", loop), Map.of(), null);
            } catch (IOException | InterruptedException e) {
                if (failure == null) {
                    failure = new IOException("losetup -d " + loop + " failed", e);
                } else {
                    failure.addSuppressed(e);
                }
            }
        }
        loops.clear();
        if (failure != null) {
            throw failure;
        }
    }

    private static String dmesgTail() {
        try {
            List<String> lines = run(List.of("dmesg"), Map.of(), null).lines().toList();
            return String.join("\n", lines.subList(Math.max(0, lines.size() - 8), lines.size()));
        } catch (IOException | InterruptedException e) {
            return "(dmesg unavailable: " + e.getMessage() + ")";
        }
    }

    /**
     * Runs a command (stdin from /dev/null; {@code env} entries with a null value are removed
     * from the environment) and returns its stdout, or writes stdout to
     * {@code stdoutFile} when given. A non-zero exit or a hang of more than 5 minutes is an
     * IOException carrying the command and its stderr.
     */
    static String run(List<String> cmd, Map<String, String> env, Path stdoutFile) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd);
        env.forEach((k, v) -> {
            if (v == null) {
                pb.environment().remove(k);
            } else {
                pb.environment().put(k, v);
            }
        });
        pb.redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null")));
        Path out = stdoutFile != null ? stdoutFile : Files.createTempFile("oracle-run", ".out");
        Path err = Files.createTempFile("oracle-run", ".err");
        try {
            pb.redirectOutput(out.toFile());
            pb.redirectError(err.toFile());
            Process p = pb.start();
            if (!p.waitFor(5, TimeUnit.MINUTES)) {
                p.destroyForcibly();
                throw new IOException("timed out: " + String.join(" ", cmd));
            }
            String stderr = Files.readString(err, StandardCharsets.ISO_8859_1);
            if (p.exitValue() != 0) {
                throw new IOException("exit " + p.exitValue() + ": " + String.join(" ", cmd) + "\n" + stderr.strip());
            }
            return stdoutFile != null ? "" : Files.readString(out, StandardCharsets.ISO_8859_1);
        } finally {
            Files.deleteIfExists(err);
            if (stdoutFile == null) {
                Files.deleteIfExists(out);
            }
        }
    }
}
