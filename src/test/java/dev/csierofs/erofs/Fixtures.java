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
}
