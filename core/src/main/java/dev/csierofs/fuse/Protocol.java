package dev.csierofs.fuse;

/**
 * The numbers of the FUSE kernel ABI that are not struct layouts: versions, INIT capability
 * flags, open-reply flags, request flags and the ioctls on the {@code /dev/fuse} fd. Values are
 * those of the Linux UAPI header {@code include/uapi/linux/fuse.h} (protocol 7.45, Linux 6.18).
 *
 * <p>INIT capabilities are 64-bit here, as in the header: bits 0..31 travel in
 * {@code fuse_init_in/out.flags}, bits 32..63 in {@code flags2} (only when both sides set
 * {@link #INIT_EXT}). {@link InitIn#capabilities()} and {@link InitOut#capabilities()} use the
 * same encoding, so a flag is tested the same way whichever word carries it.
 */
public final class Protocol {
    private Protocol() {
    }

    /** The only protocol major version there is. */
    public static final int KERNEL_VERSION = 7;
    /** The highest minor version this code speaks (Linux 6.18). */
    public static final int KERNEL_MINOR_VERSION = 45;
    /**
     * The lowest kernel minor accepted. Kernels before 7.23 (Linux 3.15) expect a 24-byte
     * {@code fuse_init_out} and would reject our 64-byte reply.
     */
    public static final int MIN_KERNEL_MINOR = 23;

    /** The nodeid of the mount's root directory. */
    public static final long ROOT_ID = 1;
    /** The kernel refuses {@code read()}s on /dev/fuse smaller than this. */
    public static final int MIN_READ_BUFFER = 8192;
    /** Longest name the kernel accepts in a lookup or a directory entry (fs/fuse/fuse_i.h). */
    public static final int NAME_MAX = 1024;
    /** Set in {@code in_header.unique} when the kernel resends a request after FUSE_NOTIFY_RESEND. */
    public static final long UNIQUE_RESEND = 1L << 63;

    // INIT capabilities (fuse_init_in/out flags, and flags2 shifted up by 32).
    public static final long INIT_ASYNC_READ = 1L << 0;
    public static final long INIT_POSIX_LOCKS = 1L << 1;
    public static final long INIT_ATOMIC_O_TRUNC = 1L << 3;
    public static final long INIT_EXPORT_SUPPORT = 1L << 4;
    public static final long INIT_BIG_WRITES = 1L << 5;
    public static final long INIT_FLOCK_LOCKS = 1L << 10;
    public static final long INIT_AUTO_INVAL_DATA = 1L << 12;
    public static final long INIT_DO_READDIRPLUS = 1L << 13;
    public static final long INIT_READDIRPLUS_AUTO = 1L << 14;
    public static final long INIT_ASYNC_DIO = 1L << 15;
    /** Never with passthrough: the kernel then silently leaves passthrough off. */
    public static final long INIT_WRITEBACK_CACHE = 1L << 16;
    public static final long INIT_NO_OPEN_SUPPORT = 1L << 17;
    public static final long INIT_PARALLEL_DIROPS = 1L << 18;
    public static final long INIT_POSIX_ACL = 1L << 20;
    /** The reply's {@code max_pages} is valid. */
    public static final long INIT_MAX_PAGES = 1L << 22;
    public static final long INIT_CACHE_SYMLINKS = 1L << 23;
    public static final long INIT_NO_OPENDIR_SUPPORT = 1L << 24;
    public static final long INIT_EXPLICIT_INVAL_DATA = 1L << 25;
    /** {@code flags2} is valid (protocol 7.36 and later). */
    public static final long INIT_EXT = 1L << 30;
    public static final long INIT_DIRECT_IO_ALLOW_MMAP = 1L << 36;
    /** Open replies may name a backing file ({@link #FOPEN_PASSTHROUGH}); flags2 bit 5. */
    public static final long INIT_PASSTHROUGH = 1L << 37;
    public static final long INIT_NO_EXPORT_SUPPORT = 1L << 38;
    public static final long INIT_HAS_RESEND = 1L << 39;
    public static final long INIT_ALLOW_IDMAP = 1L << 40;
    public static final long INIT_OVER_IO_URING = 1L << 41;
    public static final long INIT_REQUEST_TIMEOUT = 1L << 42;

    // fuse_open_out.open_flags
    /** Bypass the page cache: every read of this open file goes to the daemon. */
    public static final int FOPEN_DIRECT_IO = 1 << 0;
    /** Keep the file's page cache across opens (without it every open drops it). */
    public static final int FOPEN_KEEP_CACHE = 1 << 1;
    public static final int FOPEN_NONSEEKABLE = 1 << 2;
    /** Let the kernel cache this directory's readdir results. */
    public static final int FOPEN_CACHE_DIR = 1 << 3;
    public static final int FOPEN_NOFLUSH = 1 << 5;
    /** I/O goes to the backing file named by {@code fuse_open_out.backing_id}. */
    public static final int FOPEN_PASSTHROUGH = 1 << 7;

    // request flags
    /** {@code fuse_getattr_in.getattr_flags}: {@code fh} is valid. */
    public static final int GETATTR_FH = 1 << 0;
    /** {@code fuse_release_in.release_flags}: flush before release. */
    public static final int RELEASE_FLUSH = 1 << 0;
    /** {@code fuse_read_in.read_flags}: {@code lock_owner} is valid. */
    public static final int READ_LOCKOWNER = 1 << 1;
    // The ioctls on the /dev/fuse fd (CLONE, BACKING_OPEN/CLOSE) live with the device: sys.FuseDevice.
}
