package dev.csierofs.fs;

import dev.csierofs.erofs.Dirent;
import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.Xattr;
import dev.csierofs.fuse.Attr;
import dev.csierofs.fuse.AttrOut;
import dev.csierofs.fuse.DirentList;
import dev.csierofs.fuse.EntryOut;
import dev.csierofs.fuse.FuseError;
import dev.csierofs.fuse.FuseFilesystem;
import dev.csierofs.fuse.OpenOut;
import dev.csierofs.fuse.Protocol;
import dev.csierofs.fuse.StatfsOut;
import dev.csierofs.sys.Errno;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.logging.Logger;

/**
 * One EROFS image as a FUSE filesystem. Nodeids are derived from nids, so no table is kept and
 * a restarted daemon can answer any nodeid the kernel still holds: nodeid = nid + 1, except that
 * the root takes nodeid 1 and nid 0 takes the root's place (root nid + 1). Entries and
 * attributes are cached by the kernel for a day: the image never changes.
 */
public final class ErofsFilesystem implements FuseFilesystem {
    private static final Logger LOG = Logger.getLogger(ErofsFilesystem.class.getName());
    static final Duration TTL = Duration.ofDays(1);
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;

    private final ErofsImage image;
    private final long rootNid;
    private final ThreadLocal<byte[]> readBuffer = ThreadLocal.withInitial(() -> new byte[1 << 20]);
    /**
     * The data of each open inode, kept from OPEN to the last RELEASE so that READs reuse one
     * FileData (a compressed file's map is parsed once, its last decoded extent stays warm).
     */
    private final java.util.concurrent.ConcurrentHashMap<Long, OpenData> open = new java.util.concurrent.ConcurrentHashMap<>();

    private record OpenData(FileData data, int count) {
    }

    public ErofsFilesystem(ErofsImage image) {
        this.image = image;
        this.rootNid = image.rootNid();
    }

    long nodeid(long nid) {
        if (nid == rootNid) {
            return Protocol.ROOT_ID;
        }
        return nid == 0 ? rootNid + 1 : nid + 1;
    }

    long nid(long nodeid) {
        if (nodeid == Protocol.ROOT_ID) {
            return rootNid;
        }
        return nodeid == rootNid + 1 ? 0 : nodeid - 1;
    }

    private Inode inode(long nodeid) throws FuseError {
        try {
            return image.inode(nid(nodeid));
        } catch (ErofsException e) {
            throw io(e);
        }
    }

    private static FuseError io(ErofsException e) {
        LOG.warning("image read failed: " + e.getMessage());
        return new FuseError(Errno.EIO, e.getMessage());
    }

    Attr attr(Inode i) {
        // As Linux's EROFS counts st_blocks: the compressed block count of compressed inodes,
        // else the size rounded up to whole filesystem blocks (in 512-byte units either way).
        int bits = image.superblock().blkszbits();
        long nblks = i.isCompressed() ? i.startBlk() : 0;
        long blocks = nblks != 0 ? nblks << (bits - 9) : ((i.size() + image.blockSize() - 1) >>> bits) << (bits - 9);
        int rdev = i.isDevice() ? Attr.encodeDev(i.rdevMajor(), i.rdevMinor()) : 0;
        return new Attr(i.nid(), i.size(), blocks, i.mtime(), i.mtime(), i.mtime(), i.mtimeNsec(), i.mtimeNsec(), i.mtimeNsec(),
                i.mode(), (int) i.nlink(), (int) i.uid(), (int) i.gid(), rdev, image.blockSize(), 0);
    }

    private EntryOut entry(Inode i) {
        return new EntryOut(nodeid(i.nid()), 0, TTL, TTL, attr(i));
    }

    @Override
    public EntryOut lookup(long parent, byte[] name) throws FuseError {
        Inode dir = inode(parent);
        if (!dir.isDirectory()) {
            throw new FuseError(Errno.ENOTDIR, "not a directory");
        }
        try {
            Optional<Inode> child = image.lookup(dir, name);
            if (child.isEmpty()) {
                throw new FuseError(Errno.ENOENT, "no such entry");
            }
            return entry(child.get());
        } catch (ErofsException e) {
            throw io(e);
        }
    }

    @Override
    public AttrOut getattr(long nodeid) throws FuseError {
        return new AttrOut(TTL, attr(inode(nodeid)));
    }

    @Override
    public byte[] readlink(long nodeid) throws FuseError {
        Inode i = inode(nodeid);
        if (!i.isSymlink()) {
            throw new FuseError(Errno.EINVAL, "not a symlink");
        }
        try {
            return image.readlink(i);
        } catch (ErofsException e) {
            throw io(e);
        }
    }

    @Override
    public OpenOut open(long nodeid, int flags) throws FuseError {
        Inode i = inode(nodeid);
        if (i.isDirectory()) {
            throw new FuseError(Errno.EISDIR, "is a directory");
        }
        FileData data = openData(i);
        open.merge(nodeid, new OpenData(data, 1), (a, b) -> new OpenData(a.data, a.count + 1));
        return OpenOut.of(0, Protocol.FOPEN_KEEP_CACHE | Protocol.FOPEN_NOFLUSH);
    }

    @Override
    public void release(long nodeid, long fh) {
        open.computeIfPresent(nodeid, (k, o) -> o.count > 1 ? new OpenData(o.data, o.count - 1) : null);
    }

    private FileData openData(Inode i) throws FuseError {
        try {
            return image.openData(i);
        } catch (ErofsException e) {
            throw io(e);
        }
    }

    @Override
    public int read(long nodeid, long fh, long offset, int size, MemorySegment dst) throws FuseError {
        byte[] buf = readBuffer.get();
        if (buf.length < size) {
            buf = new byte[size];
            readBuffer.set(buf);
        }
        OpenData o = open.get(nodeid);
        FileData data = o != null ? o.data : openData(inode(nodeid)); // a READ always follows an OPEN; be safe anyway
        try {
            int n = data.read(offset, buf, 0, size);
            MemorySegment.copy(MemorySegment.ofArray(buf), 0, dst, 0, n);
            return n;
        } catch (ErofsException e) {
            throw io(e);
        }
    }

    @Override
    public OpenOut opendir(long nodeid) throws FuseError {
        if (!inode(nodeid).isDirectory()) {
            throw new FuseError(Errno.ENOTDIR, "not a directory");
        }
        // the listing never changes: let the kernel cache it across opens
        return OpenOut.of(0, Protocol.FOPEN_CACHE_DIR | Protocol.FOPEN_KEEP_CACHE);
    }

    @Override
    public void readdir(long nodeid, long fh, long offset, DirentList out) throws FuseError {
        Inode dir = inode(nodeid);
        try {
            image.directory(dir).readdir(offset, d -> {
                if (!out.fits(d.name().length)) {
                    return false;
                }
                int type = dtype(d.fileType());
                if (!out.isPlus()) {
                    return out.add(d.nid(), d.nextCookie(), type, d.name());
                }
                EntryOut e = d.isDot() || d.isDotDot() ? null : entry(image.inode(d.nid()));
                return out.addPlus(d.nid(), d.nextCookie(), type, d.name(), e);
            });
        } catch (ErofsException e) {
            throw io(e);
        }
    }

    /** EROFS_FT_* to the DT_* a dirent carries. */
    private static int dtype(int fileType) {
        return switch (fileType) {
            case Dirent.FT_REG_FILE -> 8;
            case Dirent.FT_DIR -> 4;
            case Dirent.FT_CHRDEV -> 2;
            case Dirent.FT_BLKDEV -> 6;
            case Dirent.FT_FIFO -> 1;
            case Dirent.FT_SOCK -> 12;
            case Dirent.FT_SYMLINK -> 10;
            default -> 0;
        };
    }

    @Override
    public StatfsOut statfs(long nodeid) {
        var sb = image.superblock();
        return new StatfsOut(sb.blocks(), 0, 0, sb.inos(), 0, sb.blockSize(), 255, sb.blockSize());
    }

    @Override
    public byte[] getxattr(long nodeid, byte[] name) throws FuseError {
        try {
            return image.xattrs().get(inode(nodeid), new String(name, StandardCharsets.UTF_8))
                    .orElseThrow(() -> new FuseError(Errno.ENODATA, "no such xattr"));
        } catch (ErofsException e) {
            throw io(e);
        }
    }

    @Override
    public List<byte[]> listxattr(long nodeid) throws FuseError {
        try {
            List<byte[]> names = new ArrayList<>();
            for (Xattr x : image.xattrs().list(inode(nodeid))) {
                names.add(x.name());
            }
            return names;
        } catch (ErofsException e) {
            throw io(e);
        }
    }

    @Override
    public long lseek(long nodeid, long fh, long offset, int whence) throws FuseError {
        Inode i = inode(nodeid);
        if (offset < 0 || offset >= i.size()) {
            throw new FuseError(Errno.ENXIO, "offset past the end");
        }
        try {
            FileData data = image.openData(i);
            return switch (whence) {
                case SEEK_DATA -> {
                    long p = data.nextData(offset);
                    if (p >= i.size()) {
                        throw new FuseError(Errno.ENXIO, "no data after the offset");
                    }
                    yield p;
                }
                case SEEK_HOLE -> data.nextHole(offset);
                default -> throw new FuseError(Errno.EINVAL, "whence " + whence);
            };
        } catch (ErofsException e) {
            throw io(e);
        }
    }
}
