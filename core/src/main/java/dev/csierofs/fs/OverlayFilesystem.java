package dev.csierofs.fs;

import dev.csierofs.erofs.Dirent;
import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Inode;
import dev.csierofs.fuse.AttrOut;
import dev.csierofs.fuse.DirentList;
import dev.csierofs.fuse.EntryOut;
import dev.csierofs.fuse.FuseError;
import dev.csierofs.fuse.OpenOut;
import dev.csierofs.fuse.PassthroughRegistry;
import dev.csierofs.fuse.Protocol;
import dev.csierofs.fuse.StatfsOut;
import dev.csierofs.sys.Errno;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;

/**
 * A stack of EROFS layers shown as one tree, read the way a kernel overlayfs with only lower
 * layers ({@code lowerdir=top:...:bottom}) shows kernel EROFS mounts of them. Done here rather
 * than with overlayfs because overlayfs over a passthrough FUSE mount makes {@code /proc/<pid>/maps}
 * name the wrong path.
 * <ul>
 * <li>An upper layer's entry hides the lower layers' entries of the same name; directories merge
 * with the directories of the same path below them, down to the first layer where the path is
 * absent-by-whiteout, a non-directory, or an opaque directory.</li>
 * <li>Whiteouts: a character device 0:0, or (overlayfs's "xwhiteout") an empty regular file
 * carrying {@code trusted.overlay.whiteout}. Either hides the name in the layers below and is not
 * found itself. Listings leave out xwhiteouts only in directories whose
 * {@code trusted.overlay.opaque} is "x" (which announces them), as overlayfs does.</li>
 * <li>{@code trusted.overlay.opaque=y} makes a directory hide what lower layers hold at its path
 * (ignored on the root, as overlayfs ignores it there).</li>
 * <li>A merged directory shows the topmost directory's attributes and xattrs, with one link (as
 * overlayfs reports it); {@code trusted.overlay.*} xattrs are never shown.</li>
 * </ul>
 * Two differences, on purpose, both where overlayfs lists a name its own lookup then fails on:
 * a 0:0 device in a directory that exists in only one layer, and an xwhiteout in an announcing
 * directory of the lowest layer (overlayfs ignores the announcement there). Here neither is listed.
 * Redirects and metacopy ({@code trusted.overlay.redirect}, {@code .metacopy}) are not followed,
 * as overlayfs does not follow them without its redirect_dir/metacopy options.
 * <p>
 * Nodeids are those of the topmost layer holding the entry ({@link NodeIds#layer}); everything but
 * directory merging is the layer's {@link ErofsFilesystem}'s work (content sharing, passthrough).
 * Merged directories are remembered by nodeid for the life of the mount: a directory that exists
 * in one layer only needs no memory, since its nodeid names it completely.
 */
public final class OverlayFilesystem implements ImageFilesystem {
    static final String PRIVATE_PREFIX = "trusted.overlay.";
    private static final String OPAQUE = "trusted.overlay.opaque";
    private static final String WHITEOUT = "trusted.overlay.whiteout";
    private static final byte[] DOT = {'.'};
    private static final byte[] DOTDOT = {'.', '.'};

    /** Lowest first, as the volume context lists them. */
    private final List<ErofsFilesystem> layers;
    private final MergedDir root;
    private final ConcurrentHashMap<Long, MergedDir> merged = new ConcurrentHashMap<>();

    /** One layer's directory at some path, with its {@code trusted.overlay.opaque} value (0 if none). */
    private record LayerDir(int layer, Inode inode, byte opaque) {
        boolean hasXwhiteouts() {
            return opaque == 'x';
        }
    }

    /** A directory seen through several layers, topmost first; its listing is built once. */
    private static final class MergedDir {
        final List<LayerDir> chain;
        volatile List<Listed> listing;

        MergedDir(List<LayerDir> chain) {
            this.chain = List.copyOf(chain);
        }
    }

    /** One entry of a merged directory's listing; the READDIR offset after it is its index + 1. */
    private record Listed(byte[] name, int type, long ino) {
    }

    /**
     * {@code images} lowest first, each served with the node's {@code sharing} under its
     * {@code imageKeys} entry (see {@link ErofsFilesystem}).
     */
    public OverlayFilesystem(List<ErofsImage> images, ContentSharing sharing, List<String> imageKeys) throws ErofsException {
        if (images.isEmpty() || images.size() > NodeIds.MAX_LAYERS) {
            throw new IllegalArgumentException("a stack has 1 to " + NodeIds.MAX_LAYERS + " layers, not " + images.size());
        }
        if (imageKeys.size() != images.size()) {
            throw new IllegalArgumentException(images.size() + " layers but " + imageKeys.size() + " image keys");
        }
        List<ErofsFilesystem> fs = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            fs.add(new ErofsFilesystem(images.get(i), sharing, imageKeys.get(i), NodeIds.layer(i)));
        }
        this.layers = List.copyOf(fs);
        List<LayerDir> roots = new ArrayList<>();
        for (int i = images.size() - 1; i >= 0; i--) {
            ErofsImage image = images.get(i);
            Inode r = image.inode(image.rootNid());
            roots.add(new LayerDir(i, r, opaqueOf(image, r)));
        }
        this.root = new MergedDir(roots);
    }

    /** How regular files are served (the same for every layer). */
    @Override
    public String mode() {
        return layers.get(0).mode();
    }

    public int layerCount() {
        return layers.size();
    }

    @Override
    public void initialized(PassthroughRegistry passthrough) {
        layers.forEach(l -> l.initialized(passthrough));
    }

    @Override
    public void destroyed() {
        layers.forEach(ErofsFilesystem::destroyed);
    }

    private static byte opaqueOf(ErofsImage image, Inode dir) throws ErofsException {
        if (dir.xattrIcount() == 0) {
            return 0;
        }
        Optional<byte[]> v = image.xattrs().get(dir, OPAQUE);
        return v.isPresent() && v.get().length == 1 && (v.get()[0] == 'y' || v.get()[0] == 'x') ? v.get()[0] : 0;
    }

    private ErofsImage image(int layer) {
        return layers.get(layer).image();
    }

    /** The layer whose {@link ErofsFilesystem} answers for {@code nodeid}. */
    private ErofsFilesystem owner(long nodeid) throws FuseError {
        int l = NodeIds.layerOf(nodeid);
        if (l < 0 || l >= layers.size()) {
            throw new FuseError(Errno.EIO, "nodeid " + Long.toHexString(nodeid) + " names no layer");
        }
        return layers.get(l);
    }

    /** {@code nodeid} as its layer knows it: the merged root is the top layer's root. */
    private long layerNodeid(long nodeid) {
        if (nodeid != Protocol.ROOT_ID) {
            return nodeid;
        }
        LayerDir top = root.chain.get(0);
        return layers.get(top.layer()).ids().nodeid(top.inode().nid());
    }

    /** The directories behind directory {@code nodeid}, topmost first. */
    private List<LayerDir> chain(long nodeid) throws FuseError {
        if (nodeid == Protocol.ROOT_ID) {
            return root.chain;
        }
        MergedDir m = merged.get(nodeid);
        if (m != null) {
            return m.chain;
        }
        ErofsFilesystem fs = owner(nodeid);
        Inode dir = fs.inode(nodeid);
        if (!dir.isDirectory()) {
            throw new FuseError(Errno.ENOTDIR, "not a directory");
        }
        try {
            return List.of(new LayerDir(NodeIds.layerOf(nodeid), dir, opaqueOf(fs.image(), dir)));
        } catch (ErofsException e) {
            throw fs.problem(e, dir.nid(), null);
        }
    }

    private MergedDir mergedDir(long nodeid) {
        return nodeid == Protocol.ROOT_ID ? root : merged.get(nodeid);
    }

    /**
     * A whiteout: a 0:0 character device, or an empty regular file marked {@code trusted.overlay.whiteout}
     * (overlayfs honours the mark in lookups whatever the directory says).
     */
    private boolean isWhiteout(int layer, Inode child) throws ErofsException {
        if (child.type() == Inode.S_IFCHR) {
            return child.rdevMajor() == 0 && child.rdevMinor() == 0;
        }
        return child.isRegular() && child.size() == 0 && child.xattrIcount() != 0
                && image(layer).xattrs().get(child, WHITEOUT).isPresent();
    }

    /**
     * Whether a listing must read this entry's inode to tell if it is a whiteout: character
     * devices always; regular files only in directories announcing xwhiteouts (opaque "x"), as
     * overlayfs does, which spares a directory listing one inode read per file.
     */
    private static boolean mayBeWhiteout(LayerDir dir, Dirent d) {
        return d.fileType() == Dirent.FT_CHRDEV || d.fileType() == Dirent.FT_REG_FILE && dir.hasXwhiteouts();
    }

    @Override
    public EntryOut lookup(long parent, byte[] name) throws FuseError {
        List<LayerDir> dirs = chain(parent);
        try {
            Inode top = null;
            int topLayer = -1;
            List<LayerDir> below = null; // the directories merged under a directory entry
            for (LayerDir d : dirs) {
                Optional<Inode> found = image(d.layer()).lookup(d.inode(), name);
                if (found.isEmpty()) {
                    continue;
                }
                Inode child = found.get();
                if (isWhiteout(d.layer(), child) || top != null && !child.isDirectory()) {
                    break;
                }
                byte opaque = child.isDirectory() ? opaqueOf(image(d.layer()), child) : 0;
                if (top == null) {
                    top = child;
                    topLayer = d.layer();
                    if (!child.isDirectory()) {
                        break;
                    }
                    below = new ArrayList<>();
                }
                below.add(new LayerDir(d.layer(), child, opaque));
                if (opaque == 'y') {
                    break;
                }
            }
            if (top == null) {
                throw new FuseError(Errno.ENOENT, "no such entry");
            }
            EntryOut e = layers.get(topLayer).entry(top);
            if (below != null && below.size() > 1) {
                merged.putIfAbsent(e.nodeid(), new MergedDir(below));
                e = new EntryOut(e.nodeid(), e.generation(), e.entryTimeout(), e.attrTimeout(), e.attr().withNlink(1));
            }
            return e;
        } catch (ErofsException e) {
            throw problem(dirs, e, name);
        }
    }

    @Override
    public AttrOut getattr(long nodeid) throws FuseError {
        AttrOut a = owner(layerNodeid(nodeid)).getattr(layerNodeid(nodeid));
        MergedDir m = mergedDir(nodeid);
        if (m != null && m.chain.size() > 1) {
            return new AttrOut(a.attrTimeout(), a.attr().withNlink(1)); // as overlayfs: it does not count a merged directory's subdirectories
        }
        return a;
    }

    @Override
    public byte[] readlink(long nodeid) throws FuseError {
        return owner(layerNodeid(nodeid)).readlink(layerNodeid(nodeid));
    }

    @Override
    public OpenOut open(long nodeid, int flags) throws FuseError {
        return owner(layerNodeid(nodeid)).open(layerNodeid(nodeid), flags);
    }

    @Override
    public int read(long nodeid, long fh, long offset, int size, MemorySegment dst) throws FuseError {
        return owner(nodeid).read(nodeid, fh, offset, size, dst);
    }

    @Override
    public void release(long nodeid, long fh) {
        int l = NodeIds.layerOf(nodeid);
        if (l >= 0 && l < layers.size()) {
            layers.get(l).release(nodeid, fh);
        }
    }

    @Override
    public OpenOut opendir(long nodeid) throws FuseError {
        chain(nodeid); // ENOTDIR for anything else
        return OpenOut.of(0, Protocol.FOPEN_CACHE_DIR | Protocol.FOPEN_KEEP_CACHE);
    }

    @Override
    public void readdir(long nodeid, long fh, long offset, DirentList out) throws FuseError {
        List<LayerDir> dirs = chain(nodeid);
        try {
            if (dirs.size() == 1) {
                readdirOneLayer(dirs.get(0), offset, out);
            } else {
                readdirMerged(nodeid, offset, out);
            }
        } catch (ErofsException e) {
            if (dirs.size() > 1 || out.count() == 0) {
                throw problem(dirs, e, null);
            }
            // the entries before a bad one are listed, the next READDIR fails on it
        }
    }

    /** EIO for a problem met in a (possibly merged) directory, logged under its top layer's image. */
    private FuseError problem(List<LayerDir> dirs, ErofsException e, byte[] name) {
        LayerDir top = dirs.get(0);
        return layers.get(top.layer()).problem(e, top.inode().nid(), name);
    }

    /** A directory only one layer has: its own listing and cookies, without whiteouts. */
    private void readdirOneLayer(LayerDir dir, long offset, DirentList out) throws ErofsException {
        ErofsFilesystem fs = layers.get(dir.layer());
        ErofsImage image = fs.image();
        image.directory(dir.inode()).readdir(offset, d -> {
            boolean dots = d.isDot() || d.isDotDot();
            Inode child = null;
            if (!dots && mayBeWhiteout(dir, d)) {
                child = image.inode(d.nid());
                if (isWhiteout(dir.layer(), child)) {
                    return true;
                }
            }
            byte[] name = d.shownName();
            if (!out.fits(name.length)) {
                return false;
            }
            int type = ErofsFilesystem.dtype(d.fileType());
            long ino = fs.ids().ino(d.nid());
            if (!out.isPlus()) {
                return out.add(ino, d.nextCookie(), type, name);
            }
            if (child == null && !dots) {
                child = image.inode(d.nid());
            }
            // an xwhiteout outside an announcing directory is listed (as by overlayfs) but has no entry: its lookup fails
            EntryOut e = dots || isWhiteout(dir.layer(), child) ? null : fs.entry(child);
            return out.addPlus(ino, d.nextCookie(), type, name, e);
        });
    }

    private void readdirMerged(long nodeid, long offset, DirentList out) throws ErofsException, FuseError {
        MergedDir m = mergedDir(nodeid);
        List<Listed> listing = m.listing;
        if (listing == null) {
            listing = listing(m.chain);
            m.listing = listing;
        }
        for (long i = Math.max(0, offset); i < listing.size(); i++) {
            Listed l = listing.get((int) i);
            if (!out.fits(l.name().length)) {
                return;
            }
            boolean added;
            if (!out.isPlus()) {
                added = out.add(l.ino(), i + 1, l.type(), l.name());
            } else {
                boolean dots = Arrays.equals(l.name(), DOT) || Arrays.equals(l.name(), DOTDOT);
                added = out.addPlus(l.ino(), i + 1, l.type(), l.name(), dots ? null : entryOrNone(nodeid, l.name()));
            }
            if (!added) {
                return;
            }
        }
    }

    /** The entry a READDIRPLUS sends for a listed name: none for an unannounced xwhiteout, which is listed but not found. */
    private EntryOut entryOrNone(long parent, byte[] name) throws FuseError {
        try {
            return lookup(parent, name);
        } catch (FuseError e) {
            if (e.errno() == Errno.ENOENT) {
                return null;
            }
            throw e;
        }
    }

    /** The union of the layers' entries, upper first, without whiteouts and what they hide. */
    private List<Listed> listing(List<LayerDir> chain) throws ErofsException {
        List<Listed> out = new ArrayList<>();
        LayerDir top = chain.get(0);
        long self = layers.get(top.layer()).ids().ino(top.inode().nid());
        out.add(new Listed(DOT, 4, self));
        out.add(new Listed(DOTDOT, 4, self)); // d_ino only: nothing resolves a dirent's inode number
        Set<String> seen = new HashSet<>();
        for (LayerDir d : chain) {
            ErofsFilesystem fs = layers.get(d.layer());
            fs.image().directory(d.inode()).readdir(0, e -> {
                if (e.isDot() || e.isDotDot() || !seen.add(new String(e.shownName(), StandardCharsets.ISO_8859_1))) {
                    return true;
                }
                if (mayBeWhiteout(d, e)) {
                    if (isWhiteout(d.layer(), fs.image().inode(e.nid()))) {
                        return true; // hidden, and it hides the name below
                    }
                }
                out.add(new Listed(e.shownName(), ErofsFilesystem.dtype(e.fileType()), fs.ids().ino(e.nid())));
                return true;
            });
        }
        return List.copyOf(out);
    }

    @Override
    public StatfsOut statfs(long nodeid) throws FuseError {
        return layers.get(root.chain.get(0).layer()).statfs(nodeid);
    }

    @Override
    public byte[] getxattr(long nodeid, byte[] name) throws FuseError {
        if (startsWith(name, PRIVATE_PREFIX)) {
            throw new FuseError(Errno.ENODATA, "no such xattr"); // overlayfs keeps its own xattrs to itself
        }
        return owner(layerNodeid(nodeid)).getxattr(layerNodeid(nodeid), name);
    }

    @Override
    public List<byte[]> listxattr(long nodeid) throws FuseError {
        List<byte[]> names = new ArrayList<>(owner(layerNodeid(nodeid)).listxattr(layerNodeid(nodeid)));
        names.removeIf(n -> startsWith(n, PRIVATE_PREFIX));
        return names;
    }

    private static boolean startsWith(byte[] name, String prefix) {
        byte[] p = prefix.getBytes(StandardCharsets.US_ASCII);
        return name.length >= p.length && Arrays.equals(name, 0, p.length, p, 0, p.length);
    }

    @Override
    public long lseek(long nodeid, long fh, long offset, int whence) throws FuseError {
        return owner(nodeid).lseek(nodeid, fh, offset, whence);
    }
}
