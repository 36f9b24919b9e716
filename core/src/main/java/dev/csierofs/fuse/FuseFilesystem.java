package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * A read-only filesystem in terms of FUSE nodeids (1 is the root), as {@link FuseSession} calls
 * it from several worker threads at once: implementations are thread-safe. Failures are
 * {@link FuseError}s carrying the errno to send. Write-type requests never reach it (the
 * session answers EROFS), nor do opcodes it does not list (ENOSYS).
 */
public interface FuseFilesystem {

    /**
     * Called once INIT is answered: {@code passthrough} registers backing files for
     * FOPEN_PASSTHROUGH opens, or is null when the kernel did not agree to passthrough.
     */
    default void initialized(PassthroughRegistry passthrough) {
    }

    /** The connection has ended (after unmount and stop): release what outlives single requests. */
    default void destroyed() {
    }

    /** The entry {@code name} in directory {@code parent}; ENOENT if there is none. */
    EntryOut lookup(long parent, byte[] name) throws FuseError;

    /** A lookup reference dropped by the kernel; nothing to free for stateless nodeids. */
    default void forget(long nodeid, long nlookup) {
    }

    AttrOut getattr(long nodeid) throws FuseError;

    byte[] readlink(long nodeid) throws FuseError;

    OpenOut open(long nodeid, int flags) throws FuseError;

    /** Reads up to {@code size} bytes at {@code offset} into {@code dst}; short only at end of file. */
    int read(long nodeid, long fh, long offset, int size, MemorySegment dst) throws FuseError;

    default void release(long nodeid, long fh) {
    }

    OpenOut opendir(long nodeid) throws FuseError;

    /** Fills {@code out} from the directory position {@code offset} (0: the start) until it is full. */
    void readdir(long nodeid, long fh, long offset, DirentList out) throws FuseError;

    default void releasedir(long nodeid, long fh) {
    }

    StatfsOut statfs(long nodeid) throws FuseError;

    /** The value of xattr {@code name}; ENODATA if absent. */
    byte[] getxattr(long nodeid, byte[] name) throws FuseError;

    /** Full names of the xattrs a listing shows. */
    List<byte[]> listxattr(long nodeid) throws FuseError;

    /** SEEK_DATA (3) or SEEK_HOLE (4) from {@code offset}; ENXIO past the end. */
    long lseek(long nodeid, long fh, long offset, int whence) throws FuseError;
}
