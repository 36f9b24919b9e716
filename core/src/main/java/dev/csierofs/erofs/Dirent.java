package dev.csierofs.erofs;

import java.nio.charset.StandardCharsets;

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
}
