package dev.csierofs.erofs;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Optional;

/**
 * The extended attributes of an inode: an inline body (header with a name bloom filter and
 * shared xattr ids, then entries) after the inode, and shared entries in the xattr area.
 */
public final class Xattrs {
    static final int INDEX_USER = 1;
    static final int INDEX_POSIX_ACL_ACCESS = 2;
    static final int INDEX_POSIX_ACL_DEFAULT = 3;
    static final int INDEX_TRUSTED = 4;
    static final int INDEX_LUSTRE = 5;
    static final int INDEX_SECURITY = 6;
    private static final int LONG_PREFIX = 0x80;
    private static final int FILTER_SEED = 0x25BBE08F;
    /** Name of the fingerprint xattr when the superblock does not name one. */
    public static final String DEFAULT_FINGERPRINT = "erofs.fingerprint.v1";
    private static final byte[] SHA256_TAG = "sha256:".getBytes(StandardCharsets.US_ASCII);

    private static final String[] SHORT_PREFIXES = {
        "", "user.", "system.posix_acl_access", "system.posix_acl_default", "trusted.", "lustre.", "security."};

    private final ErofsImage image;

    Xattrs(ErofsImage image) {
        this.image = image;
    }

    /** An entry decoded to its full name; {@code visible} is whether Linux lists it. */
    private record Entry(byte[] fullName, int baseIndex, byte[] value, boolean visible) {
    }

    /** Every xattr the kernel lists for this inode, inline ones first, then shared ones. */
    public List<Xattr> list(Inode inode) throws ErofsException {
        List<Xattr> out = new ArrayList<>();
        for (Entry e : entries(inode)) {
            if (e.visible) {
                out.add(new Xattr(e.fullName, e.value));
            }
        }
        return out;
    }

    /** The value of one xattr by its full name, as getxattr(2) would return it. */
    public Optional<byte[]> get(Inode inode, String name) throws ErofsException {
        if (inode.xattrIcount() == 0) {
            return Optional.empty();
        }
        byte[] want = name.getBytes(StandardCharsets.UTF_8);
        if (image.superblock().hasCompat(Features.COMPAT_XATTR_FILTER) && filteredOut(inode, want)) {
            return Optional.empty();
        }
        for (Entry e : entries(inode)) {
            if (e.visible && Arrays.equals(e.fullName, want)) {
                return Optional.of(e.value);
            }
        }
        return Optional.empty();
    }

    /**
     * The content digest from the fingerprint xattr: the one the superblock names through its
     * ishare prefix id, else {@value #DEFAULT_FINGERPRINT}. Empty if the inode has none.
     */
    public Optional<ContentDigest> contentDigest(Inode inode) throws ErofsException {
        if (!inode.isRegular() || inode.xattrIcount() == 0) {
            return Optional.empty();
        }
        byte[] want = fingerprintName();
        if (want == null) {
            return Optional.empty();
        }
        for (Entry e : entries(inode)) {
            if (Arrays.equals(e.fullName, want)) {
                byte[] v = e.value;
                if (v.length != SHA256_TAG.length + 32 || !Arrays.equals(v, 0, SHA256_TAG.length, SHA256_TAG, 0, SHA256_TAG.length)) {
                    throw new ErofsException(inode.label() + " fingerprint xattr", inode.iloc(),
                            "value is not \"sha256:\" + 32 bytes (" + v.length + " bytes)");
                }
                return Optional.of(new ContentDigest(Arrays.copyOfRange(v, SHA256_TAG.length, v.length)));
            }
        }
        return Optional.empty();
    }

    /**
     * Full name of the fingerprint xattr of this image, or null when the superblock names a long
     * prefix that does not exist (the kernel ignores the ishare fields, so such an image is read
     * as one without fingerprints).
     */
    public byte[] fingerprintName() throws ErofsException {
        Superblock sb = image.superblock();
        if (sb.hasCompat(Features.COMPAT_ISHARE_XATTRS)) {
            List<XattrPrefix> prefixes = image.xattrPrefixes();
            if (sb.ishareXattrPrefixId() >= prefixes.size()) {
                return null;
            }
            XattrPrefix p = prefixes.get(sb.ishareXattrPrefixId());
            return concat(shortPrefix(p.baseIndex()), p.infix(), new byte[0]);
        }
        return DEFAULT_FINGERPRINT.getBytes(StandardCharsets.UTF_8);
    }

    private boolean filteredOut(Inode inode, byte[] name) throws ErofsException {
        for (int index = 1; index < SHORT_PREFIXES.length; index++) {
            byte[] p = SHORT_PREFIXES[index].getBytes(StandardCharsets.US_ASCII);
            if (name.length >= p.length && Arrays.equals(name, 0, p.length, p, 0, p.length)) {
                byte[] head = new byte[4];
                image.readMeta(inode.inMetabox(), inode.iloc() + inode.inodeSize(), head, 0, 4, inode.label() + " xattr header");
                int filter = Le.i32(head, 0);
                int bit = XxHash32.hash(name, p.length, name.length - p.length, FILTER_SEED + index) & 31;
                return (filter & (1 << bit)) != 0;
            }
        }
        return false;
    }

    private List<Entry> entries(Inode inode) throws ErofsException {
        int isize = inode.xattrSize();
        if (isize == 0) {
            return List.of();
        }
        String what = inode.label() + " xattrs";
        long base = inode.iloc() + inode.inodeSize();
        if (isize <= 12) {
            // A header alone is undefined on disk; the kernel rejects it too.
            throw new ErofsException(what, base, "inline xattr area of " + isize + " bytes holds no entries");
        }
        byte[] body = new byte[isize];
        image.readMeta(inode.inMetabox(), base, body, 0, isize, what);
        int shared = Le.u8(body, 4);
        int pos = 12 + 4 * shared;
        if (pos > isize) {
            throw new ErofsException(what, base + 4, shared + " shared xattr ids do not fit in " + isize + " bytes");
        }
        List<Entry> out = new ArrayList<>();
        while (pos < isize) {
            if (pos + 4 > isize) {
                throw new ErofsException(what, base + pos, "entry header runs past the inline xattr area");
            }
            int nameLen = Le.u8(body, pos);
            int index = Le.u8(body, pos + 1);
            int valueSize = Le.u16(body, pos + 2);
            int total = (4 + nameLen + valueSize + 3) & ~3;
            if (pos + 4 + nameLen + valueSize > isize) {
                throw new ErofsException(what, base + pos, "entry of " + total + " bytes runs past the inline xattr area");
            }
            addEntry(out, index, Arrays.copyOfRange(body, pos + 4, pos + 4 + nameLen),
                    Arrays.copyOfRange(body, pos + 4 + nameLen, pos + 4 + nameLen + valueSize));
            pos += total;
        }
        Superblock sb = image.superblock();
        boolean inMb = sb.hasCompat(Features.COMPAT_SHARED_EA_IN_METABOX);
        long area = sb.xattrBlkaddr() << sb.blkszbits();
        for (int i = 0; i < shared; i++) {
            long id = Le.u32(body, 12 + 4 * i);
            long at = area + id * 4;
            String sw = inode.label() + " shared xattr " + id;
            byte[] h = new byte[4];
            image.readMeta(inMb, at, h, 0, 4, sw);
            int nameLen = Le.u8(h, 0);
            int valueSize = Le.u16(h, 2);
            byte[] nv = new byte[nameLen + valueSize];
            image.readMeta(inMb, at + 4, nv, 0, nv.length, sw);
            addEntry(out, Le.u8(h, 1), Arrays.copyOf(nv, nameLen), Arrays.copyOfRange(nv, nameLen, nv.length));
        }
        return out;
    }

    private void addEntry(List<Entry> out, int index, byte[] suffix, byte[] value) {
        int base = index;
        byte[] infix = new byte[0];
        if ((index & LONG_PREFIX) != 0) {
            int id = index & 0x7f;
            if (id >= image.xattrPrefixes().size()) {
                return; // the kernel skips entries naming a prefix that does not exist
            }
            XattrPrefix p = image.xattrPrefixes().get(id);
            base = p.baseIndex();
            infix = p.infix();
        }
        if (base >= SHORT_PREFIXES.length) {
            return;
        }
        boolean visible = base != 0 && base != INDEX_LUSTRE;
        out.add(new Entry(concat(shortPrefix(base), infix, suffix), base, value, visible));
    }

    private static byte[] shortPrefix(int base) {
        return base < SHORT_PREFIXES.length ? SHORT_PREFIXES[base].getBytes(StandardCharsets.US_ASCII) : new byte[0];
    }

    private static byte[] concat(byte[] a, byte[] b, byte[] c) {
        byte[] r = Arrays.copyOf(a, a.length + b.length + c.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        System.arraycopy(c, 0, r, a.length + b.length, c.length);
        return r;
    }
}
