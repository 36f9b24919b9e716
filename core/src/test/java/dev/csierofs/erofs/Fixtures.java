package dev.csierofs.erofs;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/** Where the shared fixture images live (read-only), and which extra devices each needs. */
public final class Fixtures {
    private Fixtures() {
    }

    public static Path dir() {
        Path p = Path.of(System.getProperty("fixtures.dir", "../shared/fixtures")).toAbsolutePath().normalize();
        if (!Files.isDirectory(p)) {
            throw new IllegalStateException("fixtures not found at " + p + " (set -Dfixtures.dir)");
        }
        return p;
    }

    public static Path image(String name) {
        return dir().resolve(name + ".erofs");
    }

    public static List<Path> devices(String name) {
        List<Path> d = new ArrayList<>();
        if (name.equals("blobdev")) {
            d.add(dir().resolve("blobdev.blob"));
        } else if (name.equals("tar-index")) {
            d.add(dir().resolve("tree.tar"));
        }
        return d;
    }

    public static List<String> names() throws java.io.IOException {
        try (var s = Files.list(dir())) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".erofs"))
                    .map(n -> n.substring(0, n.length() - ".erofs".length())).sorted().toList();
        }
    }

    public static List<String> manifest(String name) throws java.io.IOException {
        return Files.readAllLines(dir().resolve(name + ".manifest"));
    }

    /** The manifest of a directory tree (a kernel mount, or an extracted tree) by manifest.py. */
    public static List<String> manifestOfTree(Path dir) throws Exception {
        Process p = new ProcessBuilder("python3", dir().resolve("manifest.py").toString(), dir.toString())
                .redirectError(ProcessBuilder.Redirect.INHERIT).start();
        List<String> lines = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.US_ASCII).lines().toList();
        if (p.waitFor() != 0) {
            throw new IllegalStateException("manifest.py failed on " + dir);
        }
        return lines;
    }

    /** A manifest with directory sizes blanked: they belong to the filesystem a tree sits on. */
    public static List<String> withoutDirSizes(List<String> lines) {
        List<String> out = new ArrayList<>();
        for (String l : lines) {
            String[] f = l.split("\t", -1);
            if (f.length > 5 && f[1].equals("dir")) {
                f[5] = "*";
            }
            out.add(String.join("\t", f));
        }
        return out;
    }
}
