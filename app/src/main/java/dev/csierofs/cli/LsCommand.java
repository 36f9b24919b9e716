package dev.csierofs.cli;

import dev.csierofs.erofs.Dirent;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.TreeWalker;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.ZoneOffset;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;

@Command(name = "ls", mixinStandardHelpOptions = true, description = "List a directory of an image (like ls -a, without . and ..).")
public class LsCommand implements Callable<Integer> {
    @Mixin
    ImageOptions img;

    @Parameters(index = "1", arity = "0..1", paramLabel = "PATH", defaultValue = "/", description = "path inside the image (default /)")
    String path;

    @Option(names = "-l", description = "long format: mode, links, owner, group, size, mtime (UTC), name, symlink target")
    boolean longFormat;

    @Option(names = "-R", description = "list subdirectories recursively")
    boolean recursive;

    private static final DateTimeFormatter TIME = DateTimeFormatter.ofPattern("yyyy-MM-dd HH:mm:ss").withZone(ZoneOffset.UTC);

    @Override
    public Integer call() throws Exception {
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), false, StandardCharsets.UTF_8);
        try (ErofsImage image = img.open(false)) {
            Inode start = image.resolve(path).orElseThrow(() -> new IOException(path + ": no such file or directory in " + img.image));
            if (!start.isDirectory()) {
                out.println(line(image, start, path.getBytes(StandardCharsets.UTF_8)));
            } else if (!recursive) {
                listDir(image, start, out);
            } else {
                byte[] base = path.getBytes(StandardCharsets.UTF_8);
                boolean[] first = {true};
                new TreeWalker(image).walk(base, start, (p, inode) -> {
                    if (inode.isDirectory()) {
                        out.println((first[0] ? "" : "\n") + Display.name(p) + ":");
                        first[0] = false;
                        listDir(image, inode, out);
                    }
                });
            }
        } finally {
            out.flush();
        }
        return 0;
    }

    private void listDir(ErofsImage image, Inode dir, PrintStream out) throws IOException {
        List<Dirent> entries = new ArrayList<>();
        image.directory(dir).children(entries, (d, e) -> {
            throw e; // a name no path can hold: the image is corrupt or hostile
        });
        for (Dirent d : entries) {
            out.println(longFormat ? line(image, image.inode(d.nid()), d.name()) : Display.name(d.name()));
        }
    }

    private String line(ErofsImage image, Inode inode, byte[] name) throws IOException {
        if (!longFormat) {
            return Display.name(name);
        }
        String size = inode.isDevice() ? inode.rdevMajor() + ", " + inode.rdevMinor() : Long.toString(inode.size());
        String s = String.format("%s %3d %5d %5d %10s %s %s", modeString(inode), inode.nlink(), inode.uid(), inode.gid(), size,
                TIME.format(Instant.ofEpochSecond(inode.mtime(), Integer.toUnsignedLong(inode.mtimeNsec()))), Display.name(name));
        if (inode.isSymlink()) {
            s += " -> " + Display.name(image.readlink(inode));
        }
        return s;
    }

    static String modeString(Inode inode) {
        char t = switch (inode.type()) {
            case Inode.S_IFDIR -> 'd';
            case Inode.S_IFLNK -> 'l';
            case Inode.S_IFCHR -> 'c';
            case Inode.S_IFBLK -> 'b';
            case Inode.S_IFIFO -> 'p';
            case Inode.S_IFSOCK -> 's';
            default -> '-';
        };
        int m = inode.permissions();
        char[] c = {t, r(m, 0400), w(m, 0200), x(m, 0100, 04000, 's'), r(m, 040), w(m, 020), x(m, 010, 02000, 's'),
            r(m, 04), w(m, 02), x(m, 01, 01000, 't')};
        return new String(c);
    }

    private static char r(int m, int bit) {
        return (m & bit) != 0 ? 'r' : '-';
    }

    private static char w(int m, int bit) {
        return (m & bit) != 0 ? 'w' : '-';
    }

    private static char x(int m, int bit, int special, char letter) {
        boolean exec = (m & bit) != 0;
        if ((m & special) != 0) {
            return exec ? letter : Character.toUpperCase(letter);
        }
        return exec ? 'x' : '-';
    }
}
