package dev.csierofs.erofs;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;

/**
 * Writes the manifest of an image as seen through our reader, in exactly the format of
 * {@code shared/fixtures/manifest.py} (which writes it for a kernel mount), so the two can
 * be compared line by line.
 */
public final class ReaderManifest {
    public static final String HEADER = "#path\ttype\tmode\tuid\tgid\tsize\tnlink\tmtime\ttarget\trdev\txattrs\tsha256\thlink";

    private ReaderManifest() {
    }

    public static List<String> of(ErofsImage image) throws Exception {
        record Row(String path, String[] fields, long nid, boolean linked) {
        }
        List<Row> rows = new ArrayList<>();
        MessageDigest sha = MessageDigest.getInstance("SHA-256");
        byte[] buf = new byte[1 << 17];
        new TreeWalker(image).walk((path, ino) -> {
            String type = switch (ino.type()) {
                case Inode.S_IFREG -> "reg";
                case Inode.S_IFDIR -> "dir";
                case Inode.S_IFLNK -> "lnk";
                case Inode.S_IFCHR -> "chr";
                case Inode.S_IFBLK -> "blk";
                case Inode.S_IFIFO -> "fifo";
                case Inode.S_IFSOCK -> "sock";
                default -> "unknown";
            };
            String target = ino.isSymlink() ? Escape.text(image.readlink(ino)) : "-";
            String rdev = ino.isDevice() ? ino.rdevMajor() + ":" + ino.rdevMinor() : "-";
            List<Xattr> xs = new ArrayList<>(image.xattrs().list(ino));
            xs.sort((a, b) -> Arrays.compareUnsigned(a.name(), b.name()));
            StringBuilder x = new StringBuilder();
            for (Xattr e : xs) {
                if (!x.isEmpty()) {
                    x.append(',');
                }
                x.append(Escape.text(e.name())).append('=').append(HexFormat.of().formatHex(e.value()));
            }
            String digest = "-";
            if (ino.isRegular()) {
                FileData data = image.openData(ino);
                sha.reset();
                long pos = 0;
                while (pos < ino.size()) {
                    int n = data.read(pos, buf, 0, buf.length);
                    if (n <= 0) {
                        throw new ErofsException(ino.label(), pos, "short read");
                    }
                    sha.update(buf, 0, n);
                    pos += n;
                }
                digest = HexFormat.of().formatHex(sha.digest());
            }
            String p = path.length == 1 && path[0] == '/' ? "/" : "/" + Escape.text(Arrays.copyOfRange(path, 1, path.length));
            String[] f = {p, type, String.format("%04o", ino.permissions()), Long.toString(ino.uid()), Long.toString(ino.gid()),
                Long.toString(ino.size()), Long.toString(ino.nlink()),
                String.format("%d.%09d", ino.mtime(), Integer.toUnsignedLong(ino.mtimeNsec())), target, rdev,
                x.isEmpty() ? "-" : x.toString(), digest, "-"};
            rows.add(new Row(p, f, ino.nid(), !ino.isDirectory() && ino.nlink() > 1));
        });
        rows.sort(Comparator.comparing(r -> r.path.getBytes(StandardCharsets.US_ASCII), Arrays::compareUnsigned));
        Map<Long, String> first = new HashMap<>();
        List<String> out = new ArrayList<>();
        out.add(HEADER);
        for (Row r : rows) {
            if (r.linked) {
                r.fields[12] = first.computeIfAbsent(r.nid, k -> r.path);
            }
            out.add(String.join("\t", r.fields));
        }
        return out;
    }
}
