package dev.csierofs.erofs;

import dev.csierofs.erofs.z.CompressedData;
import dev.csierofs.erofs.z.CompressionConfigs;

import java.io.Closeable;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * An opened EROFS image: its superblock, its devices, and every way of reading it. All methods
 * are safe for concurrent use; nothing here holds a lock while doing I/O.
 *
 * <p>Two address spaces hold metadata: the primary device, and (for METABOX images) the
 * decompressed data of the metabox inode. Inodes whose nid has bit 63 set live in the latter.
 */
public final class ErofsImage implements Closeable {

    private final ImageSource primary;
    private final List<ImageSource> devices;
    private final List<DeviceSlot> deviceSlots;
    private final Superblock sb;
    private final CompressionConfigs compressionConfigs;
    private final FileData metabox;
    private final FileData packed;
    private final List<XattrPrefix> xattrPrefixes;
    private final Xattrs xattrs = new Xattrs(this);

    private ErofsImage(ImageSource primary, List<ImageSource> devices, Superblock sb) throws ErofsException {
        this.primary = primary;
        this.devices = devices;
        this.sb = sb;
        this.deviceSlots = readDeviceSlots();
        checkSizes();
        this.compressionConfigs = CompressionConfigs.read(this);
        if (sb.hasIncompat(Features.INCOMPAT_METABOX)) {
            Inode mb = readInode(sb.metaboxNid());
            if (mb.isDirectory() || mb.size() == 0) {
                throw new ErofsException("metabox inode", mb.iloc(), "is not a regular file with data");
            }
            this.metabox = openData(mb);
        } else {
            this.metabox = null;
        }
        if (sb.packedNid() != 0) {
            Inode pk = readInode(sb.packedNid());
            this.packed = openData(pk);
        } else {
            this.packed = null;
        }
        this.xattrPrefixes = XattrPrefix.readAll(this);
    }

    /**
     * Opens an image. {@code extraDevices} are the image's extra devices in device-table order
     * (for example the blob of {@code mkfs.erofs --blobdev}, or the tar file of a tar-index image).
     */
    public static ErofsImage open(Path image, List<Path> extraDevices) throws IOException {
        return open(image, extraDevices, true);
    }

    /**
     * Opens an image; with {@code allDevices} false, fewer extra devices than the device table
     * lists may be given: metadata is all on the primary device, and only reading file data that
     * lives in a missing device fails (naming the device and how to pass it).
     */
    public static ErofsImage open(Path image, List<Path> extraDevices, boolean allDevices) throws IOException {
        List<ImageSource> opened = new ArrayList<>();
        try {
            ImageSource primary = ImageSource.open(image);
            opened.add(primary);
            for (Path p : extraDevices) {
                opened.add(ImageSource.open(p));
            }
            Superblock sb = readSuperblock(primary);
            if (sb.extraDevices() < extraDevices.size() || (allDevices && sb.extraDevices() != extraDevices.size())) {
                throw new ErofsException("superblock", Superblock.OFFSET + 86, "image has " + sb.extraDevices()
                        + " extra device(s) but " + extraDevices.size() + " were given (use --device for each, in device-table order)");
            }
            return new ErofsImage(primary, List.copyOf(opened.subList(1, opened.size())), sb);
        } catch (IOException | RuntimeException e) {
            for (ImageSource s : opened) {
                try {
                    s.close();
                } catch (IOException suppressed) {
                    e.addSuppressed(suppressed);
                }
            }
            throw e;
        }
    }

    public static ErofsImage open(Path image) throws IOException {
        return open(image, List.of());
    }

    private static Superblock readSuperblock(ImageSource primary) throws ErofsException {
        int first = (int) Math.min(primary.size(), Superblock.OFFSET + 144);
        byte[] head = new byte[first];
        primary.readFully(0, head, 0, first, "superblock");
        if (first < Superblock.OFFSET + 128) {
            return Superblock.parse(head); // throws with a clear message
        }
        int bits = head[Superblock.OFFSET + 12] & 0xff;
        if (bits >= 9 && bits <= Superblock.MAX_BLKSZBITS) {
            int need = (int) Math.min(primary.size(), Superblock.bytesNeeded(bits) + 16 * 255L);
            if (need > first) {
                head = new byte[need];
                primary.readFully(0, head, 0, need, "superblock");
            }
        }
        return Superblock.parse(head);
    }

    /**
     * Refuses a truncated image (or extra device) at once, rather than with EIO on whatever
     * lives in its lost part: each file must reach into the last block the superblock (or the
     * device table) gives it. A partial last block is accepted (a tar file under a tar-index
     * image ends where the tar ends); a count of 0 is not checked. The kernel mounts such images
     * and fails reads; this is deliberately stricter.
     */
    private void checkSizes() throws ErofsException {
        checkSize(primary, sb.blocks(), "superblock", Superblock.OFFSET + 36, "the superblock");
        for (int i = 0; i < devices.size(); i++) {
            DeviceSlot d = deviceSlots.get(i);
            checkSize(devices.get(i), d.blocks(), "device table slot " + (i + 1), (long) sb.devtSlotoff() * DeviceSlot.SIZE
                    + (long) i * DeviceSlot.SIZE + 64, "the device table");
        }
    }

    private void checkSize(ImageSource src, long blocks, String what, long offset, String claimant) throws ErofsException {
        int bits = sb.blkszbits();
        if (blocks <= 0 || blocks > (Long.MAX_VALUE >> bits)) {
            return;
        }
        long claimed = blocks << bits;
        long least = claimed - sb.blockSize() + 1;
        if (src.size() < least) {
            throw new ErofsException(what, offset, src.name() + " is truncated: it has " + src.size() + " bytes but "
                    + claimant + " gives it " + blocks + " blocks of " + sb.blockSize() + " bytes (" + claimed + " bytes)");
        }
    }

    private List<DeviceSlot> readDeviceSlots() throws ErofsException {
        List<DeviceSlot> slots = new ArrayList<>();
        long pos = (long) sb.devtSlotoff() * DeviceSlot.SIZE;
        for (int i = 0; i < sb.extraDevices(); i++) {
            byte[] b = new byte[DeviceSlot.SIZE];
            primary.readFully(pos, b, 0, b.length, "device table slot " + (i + 1));
            slots.add(DeviceSlot.parse(i + 1, b, sb.is48bit()));
            pos += DeviceSlot.SIZE;
        }
        return List.copyOf(slots);
    }

    public Superblock superblock() {
        return sb;
    }

    public List<DeviceSlot> deviceSlots() {
        return deviceSlots;
    }

    public CompressionConfigs compressionConfigs() {
        return compressionConfigs;
    }

    public List<XattrPrefix> xattrPrefixes() {
        return xattrPrefixes;
    }

    public int blockSize() {
        return sb.blockSize();
    }

    public long rootNid() {
        return sb.rootNid();
    }

    public Inode root() throws ErofsException {
        Inode r = inode(sb.rootNid());
        if (!r.isDirectory()) {
            throw new ErofsException(r.label(), r.iloc(), "root is not a directory");
        }
        return r;
    }

    /** The image file, as it was given, for messages. */
    public String name() {
        return primary.name();
    }

    /** Size in bytes of the primary device. */
    public long primarySize() {
        return primary.size();
    }

    // ---------------------------------------------------------------- metadata

    /**
     * Reads bytes of a metadata address space: the metabox's decoded data when {@code inMetabox},
     * otherwise the primary device.
     */
    public void readMeta(boolean inMetabox, long pos, byte[] dst, int off, int len, String what) throws ErofsException {
        if (!inMetabox) {
            primary.readCached(pos, dst, off, len, what);
            return;
        }
        if (metabox == null) {
            throw new ErofsException(what, pos, "refers to the metabox, but the image has none");
        }
        if (pos < 0) {
            throw new ErofsException(what, pos, "negative metabox position");
        }
        int n = metabox.read(pos, dst, off, len);
        if (n != len) {
            throw new ErofsException(what, pos, "runs past the end of the metabox");
        }
    }

    /** Reads the inode {@code nid} (bit 63 set: an inode in the metabox). */
    public Inode inode(long nid) throws ErofsException {
        return readInode(nid);
    }

    private Inode readInode(long nid) throws ErofsException {
        boolean inMb = (nid & Superblock.METABOX_BIT) != 0;
        long slot = nid & ~Superblock.METABOX_BIT;
        if (slot > (Long.MAX_VALUE >> 6)) {
            throw new ErofsException(Inode.label(nid), -1, "nid out of range");
        }
        long iloc = (inMb ? 0 : sb.metaBlkaddr() << sb.blkszbits()) + (slot << 5);
        byte[] b = new byte[Inode.EXTENDED_SIZE];
        int avail = Inode.EXTENDED_SIZE;
        if (!inMb && iloc + Inode.EXTENDED_SIZE > primary.size()) {
            avail = Inode.COMPACT_SIZE;
        }
        try {
            readMeta(inMb, iloc, b, 0, avail, Inode.label(nid));
        } catch (ErofsException e) {
            if (!inMb || avail != Inode.EXTENDED_SIZE) {
                throw e;
            }
            avail = Inode.COMPACT_SIZE; // a compact inode at the very end of the metabox
            readMeta(true, iloc, b, 0, avail, Inode.label(nid));
        }
        return Inode.parse(nid, inMb, iloc, b, avail, sb);
    }

    // ---------------------------------------------------------------- data

    /**
     * Reads physical bytes from device {@code deviceId} (0 = primary). For device 0, addresses
     * beyond the primary device are mapped into extra devices through their unified start
     * addresses (flattened multi-device images).
     */
    public void readPhysical(int deviceId, long pos, byte[] dst, int off, int len, String what) throws ErofsException {
        StoredRange r = locate(deviceId, pos, len, what);
        if (r.length() < len) {
            throw shortfall(what, pos, len, r.source());
        }
        r.source().readFully(r.offset(), dst, off, len, what);
    }

    /** Bytes stored verbatim in one backing file: {@code length} bytes at {@code offset} of {@code source}. */
    public record StoredRange(ImageSource source, long offset, long length) {
    }

    /**
     * Where physical address {@code pos} of device {@code deviceId} lives, as {@link #readPhysical}
     * would read it, and how many bytes from there are contiguous in that file (at most
     * {@code want}). Lets callers move verbatim data without copying it through the heap.
     */
    public StoredRange locate(int deviceId, long pos, long want, String what) throws ErofsException {
        if (deviceId < 0 || deviceId > sb.extraDevices()) {
            throw new ErofsException(what, pos, "device id " + deviceId + " but the image has " + sb.extraDevices() + " extra device(s)");
        }
        ImageSource src = deviceId == 0 ? primary : device(deviceId, what, pos);
        long off = pos;
        long limit = src.size();
        if (deviceId == 0) {
            for (int i = 0; i < deviceSlots.size(); i++) {
                DeviceSlot d = deviceSlots.get(i);
                long start = d.uniaddr() << sb.blkszbits();
                long length = d.blocks() << sb.blkszbits();
                if (d.uniaddr() != 0 && pos >= start && pos < start + length) {
                    src = device(i + 1, what, pos);
                    off = pos - start;
                    limit = Math.min(src.size(), length);
                    break;
                }
            }
        }
        if (off < 0 || off >= limit) {
            throw shortfall(what, pos, want, src);
        }
        return new StoredRange(src, off, Math.min(want, limit - off));
    }

    /** Extra device {@code id} (1-based), or an error saying it was not given. */
    private ImageSource device(int id, String what, long pos) throws ErofsException {
        if (id > devices.size()) {
            String tag = deviceSlots.get(id - 1).tagText();
            throw new ErofsException(what, pos, "data is in extra device " + id + (tag.isEmpty() ? "" : " (" + tag + ")")
                    + ", which was not given: pass it with --device, in device-table order");
        }
        return devices.get(id - 1);
    }

    private static ErofsException shortfall(String what, long pos, long want, ImageSource src) {
        return new ErofsException(what, pos, want + " bytes needed but " + src.name() + " has only " + src.size() + " bytes");
    }

    /** The decoded data of the packed inode (fragments, long xattr prefixes); null if none. */
    public FileData packedData() {
        return packed;
    }

    /** Random access to an inode's decoded data, whatever its layout. */
    public FileData openData(Inode inode) throws ErofsException {
        return switch (inode.layout()) {
            case Inode.FLAT_PLAIN, Inode.FLAT_INLINE -> new FlatData(this, inode);
            case Inode.CHUNK_BASED -> new ChunkData(this, inode);
            case Inode.COMPRESSED_FULL, Inode.COMPRESSED_COMPACT -> CompressedData.open(this, inode);
            default -> throw new ErofsException(inode.label(), inode.iloc(), "unknown data layout " + inode.layout());
        };
    }

    // ---------------------------------------------------------------- namespace

    /** The directory behind {@code dir}, for lookups and listings. */
    public Directory directory(Inode dir) throws ErofsException {
        return new Directory(this, dir);
    }

    /** The inode named {@code name} in {@code dir}, if any. */
    public Optional<Inode> lookup(Inode dir, byte[] name) throws ErofsException {
        Optional<Dirent> d = directory(dir).lookup(name);
        return d.isPresent() ? Optional.of(inode(d.get().nid())) : Optional.empty();
    }

    /**
     * Resolves an absolute or root-relative path without following symlinks ("." and empty
     * components are skipped, ".." goes to the parent as stored in the image).
     */
    public Optional<Inode> resolve(String path) throws ErofsException {
        Inode cur = root();
        for (String part : path.split("/")) {
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (!cur.isDirectory()) {
                return Optional.empty();
            }
            Optional<Inode> next = lookup(cur, part.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            if (next.isEmpty()) {
                return Optional.empty();
            }
            cur = next.get();
        }
        return Optional.of(cur);
    }

    /** Symlinks followed in one resolution before giving up, as Linux's MAXSYMLINKS. */
    public static final int MAX_SYMLINK_HOPS = 40;

    /**
     * Resolves a path inside the image following symlinks, in every component including the
     * last, the way open(2) would with the image as root: absolute targets start at the image
     * root and ".." never leaves it. Empty if a component does not exist; an error on a loop.
     */
    public Optional<Inode> resolveFollowing(String path) throws ErofsException {
        java.util.ArrayDeque<Inode> stack = new java.util.ArrayDeque<>(); // ancestors, root at the bottom
        stack.push(root());
        java.util.ArrayDeque<String> todo = new java.util.ArrayDeque<>(java.util.Arrays.asList(path.split("/")));
        int hops = 0;
        while (!todo.isEmpty()) {
            String part = todo.pollFirst();
            if (part.isEmpty() || part.equals(".")) {
                continue;
            }
            if (part.equals("..")) {
                if (stack.size() > 1) {
                    stack.pop();
                }
                continue;
            }
            Inode cur = stack.peek();
            if (!cur.isDirectory()) {
                return Optional.empty();
            }
            Optional<Inode> next = lookup(cur, part.getBytes(java.nio.charset.StandardCharsets.UTF_8));
            if (next.isEmpty()) {
                return Optional.empty();
            }
            Inode n = next.get();
            if (!n.isSymlink()) {
                stack.push(n);
                continue;
            }
            if (++hops > MAX_SYMLINK_HOPS) {
                throw new ErofsException(n.label(), n.iloc(), "more than " + MAX_SYMLINK_HOPS + " symlinks while resolving " + path);
            }
            String target = new String(readlink(n), java.nio.charset.StandardCharsets.UTF_8);
            if (target.startsWith("/")) {
                while (stack.size() > 1) {
                    stack.pop();
                }
            }
            String[] parts = target.split("/");
            for (int i = parts.length - 1; i >= 0; i--) {
                todo.addFirst(parts[i]);
            }
        }
        return Optional.of(stack.peek());
    }

    /** Longest symlink target accepted: PATH_MAX minus the terminating NUL. */
    public static final int MAX_SYMLINK = 4095;

    /** The target of a symlink. */
    public byte[] readlink(Inode inode) throws ErofsException {
        if (!inode.isSymlink()) {
            throw new ErofsException(inode.label(), inode.iloc(), "not a symlink");
        }
        if (inode.size() > MAX_SYMLINK) {
            throw new ErofsException(inode.label(), inode.iloc(), "symlink target of " + inode.size() + " bytes exceeds " + MAX_SYMLINK);
        }
        byte[] b = new byte[(int) inode.size()];
        if (openData(inode).read(0, b, 0, b.length) != b.length) {
            throw new ErofsException(inode.label(), inode.iloc(), "symlink target ends early");
        }
        return b;
    }

    /** Xattr access for this image. */
    public Xattrs xattrs() {
        return xattrs;
    }

    /** The content digest from the fingerprint xattr of a regular file, if the image has one. */
    public Optional<ContentDigest> contentDigest(Inode inode) throws ErofsException {
        return xattrs.contentDigest(inode);
    }

    /** {@link ImageSource#dropPageCache()} for the image and each of its devices. */
    public void dropPageCache() {
        primary.dropPageCache();
        devices.forEach(ImageSource::dropPageCache);
    }

    @Override
    public void close() throws IOException {
        IOException first = null;
        for (ImageSource s : devices) {
            try {
                s.close();
            } catch (IOException e) {
                first = first == null ? e : first;
            }
        }
        primary.close();
        if (first != null) {
            throw first;
        }
    }
}
