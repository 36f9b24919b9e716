package dev.csierofs.erofs;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * One directory entry (12 bytes on disk plus its name). {@code nextCookie} is the readdir
 * position just after this entry, stable for the image's lifetime, so it can be handed to
 * FUSE as the entry's offset and given back to resume the listing.
 */
public record Dirent(byte[] name, long nid, int fileType, long nextCookie) {
    public static final int SIZE = 12;
    public static final int FT_UNKNOWN = 0;
    public static final int FT_REG_FILE = 1;
    public static final int FT_DIR = 2;
    public static final int FT_CHRDEV = 3;
    public static final int FT_BLKDEV = 4;
    public static final int FT_FIFO = 5;
    public static final int FT_SOCK = 6;
    public static final int FT_SYMLINK = 7;

    public String nameString() {
        return new String(name, StandardCharsets.UTF_8);
    }

    public boolean isDot() {
        return name.length == 1 && name[0] == '.';
    }

    public boolean isDotDot() {
        return name.length == 2 && name[0] == '.' && name[1] == '.';
    }

    /**
     * Why no path can hold {@code name}, or null: a name is 1 to 255 bytes and holds neither '/'
     * nor NUL (whether "." and ".." are a directory's own entries is for the directory to say).
     */
    public static String nameProblem(byte[] name) {
        if (name.length == 0) {
            return "empty name";
        }
        if (indexOf(name, (byte) '/') >= 0) {
            return "name holds '/'";
        }
        if (indexOf(name, (byte) 0) >= 0) {
            return "name holds a NUL byte";
        }
        return null;
    }

    /**
     * The name as the kernel shows it: cut at its first NUL (the kernel's EROFS lists and looks up
     * such a name as its part before the NUL). Unchanged if it holds none or starts with one.
     */
    public byte[] shownName() {
        int nul = indexOf(name, (byte) 0);
        return nul > 0 ? Arrays.copyOf(name, nul) : name;
    }

    static int indexOf(byte[] b, byte x) {
        for (int i = 0; i < b.length; i++) {
            if (b[i] == x) {
                return i;
            }
        }
        return -1;
    }
}
