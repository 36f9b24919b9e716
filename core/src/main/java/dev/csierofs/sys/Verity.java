package dev.csierofs.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * fs-verity (ext4 made with {@code -O verity}, btrfs, f2fs): once enabled on a file, the file is
 * read-only for good and the kernel checks every page read from disk against a Merkle tree of
 * SHA-256 hashes, failing the read with EIO on a mismatch; that covers read(2), mmap and FUSE
 * passthrough alike. The file's fs-verity digest ({@link #measure}) names the whole tree: equal
 * digests, equal content.
 */
public final class Verity {
    /** FS_VERITY_HASH_ALG_SHA256. */
    public static final int SHA256 = 1;
    /** The Merkle tree block size we ask for (the page size of every platform we run on). */
    public static final int BLOCK_SIZE = 4096;
    private static final long ENABLE = ioc(1, 133, 128); // _IOW('f', 133, struct fsverity_enable_arg)
    private static final long MEASURE = ioc(3, 134, 4); // _IOWR('f', 134, struct fsverity_digest)
    private static final int ENOTTY = 25;
    private static final int ETXTBSY = 26;

    private Verity() {
    }

    private static long ioc(int dir, int nr, int size) {
        return ((long) dir << 30) | ((long) size << 16) | ('f' << 8) | nr;
    }

    /**
     * FS_IOC_ENABLE_VERITY with SHA-256 and 4 KiB blocks, no salt. {@code fd} is an O_RDONLY fd and
     * nobody may have the file open for writing (ETXTBSY). The kernel reads the whole file to
     * build the tree. EEXIST: already enabled.
     */
    public static void enable(int fd) throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment arg = a.allocate(128, 8); // struct fsverity_enable_arg, zeroed: no salt, no signature
            arg.set(ValueLayout.JAVA_INT, 0, 1); // version
            arg.set(ValueLayout.JAVA_INT, 4, SHA256);
            arg.set(ValueLayout.JAVA_INT, 8, BLOCK_SIZE);
            Libc.ioctl(fd, ENABLE, "FS_IOC_ENABLE_VERITY", arg);
        }
    }

    /**
     * FS_IOC_MEASURE_VERITY: the file's fs-verity digest (32 bytes for SHA-256), or null when
     * fs-verity is not enabled on it (ENODATA) or the filesystem has none (ENOTTY, EOPNOTSUPP).
     */
    public static byte[] measure(int fd) throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment d = a.allocate(4 + 64, 8); // struct fsverity_digest with room for the largest digest
            d.set(ValueLayout.JAVA_SHORT, 2, (short) 64); // digest_size: room given
            try {
                Libc.ioctl(fd, MEASURE, "FS_IOC_MEASURE_VERITY", d);
            } catch (SyscallException e) {
                if (unsupported(e) || e.errno() == Errno.ENODATA) {
                    return null;
                }
                throw e;
            }
            int alg = d.get(ValueLayout.JAVA_SHORT, 0);
            int size = d.get(ValueLayout.JAVA_SHORT, 2) & 0xffff;
            if (alg != SHA256 || size != 32) {
                throw new SyscallException("ioctl", "fd " + fd + ", FS_IOC_MEASURE_VERITY", Errno.EINVAL,
                        "digest algorithm " + alg + " of " + size + " bytes, not SHA-256");
            }
            return d.asSlice(4, 32).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Whether {@code e} says the filesystem (or kernel) has no fs-verity. */
    public static boolean unsupported(SyscallException e) {
        return e.errno() == ENOTTY || e.errno() == Errno.EOPNOTSUPP || e.errno() == Errno.EINVAL;
    }

    /** Whether {@code e} says the file is open for writing somewhere. */
    public static boolean busy(SyscallException e) {
        return e.errno() == ETXTBSY;
    }
}
