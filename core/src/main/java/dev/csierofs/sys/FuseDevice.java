package dev.csierofs.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;

/**
 * One open file of {@code /dev/fuse}: the daemon's end of a FUSE connection, spoken to with raw
 * read(2)/write(2) of protocol messages and a few ioctls. The fd is opened O_RDWR|O_CLOEXEC and
 * blocking ({@link #setNonBlocking} changes that). It joins a connection either by being named in
 * a mount's {@code fd=} option ({@link FuseMount}) or by {@link #cloneSession()} of a device that
 * already has one.
 *
 * <p>Reads and writes may run from several threads at once (the kernel hands every request to
 * exactly one reader). Closing the last fd of a connection aborts it: pending requests fail with
 * ENOTCONN for their callers. Do not close while another thread still reads this fd.
 */
public final class FuseDevice implements AutoCloseable {
    public static final String PATH = "/dev/fuse";

    /** ioctl FUSE_DEV_IOC_CLONE = _IOR(229, 0, uint32_t): attach this fd to the connection of another. */
    public static final int IOC_CLONE = 0x8004E500;
    /** ioctl FUSE_DEV_IOC_BACKING_OPEN = _IOW(229, 1, struct fuse_backing_map): returns a backing id. */
    public static final int IOC_BACKING_OPEN = 0x4010E501;
    /** ioctl FUSE_DEV_IOC_BACKING_CLOSE = _IOW(229, 2, uint32_t). */
    public static final int IOC_BACKING_CLOSE = 0x4004E502;

    /**
     * The kernel refuses (EINVAL) a read into a buffer smaller than 8 KiB, or smaller than the
     * in-header + write_in + the negotiated max_write; this is the floor.
     */
    public static final int MIN_READ_BUFFER = 8192;

    private final int fd;
    private volatile boolean closed;

    private FuseDevice(int fd) {
        this.fd = fd;
    }

    /** Opens a fresh {@code /dev/fuse} file, not yet attached to any connection. */
    public static FuseDevice open() throws SyscallException {
        return new FuseDevice(Libc.open(PATH.getBytes(StandardCharsets.US_ASCII), Libc.O_RDWR | Libc.O_CLOEXEC, 0));
    }

    /** The fd number, for the mount's {@code fd=} option and for poll loops. */
    public int fd() {
        return fd;
    }

    /**
     * Makes reads return EAGAIN instead of waiting when no request is queued: for readers that
     * wait in poll or epoll and must not block a shared thread on a quiet connection.
     */
    public void setNonBlocking() throws SyscallException {
        ensureOpen("fcntl");
        Libc.setNonBlocking(fd);
    }

    /**
     * Another fd on the same connection (FUSE_DEV_IOC_CLONE), so more threads can read requests
     * each on its own fd. This device must already be attached to a mounted connection: cloning a
     * fresh fd fails with EPERM (kernel 6.18; EINVAL on older kernels). The clone must be closed
     * on its own.
     */
    public FuseDevice cloneSession() throws SyscallException {
        ensureOpen("ioctl");
        FuseDevice clone = open();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment oldFd = a.allocate(ValueLayout.JAVA_INT);
            oldFd.set(ValueLayout.JAVA_INT, 0, fd);
            Libc.ioctl(clone.fd, IOC_CLONE, "FUSE_DEV_IOC_CLONE of fd " + fd, oldFd);
            return clone;
        } catch (SyscallException e) {
            try {
                clone.close();
            } catch (SyscallException suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e.errno() == Errno.EPERM || e.errno() == Errno.EINVAL
                    ? hint(e, "fd " + fd + " is not attached to a mounted FUSE connection (clone after mounting)")
                    : e;
        }
    }

    /**
     * Reads one request into native memory {@code buf} (at least {@link #MIN_READ_BUFFER} bytes
     * and room for max_write plus headers); returns its length. Blocks until a request comes.
     * EINTR is retried; other failures keep their errno: ENODEV once the connection is gone
     * (after unmount: end the session loop), EAGAIN on a non-blocking fd, EPERM on an fd that is
     * not attached to a connection.
     */
    public int read(MemorySegment buf) throws SyscallException {
        ensureOpen("read");
        return (int) Libc.read(fd, buf, buf.byteSize());
    }

    /**
     * Writes one complete reply (or notification) of {@code len} bytes from native memory. The
     * kernel takes a reply whole or not at all; ENOENT means the request was interrupted or the
     * connection aborted meanwhile (not an error for the daemon), EINVAL a malformed reply.
     */
    public void write(MemorySegment buf, long len) throws SyscallException {
        ensureOpen("write");
        long n = Libc.write(fd, buf, len);
        if (n != len) {
            throw new SyscallException("write", "fd " + fd, Errno.EIO, "short write to " + PATH + ": " + n + " of " + len + " bytes");
        }
    }

    /**
     * Waits up to {@code timeoutMillis} (negative: forever) until a read would not block: a
     * request is queued, or the connection is gone (the read then fails with ENODEV). Returns
     * false on timeout.
     */
    public boolean awaitReadable(int timeoutMillis) throws SyscallException {
        ensureOpen("poll");
        int ev = Libc.poll(fd, Libc.POLLIN, timeoutMillis);
        return (ev & (Libc.POLLIN | Libc.POLLERR | Libc.POLLHUP | Libc.POLLNVAL)) != 0;
    }

    /**
     * Registers {@code backingFd} (an O_RDONLY fd of a regular file is enough; the caller may close
     * it afterwards) for passthrough (FUSE_DEV_IOC_BACKING_OPEN) and returns its backing id for
     * fuse_open_out. EPERM unless the INIT reply negotiated passthrough and the caller has
     * CAP_SYS_ADMIN; EISDIR for a directory.
     */
    public int backingOpen(int backingFd) throws SyscallException {
        ensureOpen("ioctl");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment map = a.allocate(16, 8); // struct fuse_backing_map { i32 fd; u32 flags; u64 padding; }
            map.set(ValueLayout.JAVA_INT, 0, backingFd);
            map.set(ValueLayout.JAVA_INT, 4, 0);
            map.set(ValueLayout.JAVA_LONG, 8, 0L);
            return Libc.ioctl(fd, IOC_BACKING_OPEN, "FUSE_DEV_IOC_BACKING_OPEN of fd " + backingFd, map);
        } catch (SyscallException e) {
            throw e.errno() == Errno.EPERM
                    ? hint(e, "passthrough was not negotiated in the INIT reply (INIT_EXT + PASSTHROUGH, max_stack_depth 1..2,"
                            + " no WRITEBACK_CACHE), the INIT reply is not written yet, or CAP_SYS_ADMIN is missing")
                    : e;
        }
    }

    /** Unregisters a backing id (FUSE_DEV_IOC_BACKING_CLOSE); ENOENT if it is not registered. */
    public void backingClose(int backingId) throws SyscallException {
        ensureOpen("ioctl");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment id = a.allocate(ValueLayout.JAVA_INT);
            id.set(ValueLayout.JAVA_INT, 0, backingId);
            Libc.ioctl(fd, IOC_BACKING_CLOSE, "FUSE_DEV_IOC_BACKING_CLOSE of backing id " + backingId, id);
        }
    }

    /** Closes the fd once; later calls do nothing. */
    @Override
    public void close() throws SyscallException {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }

    @Override
    public String toString() {
        return PATH + " fd " + fd + (closed ? " (closed)" : "");
    }

    void ensureOpen(String call) throws SyscallException {
        if (closed) {
            throw new SyscallException(call, "fd " + fd, Errno.EBADF, Libc.strerror(Errno.EBADF) + ": " + PATH + " fd was closed");
        }
    }

    /** The same failure with a hint about its usual cause appended. */
    private static SyscallException hint(SyscallException e, String hint) {
        String subject = e.subject();
        SyscallException h = new SyscallException(e.call(), subject, e.errno(), Libc.strerror(e.errno()) + "; " + hint);
        h.initCause(e);
        return h;
    }
}
