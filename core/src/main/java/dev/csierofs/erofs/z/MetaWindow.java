package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;

/**
 * A small read-ahead window over one metadata address space, so that walking the lcluster
 * indexes of a file costs one read per window rather than one per 8-byte index. Thread-safe:
 * the window is an immutable snapshot swapped through a volatile field.
 */
final class MetaWindow {
    private static final int WINDOW = 16 << 10;

    private record W(long start, byte[] b) {
    }

    private final ErofsImage image;
    private final boolean inMetabox;
    private volatile long limit;
    private final int firstHint;
    private volatile W w;

    /** {@code firstHint}: how many bytes the first read should fetch (the expected index size). */
    MetaWindow(ErofsImage image, boolean inMetabox, int firstHint) {
        this.image = image;
        this.inMetabox = inMetabox;
        this.limit = inMetabox ? Long.MAX_VALUE : image.primarySize();
        this.firstHint = Math.max(16, Math.min(WINDOW, firstHint));
    }

    /** Copies exactly {@code len} bytes at {@code pos}; reading past the space's end is an error. */
    void read(long pos, byte[] dst, int off, int len, String what) throws ErofsException {
        W cur = w;
        if (cur != null && pos >= cur.start && pos - cur.start <= cur.b.length - len) {
            System.arraycopy(cur.b, (int) (pos - cur.start), dst, off, len);
            return;
        }
        if (pos < 0 || pos > Long.MAX_VALUE - WINDOW - len) {
            throw new ErofsException(what, pos, "metadata position out of range");
        }
        long start = pos;
        long end = pos + Math.max(len, cur == null ? firstHint : WINDOW);
        if (end > limit) {
            end = Math.max(limit, pos + len);
        }
        byte[] b = new byte[(int) (end - start)];
        try {
            image.readMeta(inMetabox, start, b, 0, b.length, what);
        } catch (ErofsException e) {
            if (start == pos && b.length == len) {
                throw e;
            }
            if (inMetabox && limit == Long.MAX_VALUE) {
                // near the end of the metabox: learn its size once, so later windows stop there
                try {
                    limit = image.inode(image.superblock().metaboxNid()).size();
                } catch (ErofsException ignored) {
                    limit = 0;
                }
            }
            b = new byte[len];
            image.readMeta(inMetabox, pos, b, 0, len, what);
            start = pos;
        }
        w = new W(start, b);
        System.arraycopy(b, (int) (pos - start), dst, off, len);
    }
}
