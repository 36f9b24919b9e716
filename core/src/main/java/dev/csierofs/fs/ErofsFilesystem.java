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
import dev.csierofs.fuse.OpenOut;
import dev.csierofs.fuse.Protocol;
import dev.csierofs.fuse.PassthroughRegistry;
import dev.csierofs.fuse.StatfsOut;
import dev.csierofs.sys.Errno;
import dev.csierofs.sys.SyscallException;
import dev.csierofs.cas.ContentStore;
import dev.csierofs.cas.PageCache;

import java.io.IOException;

import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import java.util.Set;
import java.util.logging.Logger;

/**
 * One EROFS image as a FUSE filesystem. Nodeids are derived from nids, so no table is kept and
 * a restarted daemon can answer any nodeid the kernel still holds: nodeid = nid + 1, except that
 * the root takes nodeid 1 and nid 0 takes the root's place (root nid + 1). Entries and
 * attributes are cached by the kernel for a day: the image never changes.
 */
public final class ErofsFilesystem implements ImageFilesystem {
    private static final Logger LOG = Logger.getLogger(ErofsFilesystem.class.getName());
    static final Duration TTL = Duration.ofDays(1);
    private static final int SEEK_DATA = 3;
    private static final int SEEK_HOLE = 4;

    private final ErofsImage image;
    private final NodeIds ids;
    private final ContentSharing sharing;
    private final String imageKey;
    private final ImageProblems problems;
    /** For READs served without the daemon's page cache (up to max_read, 1 MiB), shared by every mount. */
    private static final BufferPool READ_BUFFERS = new BufferPool(1 << 20, 2);

    /** Drops the READ buffers kept between uses, for a daemon gone idle. */
    static void releaseReadBuffers() {
        READ_BUFFERS.release();
    }
    /** Null until INIT, and when the kernel did not agree to passthrough or refused a backing file. */
    private volatile PassthroughRegistry passthrough;
    /**
     * Each open inode: its data (kept from OPEN to the last RELEASE, so READs reuse one FileData:
     * a compressed file's map is parsed once) and the one mode all its opens share.
     */
    private final java.util.concurrent.ConcurrentHashMap<Long, OpenInode> open = new java.util.concurrent.ConcurrentHashMap<>();

    /** Guarded by itself. {@code dead} once its last open is released (a racing opener then starts over). */
    private static final class OpenInode {
        FileData data;
        int count;
        boolean dead;
        /** Non-null: every open of this inode passes through to this store file. */
        ContentStore.Lease lease;
        /** The daemon page cache key of this content (cached mode). */
        Object pageKey;
        /**
         * Passthrough inodes keep their backing id (one extra registry reference) and store lease
         * after their last release, on the daemon's {@link IdleInodes} list, so that reopening
         * the file costs one OPEN round trip and no backing-file setup. Dropped when evicted from it.
         */
        boolean retained;
        /** The {@link ContentStore.Lease#generation} of the store file the registered backing id was opened on. */
        int backingGeneration;
    }


    /** The image's content, for an inode whose digest is not verified yet: never shared with another image. */
    private record ImageInode(String imageKey, long nid) {
    }

    /** An image served without any sharing (no store, no daemon page cache). */
    public ErofsFilesystem(ErofsImage image) {
        this(image, ContentSharing.none(), "unshared");
    }

    /**
     * An image served with the node's {@code sharing}; {@code imageKey} names the image's
     * content (a blob digest, or a file identity) for the digests remembered per inode.
     */
    public ErofsFilesystem(ErofsImage image, ContentSharing sharing, String imageKey) {
        this(image, sharing, imageKey, NodeIds.single(image.rootNid()));
    }

    /** One layer of a stack: its nodeids as {@code ids} makes them (see {@link OverlayFilesystem}). */
    ErofsFilesystem(ErofsImage image, ContentSharing sharing, String imageKey, NodeIds ids) {
        this.image = image;
        this.ids = ids;
        this.sharing = sharing;
        this.imageKey = imageKey;
        this.problems = ImageProblems.of(image);
    }

    ErofsImage image() {
        return image;
    }

    NodeIds ids() {
        return ids;
    }

    @Override
    public void initialized(PassthroughRegistry registry) {
        this.passthrough = sharing.passthroughWanted() ? registry : null;
        if (passthrough != null) {
            sharing.store().onPressure(releaseIdle);
        }
    }

    /** Lets every idle inode of this mount go (the store needs room); one instance, to unregister it. */
    private final Runnable releaseIdle = this::releaseIdleInodes;

    private void releaseIdleInodes() {
        for (long k : sharing.idleInodes().removeAll(this)) {
            evict(k);
        }
    }

    @Override
    public String mode() {
        if (passthrough != null && sharing.store().budget() == 0) {
            return "daemon page cache (the content store's budget is 0, so nothing passes through)";
        }
        if (passthrough != null) {
            return "passthrough to the content store " + sharing.store().root();
        }
        if (sharing.passthroughWanted()) {
            return "daemon page cache (the kernel did not agree to passthrough)";
        }
        return sharing.pageCache().maxBytes() > 0 ? "daemon page cache (passthrough off)" : "daemon reads (no sharing)";
    }

    Inode inode(long nodeid) throws FuseError {
        try {
            return image.inode(ids.nid(nodeid));
        } catch (ErofsException e) {
            throw io(e, nodeid);
        }
    }

    /** EIO for a problem of the image met serving {@code nodeid}, logged once (see {@link ImageProblems}). */
    FuseError io(ErofsException e, long nodeid) {
        return problem(e, ids.nid(nodeid), null);
    }

    /** EIO for a problem met looking up {@code name} in directory {@code parent}. */
    FuseError io(ErofsException e, long parent, byte[] name) {
        return problem(e, ids.nid(parent), name);
    }

    /** EIO for a problem with the inode {@code nid} of this image (or with its entry {@code name}, if not null). */
    FuseError problem(ErofsException e, long nid, byte[] name) {
        problems.report(nid, name, e);
        return new FuseError(Errno.EIO, e.getMessage());
    }

    Attr attr(Inode i) {
        // As Linux's EROFS counts st_blocks: the compressed block count of compressed inodes,
        // else the size rounded up to whole filesystem blocks (in 512-byte units either way).
        int bits = image.superblock().blkszbits();
        long nblks = i.isCompressed() ? i.startBlk() : 0;
        long blocks = nblks != 0 ? nblks << (bits - 9) : ((i.size() + image.blockSize() - 1) >>> bits) << (bits - 9);
        int rdev = i.isDevice() ? Attr.encodeDev(i.rdevMajor(), i.rdevMinor()) : 0;
        return new Attr(ids.ino(i.nid()), i.size(), blocks, i.mtime(), i.mtime(), i.mtime(), i.mtimeNsec(), i.mtimeNsec(), i.mtimeNsec(),
                i.mode(), (int) i.nlink(), (int) i.uid(), (int) i.gid(), rdev, image.blockSize(), 0);
    }

    EntryOut entry(Inode i) {
        return new EntryOut(ids.nodeid(i.nid()), 0, TTL, TTL, attr(i));
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
            throw io(e, parent, name);
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
            throw io(e, nodeid);
        }
    }

    @Override
    public OpenOut open(long nodeid, int flags) throws FuseError {
        Inode i = inode(nodeid);
        if (i.isDirectory()) {
            throw new FuseError(Errno.EISDIR, "is a directory");
        }
        while (true) {
            OpenInode o = open.computeIfAbsent(nodeid, k -> new OpenInode());
            synchronized (o) {
                if (o.dead) {
                    continue; // released meanwhile: start over with a fresh entry
                }
                boolean fresh = o.count == 0 && !o.retained;
                try {
                    if (fresh) {
                        firstOpen(o, nodeid, i);
                    } else if (o.lease != null) {
                        recheck(o, nodeid, i);
                    }
                } catch (FuseError | RuntimeException e) {
                    if (o.count == 0) {
                        o.dead = true;
                        open.remove(nodeid, o);
                    }
                    throw e;
                }
                if (o.lease != null) {
                    if (o.count == 0 && !o.retained) {
                        o.backingGeneration = o.lease.generation(); // the backing file is opened now
                    }
                    int id;
                    try {
                        id = backingId(nodeid, o.lease);
                    } catch (FuseError e) {
                        if (o.count > 0) {
                            throw e; // other opens pass through: this one cannot be served another way
                        }
                        o.lease.close(); // the first open: serve the inode cached instead
                        o.lease = null;
                        id = -1;
                        if (o.data == null) { // a retained inode whose backing file the kernel now refuses
                            o.data = openData(i);
                        }
                    }
                    if (o.lease != null) {
                        if (!o.retained) {
                            try {
                                backingId(nodeid, o.lease); // the reference the idle list holds
                                o.retained = true;
                            } catch (FuseError notKept) {
                                // served all the same; the id just goes with the last release
                            }
                        }
                        // the kernel reads this inode from the store file from now on: its decoder
                        // state (compressed maps, a decoded cluster) would only take heap
                        o.data = null;
                        if (!fresh) {
                            // another open (another pod's bind mount of this mount, say) already holds this
                            // content: these bytes cost no second copy of page cache
                            sharing.sharedBytes.addAndGet(i.size());
                        }
                        o.count++;
                        sharing.passthroughOpens.incrementAndGet();
                        return new OpenOut(0, Protocol.FOPEN_PASSTHROUGH | Protocol.FOPEN_NOFLUSH, id);
                    }
                }
                o.count++;
                sharing.cachedOpens.incrementAndGet();
                return OpenOut.of(0, Protocol.FOPEN_KEEP_CACHE | Protocol.FOPEN_NOFLUSH);
            }
        }
    }

    /**
     * Before a passthrough inode that is open or idle gets one more open: its store file must
     * still hold its content (hashed again if its inode, size or change time changed; restored
     * from the image if damaged). An idle inode whose store file was replaced lets its backing
     * file go and opens the new one; while other opens still read through the old one, this open
     * fails with EIO rather than read bytes that were found wrong. Holds {@code o}'s lock.
     */
    private void recheck(OpenInode o, long nodeid, Inode i) throws FuseError {
        boolean alive = sharing.verify(o.lease, image, i);
        if (alive && o.backingGeneration == o.lease.generation()) {
            return;
        }
        if (o.count > 0) {
            throw new FuseError(Errno.EIO, "the store copy of " + i.label() + " was damaged and is being replaced; it opens "
                    + "again once the files open on it are closed");
        }
        if (o.retained) {
            PassthroughRegistry registry = passthrough;
            if (registry != null) {
                try {
                    registry.release(nodeid); // the idle list's reference: the old backing file goes
                } catch (SyscallException e) {
                    LOG.warning("closing the backing file of node " + nodeid + ": " + e.getMessage());
                }
            }
            o.retained = false;
            sharing.idleInodes().forget(this, nodeid);
        }
        if (!alive) {
            o.lease.close();
            o.lease = null;
            firstOpen(o, nodeid, i); // stores the content again, or serves it cached
        } else if (o.data == null) {
            o.data = openData(i);
        }
    }

    /** Decides the mode of an inode that has no open yet. Holds {@code o}'s lock. */
    private void firstOpen(OpenInode o, long nodeid, Inode i) throws FuseError {
        o.data = openData(i);
        ContentSharing.Resolved r = sharing.resolve(image, imageKey, i, o.data, passthrough != null);
        o.lease = r.lease();
        // pages are shared by content only once the content is verified; until then, only within this image
        o.pageKey = r.digest() != null ? r.digest() : new ImageInode(imageKey, i.nid());
    }

    /** The backing id for one more passthrough open of {@code nodeid}; turns passthrough off for this mount if the kernel refuses it. */
    private int backingId(long nodeid, ContentStore.Lease lease) throws FuseError {
        PassthroughRegistry registry = passthrough;
        if (registry == null) {
            throw new FuseError(Errno.EIO, "passthrough was turned off");
        }
        try {
            return registry.open(nodeid, lease::openReadOnly);
        } catch (SyscallException e) {
            if (e.errno() == Errno.EPERM) {
                passthrough = null;
                LOG.warning("the kernel refused a passthrough backing file (" + e.getMessage() + "; it needs CAP_SYS_ADMIN);"
                        + " this mount serves files from the daemon's page cache from now on");
            } else {
                LOG.warning("passthrough backing file for " + lease.digest() + ": " + e.getMessage() + "; serving it cached");
            }
            throw new FuseError(Errno.EIO, e.getMessage());
        } catch (IOException e) {
            LOG.warning("passthrough backing file for " + lease.digest() + ": " + e.getMessage() + "; serving it cached");
            throw new FuseError(Errno.EIO, e.getMessage());
        }
    }

    @Override
    public void release(long nodeid, long fh) {
        OpenInode o = open.get(nodeid);
        if (o == null) {
            return;
        }
        List<IdleInodes.Key> evicted = List.of();
        synchronized (o) {
            if (o.dead || o.count == 0) {
                return;
            }
            if (o.lease != null && passthrough != null) {
                try {
                    passthrough.release(nodeid);
                } catch (SyscallException e) {
                    LOG.warning("closing the backing file of node " + nodeid + ": " + e.getMessage());
                }
            }
            if (--o.count == 0) {
                if (o.retained) {
                    evicted = keepIdle(nodeid);
                } else {
                    drop(nodeid, o);
                }
            }
        }
        for (IdleInodes.Key k : evicted) { // outside o's lock: eviction takes other inodes' locks
            k.fs().evict(k.nodeid());
        }
    }

    /** Puts a retained inode on the daemon's idle list; returns the inodes (of any mount) pushed out of it. */
    private List<IdleInodes.Key> keepIdle(long nodeid) {
        return sharing.idleInodes().keep(this, nodeid);
    }

    /** Lets an idle inode go: its backing id and store lease, unless it was opened again meanwhile. */
    private void evict(long nodeid) {
        OpenInode o = open.get(nodeid);
        if (o == null) {
            return;
        }
        synchronized (o) {
            if (o.dead || o.count > 0 || !o.retained) {
                return; // reopened: it goes back on the idle list at its next last release
            }
            PassthroughRegistry registry = passthrough;
            if (registry != null) {
                try {
                    registry.release(nodeid);
                } catch (SyscallException e) {
                    LOG.warning("closing the backing file of node " + nodeid + ": " + e.getMessage());
                }
            }
            drop(nodeid, o);
        }
    }

    /** Forgets an inode with no open. Holds its lock. */
    private void drop(long nodeid, OpenInode o) {
        o.dead = true;
        o.retained = false;
        open.remove(nodeid, o);
        if (o.lease != null) {
            o.lease.close();
        }
    }

    /** The mount is gone: let every idle inode's store file go (the kernel closed the backing ids with the connection). */
    @Override
    public void destroyed() {
        if (sharing.store() != null) {
            sharing.store().removePressure(releaseIdle);
        }
        passthrough = null; // the connection is gone: nothing to BACKING_CLOSE
        releaseIdle.run();
    }

    /** Inodes of this mount kept ready for passthrough after their last release (tests). */
    int idleCount() {
        return sharing.idleInodes().count(this);
    }

    private FileData openData(Inode i) throws FuseError {
        try {
            return image.openData(i);
        } catch (ErofsException e) {
            throw io(e, ids.nodeid(i.nid()));
        }
    }

    @Override
    public int read(long nodeid, long fh, long offset, int size, MemorySegment dst) throws FuseError {
        OpenInode o = open.get(nodeid);
        FileData data;
        Object key;
        long fileSize;
        if (o != null && o.data != null) {
            data = o.data;
            key = o.pageKey;
        } else { // a READ always follows an OPEN; be safe anyway
            Inode i = inode(nodeid);
            data = openData(i);
            key = new ImageInode(imageKey, i.nid());
        }
        try {
            PageCache cache = sharing.pageCache();
            if (cache.maxBytes() == 0 || key == null) {
                byte[] buf = size <= 1 << 20 ? READ_BUFFERS.take() : new byte[size];
                try {
                    int n = data.read(offset, buf, 0, size);
                    MemorySegment.copy(MemorySegment.ofArray(buf), 0, dst, 0, n);
                    return n;
                } finally {
                    READ_BUFFERS.give(buf);
                }
            }
            return readThroughCache(cache, key, data, offset, size, dst);
        } catch (ErofsException e) {
            throw io(e, nodeid);
        }
    }

    /** Serves a READ page by page from the daemon's page cache, decoding the pages it lacks. */
    private int readThroughCache(PageCache cache, Object key, FileData data, long offset, int size, MemorySegment dst)
            throws ErofsException {
        int done = 0;
        while (done < size) {
            long pos = offset + done;
            long index = pos / PageCache.PAGE_SIZE;
            PageCache.Key k = new PageCache.Key(key, index);
            byte[] page = cache.get(k);
            if (page == null) {
                byte[] buf = new byte[PageCache.PAGE_SIZE];
                int n = data.read(index * PageCache.PAGE_SIZE, buf, 0, buf.length);
                page = n == buf.length ? buf : java.util.Arrays.copyOf(buf, n);
                cache.put(k, page);
            }
            int inPage = (int) (pos - index * PageCache.PAGE_SIZE);
            int k2 = Math.min(size - done, page.length - inPage);
            if (k2 <= 0) {
                break; // end of file
            }
            MemorySegment.copy(page, inPage, dst, java.lang.foreign.ValueLayout.JAVA_BYTE, done, k2);
            done += k2;
        }
        return done;
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
                byte[] name = d.shownName();
                if (!out.fits(name.length)) {
                    return false;
                }
                int type = dtype(d.fileType());
                if (!out.isPlus()) {
                    return out.add(ids.ino(d.nid()), d.nextCookie(), type, name);
                }
                EntryOut e = null;
                if (!d.isDot() && !d.isDotDot()) {
                    try {
                        e = entry(image.inode(d.nid()));
                    } catch (ErofsException unreadable) {
                        // listed without attributes, as the kernel lists a name whose inode it cannot read: the lookup then fails
                    }
                }
                return out.addPlus(ids.ino(d.nid()), d.nextCookie(), type, name, e);
            });
        } catch (ErofsException e) {
            if (out.count() == 0) {
                throw io(e, nodeid);
            }
            // as the kernel's EROFS: the entries before a bad one are listed, the next READDIR fails on it
        }
    }

    /** EROFS_FT_* to the DT_* a dirent carries. */
    static int dtype(int fileType) {
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

    private static final Set<String> BARE_PREFIXES = Set.of("user.", "trusted.", "security.");

    @Override
    public byte[] getxattr(long nodeid, byte[] name) throws FuseError {
        if (BARE_PREFIXES.contains(new String(name, StandardCharsets.ISO_8859_1))) {
            // the kernel's xattr handlers refuse a namespace prefix without a name (a damaged image may list one)
            throw new FuseError(Errno.EINVAL, "xattr name without a name after its namespace prefix");
        }
        try {
            return image.xattrs().get(inode(nodeid), new String(name, StandardCharsets.UTF_8))
                    .orElseThrow(() -> new FuseError(Errno.ENODATA, "no such xattr"));
        } catch (ErofsException e) {
            throw io(e, nodeid);
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
            throw io(e, nodeid);
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
            throw io(e, nodeid);
        }
    }
}
