package dev.csierofs.erofs;

import java.util.ArrayList;
import java.util.List;

/** The superblock's feature bits, with the names dump.erofs and the kernel use for them. */
public final class Features {
    private Features() {
    }

    public static final int COMPAT_SB_CHKSUM = 0x1;
    public static final int COMPAT_MTIME = 0x2;
    public static final int COMPAT_XATTR_FILTER = 0x4;
    public static final int COMPAT_SHARED_EA_IN_METABOX = 0x8;
    public static final int COMPAT_PLAIN_XATTR_PFX = 0x10;
    public static final int COMPAT_ISHARE_XATTRS = 0x20;

    public static final int INCOMPAT_ZERO_PADDING = 0x1;
    public static final int INCOMPAT_COMPR_CFGS = 0x2;
    public static final int INCOMPAT_BIG_PCLUSTER = 0x2;
    public static final int INCOMPAT_CHUNKED_FILE = 0x4;
    public static final int INCOMPAT_DEVICE_TABLE = 0x8;
    public static final int INCOMPAT_COMPR_HEAD2 = 0x8;
    public static final int INCOMPAT_ZTAILPACKING = 0x10;
    public static final int INCOMPAT_FRAGMENTS = 0x20;
    public static final int INCOMPAT_DEDUPE = 0x20;
    public static final int INCOMPAT_XATTR_PREFIXES = 0x40;
    public static final int INCOMPAT_48BIT = 0x80;
    public static final int INCOMPAT_METABOX = 0x100;
    /** Every incompatible bit this reader implements; any other bit makes an image unreadable. */
    public static final int INCOMPAT_SUPPORTED = (INCOMPAT_METABOX << 1) - 1;

    private static final String[] COMPAT_NAMES = {
        "sb_csum", "mtime", "xattr_filter", "shared_ea_in_metabox", "plain_xattr_pfx", "ishare_xattrs"};
    private static final String[] INCOMPAT_NAMES = {
        "lz4_0padding", "compr_cfgs/big_pcluster", "chunked_file", "device_table/compr_head2",
        "ztailpacking", "fragments/dedupe", "xattr_prefixes", "48bit", "metabox"};

    public static List<String> compatNames(int bits) {
        return names(bits, COMPAT_NAMES, "compat");
    }

    public static List<String> incompatNames(int bits) {
        return names(bits, INCOMPAT_NAMES, "incompat");
    }

    private static List<String> names(int bits, String[] known, String kind) {
        List<String> out = new ArrayList<>();
        for (int i = 0; i < 32; i++) {
            if ((bits & (1 << i)) != 0) {
                out.add(i < known.length ? known[i] : "unknown-" + kind + "-0x" + Integer.toHexString(1 << i));
            }
        }
        return out;
    }
}
