package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Escape;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.TreeWalker;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Helpers for the compressed fixtures in {@code fixtures.dir} (read-only). */
final class ZFixtures {
    private ZFixtures() {
    }

    /** Every fixture image with compressed data. */
    static final List<String> COMPRESSED = List.of("lz4", "lz4hc", "lzma", "deflate", "zstd", "multialg", "ztailpacking",
            "fragments", "all-fragments", "dedupe", "tail-frag-dedupe", "b512-lz4hc", "zdir", "48bit", "metabox",
            "xattr-prefix", "fingerprint", "fingerprint-trusted", "deb15-lz4hc");

    static Path dir() {
        Path p = Path.of(System.getProperty("fixtures.dir", "/work/shared/fixtures")).toAbsolutePath().normalize();
        if (!Files.isDirectory(p)) {
            p = Path.of("/work/shared/fixtures");
        }
        return p;
    }

    static Path image(String name) {
        return dir().resolve(name + ".erofs");
    }

    /** Escaped path to sha256 of every regular file in the manifest, in manifest order. */
    static Map<String, String> regularFiles(String name) throws IOException {
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : Files.readAllLines(dir().resolve(name + ".manifest"))) {
            if (line.startsWith("#")) {
                continue;
            }
            String[] f = line.split("\t", -1);
            if (f.length >= 12 && f[1].equals("reg")) {
                m.put(f[0], f[11]);
            }
        }
        return m;
    }

    static String escapedPath(byte[] path) {
        return path.length == 1 && path[0] == '/' ? "/" : "/" + Escape.text(Arrays.copyOfRange(path, 1, path.length));
    }

    /** Every inode of the image by escaped path. */
    static Map<String, Inode> inodes(ErofsImage img) throws IOException {
        Map<String, Inode> m = new LinkedHashMap<>();
        new TreeWalker(img).walk((path, ino) -> m.put(escapedPath(path), ino));
        return m;
    }

    static byte[] readAll(FileData d, long size, int chunk) throws ErofsException {
        if (size > Integer.MAX_VALUE - 16) {
            throw new IllegalArgumentException("too big");
        }
        byte[] out = new byte[(int) size];
        int pos = 0;
        while (pos < size) {
            int n = d.read(pos, out, pos, (int) Math.min(chunk, size - pos));
            if (n <= 0) {
                throw new IllegalStateException("short read at " + pos);
            }
            pos += n;
        }
        return out;
    }

    static String sha256(byte[] b, int off, int len) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            md.update(b, off, len);
            return HexFormat.of().formatHex(md.digest());
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }
}
