package dev.csierofs.erofs;

import java.util.ArrayList;
import java.util.List;

/**
 * A long xattr name prefix (XATTR_PREFIXES): a short prefix index plus an infix, referred to by
 * xattr entries whose name index has bit 7 set. Stored as {@code le16 length} records, 4-byte
 * aligned, in the primary device (PLAIN_XATTR_PFX), the metabox, or the packed inode.
 */
public record XattrPrefix(int id, int baseIndex, byte[] infix) {

    static List<XattrPrefix> readAll(ErofsImage image) throws ErofsException {
        Superblock sb = image.superblock();
        int count = sb.xattrPrefixCount();
        if (count == 0) {
            return List.of();
        }
        boolean plain = sb.hasCompat(Features.COMPAT_PLAIN_XATTR_PFX);
        FileData source = null;
        boolean inMetabox = false;
        if (!plain) {
            if (sb.metaboxNid() != 0) {
                inMetabox = true;
            } else if (sb.packedNid() != 0) {
                source = image.packedData();
            } else {
                plain = true;
            }
        }
        List<XattrPrefix> out = new ArrayList<>(count);
        long pos = sb.xattrPrefixStart() << 2;
        byte[] lenBuf = new byte[2];
        for (int i = 0; i < count; i++) {
            pos = (pos + 3) & ~3L;
            String what = "long xattr prefix " + i;
            read(image, plain, inMetabox, source, pos, lenBuf, 2, what);
            int len = Le.u16(lenBuf, 0);
            if (len < 1 || len > 1 + 255) {
                throw new ErofsException(what, pos, "bad length " + len);
            }
            byte[] rec = new byte[len];
            read(image, plain, inMetabox, source, pos + 2, rec, len, what);
            int base = rec[0] & 0xff;
            out.add(new XattrPrefix(i, base, java.util.Arrays.copyOfRange(rec, 1, len)));
            pos += 2 + len;
        }
        return List.copyOf(out);
    }

    private static void read(ErofsImage image, boolean plain, boolean inMetabox, FileData source, long pos, byte[] dst,
            int len, String what) throws ErofsException {
        if (plain || inMetabox) {
            image.readMeta(inMetabox, pos, dst, 0, len, what);
        } else if (source.read(pos, dst, 0, len) != len) {
            throw new ErofsException(what, pos, "runs past the end of the packed inode");
        }
    }
}
