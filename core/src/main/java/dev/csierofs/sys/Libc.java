package dev.csierofs.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.StructLayout;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.VarHandle;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * The few libc calls Java lacks, bound with java.lang.foreign. Each captures errno and turns a
 * failure into a {@link SyscallException} that names the call, its subject and the error.
 * Paths are raw bytes: names in an image need not be valid UTF-8, and java.nio.file cannot
 * create such names.
 */
public final class Libc {
    private static final Linker LINKER = Linker.nativeLinker();
    private static final SymbolLookup LIBC = LINKER.defaultLookup();
    private static final StructLayout CALL_STATE = Linker.Option.captureStateLayout();
    private static final VarHandle ERRNO = CALL_STATE.varHandle(MemoryLayout.PathElement.groupElement("errno"));
    private static final Linker.Option CAPTURE = Linker.Option.captureCallState("errno");
    private static final ValueLayout.OfInt INT = ValueLayout.JAVA_INT;
    private static final ValueLayout.OfLong LONG = ValueLayout.JAVA_LONG;
    private static final java.lang.foreign.AddressLayout PTR = ValueLayout.ADDRESS;

    private static final int AT_FDCWD = -100;
    private static final int AT_EMPTY_PATH = 0x1000;
    /** openat2's number, the same on x86-64 and arm64 (syscalls added since 5.1 share one table). */
    private static final long SYS_OPENAT2 = 437;
    /** openat2 resolve flags: stay below the directory, follow no symlink (nor /proc magic link), cross no mount. */
    public static final long RESOLVE_NO_XDEV = 0x01, RESOLVE_NO_MAGICLINKS = 0x02, RESOLVE_NO_SYMLINKS = 0x04, RESOLVE_BENEATH = 0x08;
    private static final int ENOSYS = 38;
    private static volatile boolean openat2Missing;
    private static final int EINTR = 4;

    public static final int O_RDONLY = 0;
    public static final int O_WRONLY = 01;
    public static final int O_RDWR = 02;
    public static final int O_CREAT = 0100;
    public static final int O_EXCL = 0200;
    public static final int O_NOFOLLOW = 0400000;
    public static final int O_DIRECTORY = 0200000;
    public static final int O_CLOEXEC = 02000000;
    public static final int O_PATH = 010000000;

    /** mount(2) flags. */
    public static final long MS_RDONLY = 1, MS_NOSUID = 2, MS_NODEV = 4, MS_NOEXEC = 8, MS_REMOUNT = 32, MS_BIND = 4096;
    /** umount2(2) flags. */
    public static final int MNT_FORCE = 1, MNT_DETACH = 2, UMOUNT_NOFOLLOW = 8;
    /** poll(2) events. */
    public static final short POLLIN = 0x1, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;
    public static final int O_NONBLOCK = 04000;
    private static final int F_GETFL = 3, F_SETFL = 4;
    public static final int EPOLL_CLOEXEC = O_CLOEXEC;
    public static final int EPOLL_CTL_ADD = 1, EPOLL_CTL_DEL = 2, EPOLL_CTL_MOD = 3;
    public static final int EPOLLIN = 0x1, EPOLLERR = 0x8, EPOLLHUP = 0x10, EPOLLONESHOT = 1 << 30;

    private static final MethodHandle CHMOD = bind("chmod", FunctionDescriptor.of(INT, PTR, INT));
    private static final MethodHandle SETXATTR = bind("setxattr", FunctionDescriptor.of(INT, PTR, PTR, PTR, LONG, INT));
    private static final MethodHandle OPENAT = bind("openat", FunctionDescriptor.of(INT, INT, PTR, INT, INT));
    private static final MethodHandle MKDIRAT = bind("mkdirat", FunctionDescriptor.of(INT, INT, PTR, INT));
    private static final MethodHandle SYMLINKAT = bind("symlinkat", FunctionDescriptor.of(INT, PTR, INT, PTR));
    private static final MethodHandle MKNODAT = bind("mknodat", FunctionDescriptor.of(INT, INT, PTR, INT, LONG));
    private static final MethodHandle LINKAT = bind("linkat", FunctionDescriptor.of(INT, INT, PTR, INT, PTR, INT));
    private static final MethodHandle FCHOWNAT = bind("fchownat", FunctionDescriptor.of(INT, INT, PTR, INT, INT, INT));
    // long syscall(long number, ...): for openat2, which glibc before 2.38 does not wrap
    private static final MethodHandle SYSCALL_OPENAT2 = bind("syscall", FunctionDescriptor.of(LONG, LONG, INT, PTR, PTR, LONG),
            Linker.Option.firstVariadicArg(1));
    private static final MethodHandle UTIMENSAT = bind("utimensat", FunctionDescriptor.of(INT, INT, PTR, PTR, INT));
    private static final MethodHandle OPEN = bind("open", FunctionDescriptor.of(INT, PTR, INT, INT));
    private static final MethodHandle CLOSE = bind("close", FunctionDescriptor.of(INT, INT));
    private static final MethodHandle PWRITE = bind("pwrite", FunctionDescriptor.of(LONG, INT, PTR, LONG, LONG));
    private static final MethodHandle FTRUNCATE = bind("ftruncate", FunctionDescriptor.of(INT, INT, LONG));
    private static final MethodHandle COPY_FILE_RANGE = bind("copy_file_range",
            FunctionDescriptor.of(LONG, INT, PTR, INT, PTR, LONG, INT));
    private static final MethodHandle READ = bind("read", FunctionDescriptor.of(LONG, INT, PTR, LONG));
    private static final MethodHandle WRITE = bind("write", FunctionDescriptor.of(LONG, INT, PTR, LONG));
    private static final MethodHandle POSIX_FADVISE = LINKER.downcallHandle(LIBC.find("posix_fadvise").orElseThrow(),
            FunctionDescriptor.of(INT, INT, LONG, LONG, INT));
    private static final MethodHandle SYNCFS = bind("syncfs", FunctionDescriptor.of(INT, INT));
    private static final MethodHandle POLL = bind("poll", FunctionDescriptor.of(INT, PTR, LONG, INT));
    private static final MethodHandle MOUNT = bind("mount", FunctionDescriptor.of(INT, PTR, PTR, PTR, LONG, PTR));
    private static final MethodHandle UMOUNT2 = bind("umount2", FunctionDescriptor.of(INT, PTR, INT));
    // ioctl(int, unsigned long, ...) is variadic: the third argument is passed the variadic way
    private static final MethodHandle IOCTL_INT = bind("ioctl", FunctionDescriptor.of(INT, INT, LONG, INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle IOCTL_PTR = bind("ioctl", FunctionDescriptor.of(INT, INT, LONG, PTR),
            Linker.Option.firstVariadicArg(2));
    // fcntl(int, int, ...) is variadic too
    private static final MethodHandle FCNTL = bind("fcntl", FunctionDescriptor.of(INT, INT, INT, INT),
            Linker.Option.firstVariadicArg(2));
    private static final MethodHandle EPOLL_CREATE1 = bind("epoll_create1", FunctionDescriptor.of(INT, INT));
    private static final MethodHandle EPOLL_CTL = bind("epoll_ctl", FunctionDescriptor.of(INT, INT, INT, INT, PTR));
    private static final MethodHandle EPOLL_WAIT = bind("epoll_wait", FunctionDescriptor.of(INT, INT, PTR, INT, INT));
    private static final MethodHandle GETEUID = LINKER.downcallHandle(LIBC.find("geteuid").orElseThrow(),
            FunctionDescriptor.of(INT));
    private static final MethodHandle GETEGID = LINKER.downcallHandle(LIBC.find("getegid").orElseThrow(),
            FunctionDescriptor.of(INT));
    private static final MethodHandle STRERROR = LINKER.downcallHandle(LIBC.find("strerror").orElseThrow(),
            FunctionDescriptor.of(PTR, INT));

    private Libc() {
    }

    private static MethodHandle bind(String name, FunctionDescriptor fd, Linker.Option... extra) {
        Linker.Option[] options = new Linker.Option[extra.length + 1];
        options[0] = CAPTURE;
        System.arraycopy(extra, 0, options, 1, extra.length);
        return LINKER.downcallHandle(LIBC.find(name).orElseThrow(() -> new UnsatisfiedLinkError("libc has no " + name)), fd, options);
    }

    /** One downcall: gets the errno capture segment and an arena for its arguments. */
    @FunctionalInterface
    private interface Call {
        long invoke(MemorySegment state, Arena arena) throws Throwable;
    }

    /** Runs a call that returns -1 on failure, retrying on EINTR; returns its result. */
    private static long call(String name, String subject, Call c) throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment st = a.allocate(CALL_STATE);
            while (true) {
                long r = c.invoke(st, a);
                if (r != -1) {
                    return r;
                }
                int errno = (int) ERRNO.get(st, 0L);
                if (errno != EINTR) {
                    throw new SyscallException(name, subject, errno, strerror(errno));
                }
            }
        } catch (SyscallException e) {
            throw e;
        } catch (Throwable t) {
            throw new IllegalStateException(name + " downcall failed", t);
        }
    }

    private static String str(byte[] path) {
        return new String(path, StandardCharsets.UTF_8);
    }

    private static MemorySegment cstr(Arena a, String s) {
        return s == null ? MemorySegment.NULL : cstr(a, s.getBytes(StandardCharsets.UTF_8));
    }

    private static MemorySegment cstr(Arena a, byte[] s) {
        MemorySegment m = a.allocate(s.length + 1L);
        MemorySegment.copy(s, 0, m, ValueLayout.JAVA_BYTE, 0, s.length);
        m.set(ValueLayout.JAVA_BYTE, s.length, (byte) 0);
        return m;
    }

    /** Linux's dev_t encoding of a major:minor pair (glibc's makedev). */
    public static long makedev(int major, int minor) {
        long ma = major & 0xffffffffL, mi = minor & 0xffffffffL;
        return ((ma & 0x00000fffL) << 8) | ((ma & 0xfffff000L) << 32) | (mi & 0x000000ffL) | ((mi & 0xffffff00L) << 12);
    }

    /** chmod(2), which follows symlinks: for {@link #procFd} paths. */
    public static void chmod(byte[] path, int mode) throws SyscallException {
        call("chmod", str(path), (st, a) -> (int) CHMOD.invokeExact(st, cstr(a, path), mode));
    }

    /** openat(2) relative to directory fd {@code dirfd}; returns the fd. */
    public static int openat(int dirfd, byte[] name, int flags, int mode) throws SyscallException {
        return (int) call("openat", str(name), (st, a) -> (int) OPENAT.invokeExact(st, dirfd, cstr(a, name), flags, mode));
    }

    /**
     * Opens {@code relPath} under directory fd {@code dirfd} without ever leaving it: no symlink
     * is followed in any component, no ".." climbs above {@code dirfd}, no mount is crossed
     * (openat2 with RESOLVE_BENEATH, RESOLVE_NO_SYMLINKS, RESOLVE_NO_MAGICLINKS, RESOLVE_NO_XDEV).
     * Kernels before 5.6 lack openat2: there each component is opened with O_NOFOLLOW (and
     * O_DIRECTORY for all but the last), and ".." is refused. A symlink on the way fails with ELOOP
     * (openat2) or ENOTDIR/ELOOP (fallback).
     */
    public static int openBeneath(int dirfd, byte[] relPath, int flags, int mode) throws SyscallException {
        if (!openat2Missing) {
            try {
                return (int) call("openat2", str(relPath), (st, a) -> {
                    MemorySegment how = a.allocate(24, 8);
                    how.set(LONG, 0, flags & 0xffffffffL);
                    how.set(LONG, 8, mode & 0xffffffffL);
                    how.set(LONG, 16, RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV);
                    return (long) SYSCALL_OPENAT2.invokeExact(st, SYS_OPENAT2, dirfd, cstr(a, relPath), how, 24L);
                });
            } catch (SyscallException e) {
                if (e.errno() != ENOSYS) {
                    throw e;
                }
                openat2Missing = true;
            }
        }
        return openBeneathByWalk(dirfd, relPath, flags, mode);
    }

    /** {@link #openBeneath} for kernels without openat2: one openat per component, none followed if a symlink. */
    public static int openBeneathByWalk(int dirfd, byte[] relPath, int flags, int mode) throws SyscallException {
        int at = dirfd;
        int start = 0;
        try {
            while (true) {
                int slash = start;
                while (slash < relPath.length && relPath[slash] != '/') {
                    slash++;
                }
                byte[] part = Arrays.copyOfRange(relPath, start, slash);
                if (part.length == 2 && part[0] == '.' && part[1] == '.') {
                    throw new SyscallException("openat", str(relPath), 18, "\"..\" would leave the directory");
                }
                boolean last = slash >= relPath.length;
                int fd = last ? openat(at, part, flags | O_NOFOLLOW, mode)
                        : openat(at, part, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0);
                if (at != dirfd) {
                    close(at);
                }
                at = fd;
                if (last) {
                    return fd;
                }
                start = slash + 1;
            }
        } catch (SyscallException e) {
            if (at != dirfd) {
                close(at);
            }
            throw e;
        }
    }

    public static void mkdirat(int dirfd, byte[] name, int mode) throws SyscallException {
        call("mkdirat", str(name), (st, a) -> (int) MKDIRAT.invokeExact(st, dirfd, cstr(a, name), mode));
    }

    public static void symlinkat(byte[] target, int dirfd, byte[] name) throws SyscallException {
        call("symlinkat", str(name), (st, a) -> (int) SYMLINKAT.invokeExact(st, cstr(a, target), dirfd, cstr(a, name)));
    }

    public static void mknodat(int dirfd, byte[] name, int mode, int major, int minor) throws SyscallException {
        call("mknodat", str(name), (st, a) -> (int) MKNODAT.invokeExact(st, dirfd, cstr(a, name), mode, makedev(major, minor)));
    }

    /** linkat(2) without following a symlink at the old name. */
    public static void linkat(int oldDirfd, byte[] oldName, int newDirfd, byte[] newName) throws SyscallException {
        call("linkat", str(newName), (st, a) -> (int) LINKAT.invokeExact(st, oldDirfd, cstr(a, oldName), newDirfd, cstr(a, newName), 0));
    }

    /** Changes the owner of what {@code fd} refers to (an O_PATH fd may refer to a symlink: the link itself). */
    public static void fchown(int fd, long uid, long gid) throws SyscallException {
        call("fchownat", "fd " + fd, (st, a) -> (int) FCHOWNAT.invokeExact(st, fd, cstr(a, new byte[0]), (int) uid, (int) gid, AT_EMPTY_PATH));
    }

    /**
     * The /proc path of one of our fds: path calls given it act on exactly the file the fd
     * refers to (the kernel jumps to it, whatever its name has become), a symlink included.
     */
    public static byte[] procFd(int fd) {
        return ("/proc/self/fd/" + fd).getBytes(StandardCharsets.US_ASCII);
    }

    /** setxattr(2), which follows symlinks: for {@link #procFd} paths. */
    public static void setxattr(byte[] path, byte[] name, byte[] value) throws SyscallException {
        call("setxattr", str(path) + ", " + str(name), (st, a) -> {
            MemorySegment v = a.allocate(Math.max(1, value.length));
            MemorySegment.copy(value, 0, v, ValueLayout.JAVA_BYTE, 0, value.length);
            return (int) SETXATTR.invokeExact(st, cstr(a, path), cstr(a, name), v, (long) value.length, 0);
        });
    }

    /** Sets atime and mtime following symlinks: for {@link #procFd} paths. */
    public static void utimens(byte[] path, long sec, int nsec) throws SyscallException {
        call("utimensat", str(path), (st, a) -> {
            MemorySegment ts = a.allocate(32, 8);
            for (int i = 0; i < 2; i++) {
                ts.set(LONG, i * 16L, sec);
                ts.set(LONG, i * 16L + 8, nsec);
            }
            return (int) UTIMENSAT.invokeExact(st, AT_FDCWD, cstr(a, path), ts, 0);
        });
    }

    /** posix_fadvise advice: the pages are not needed any more (drop them from the page cache if clean). */
    public static final int POSIX_FADV_DONTNEED = 4;

    /**
     * posix_fadvise(2) on {@code [offset, offset + len)} ({@code len} 0: to the end). It returns
     * the error number itself rather than setting errno.
     */
    public static void fadvise(int fd, long offset, long len, int advice) throws SyscallException {
        int err;
        try {
            err = (int) POSIX_FADVISE.invokeExact(fd, offset, len, advice);
        } catch (Throwable t) {
            throw new IllegalStateException("posix_fadvise downcall failed", t);
        }
        if (err != 0) {
            throw new SyscallException("posix_fadvise", "fd " + fd, err, strerror(err));
        }
    }

    /** syncfs(2): writes out every dirty page and inode of the filesystem holding {@code fd}. */
    public static void syncfs(int fd) throws SyscallException {
        call("syncfs", "fd " + fd, (st, a) -> (int) SYNCFS.invokeExact(st, fd));
    }

    /** open(2); returns the fd. */
    public static int open(byte[] path, int flags, int mode) throws SyscallException {
        return (int) call("open", str(path), (st, a) -> (int) OPEN.invokeExact(st, cstr(a, path), flags, mode));
    }

    public static void close(int fd) throws SyscallException {
        call("close", "fd " + fd, (st, a) -> (int) CLOSE.invokeExact(st, fd));
    }

    /** Writes all {@code len} bytes of native memory {@code buf} at file offset {@code offset}. */
    public static void pwriteFully(int fd, MemorySegment buf, long len, long offset) throws SyscallException {
        long done = 0;
        while (done < len) {
            long d = done;
            done += call("pwrite", "fd " + fd, (st, a) -> (long) PWRITE.invokeExact(st, fd, buf.asSlice(d), len - d, offset + d));
        }
    }

    /**
     * Copies {@code len} bytes from {@code in} at {@code inOff} to {@code out} at {@code outOff}
     * inside the kernel (copy_file_range(2)): no copy through user memory.
     */
    public static void copyFileRange(int in, long inOff, int out, long outOff, long len) throws SyscallException {
        long done = 0;
        while (done < len) {
            long d = done;
            long n = call("copy_file_range", "fd " + in + " -> fd " + out, (st, a) -> {
                MemorySegment offs = a.allocate(LONG, 2);
                offs.setAtIndex(LONG, 0, inOff + d);
                offs.setAtIndex(LONG, 1, outOff + d);
                return (long) COPY_FILE_RANGE.invokeExact(st, in, offs, out, offs.asSlice(8), len - d, 0);
            });
            if (n == 0) {
                throw new SyscallException("copy_file_range", "fd " + in, 0, "source ended " + (len - done) + " bytes early");
            }
            done += n;
        }
    }

    public static void ftruncate(int fd, long size) throws SyscallException {
        call("ftruncate", "fd " + fd, (st, a) -> (int) FTRUNCATE.invokeExact(st, fd, size));
    }

    /**
     * read(2) into native memory: returns the count (0 at end of file). EINTR is retried; any other
     * failure (EAGAIN, ENODEV from an unmounted FUSE connection...) is a SyscallException whose
     * {@link SyscallException#errno()} tells which.
     */
    public static long read(int fd, MemorySegment buf, long len) throws SyscallException {
        MemorySegment b = nativeSlice(buf, len);
        return call("read", "fd " + fd, (st, a) -> (long) READ.invokeExact(st, fd, b, len));
    }

    /** write(2) from native memory: returns the count, which may be short for ordinary files. */
    public static long write(int fd, MemorySegment buf, long len) throws SyscallException {
        MemorySegment b = nativeSlice(buf, len);
        return call("write", "fd " + fd, (st, a) -> (long) WRITE.invokeExact(st, fd, b, len));
    }

    /** The first {@code len} bytes of a native segment; refuses heap memory and a too short buffer. */
    private static MemorySegment nativeSlice(MemorySegment buf, long len) {
        if (!buf.isNative()) {
            throw new IllegalArgumentException("syscall buffers must be native memory (Arena), not heap: " + buf);
        }
        return buf.asSlice(0, len);
    }

    /**
     * poll(2) on one fd: waits up to {@code timeoutMillis} (negative: forever) and returns the
     * revents bits, 0 on timeout. An EINTR restarts the wait with the full timeout.
     */
    public static int poll(int fd, short events, int timeoutMillis) throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pfd = a.allocate(8, 4);
            pfd.set(INT, 0, fd);
            pfd.set(ValueLayout.JAVA_SHORT, 4, events);
            pfd.set(ValueLayout.JAVA_SHORT, 6, (short) 0);
            int n = (int) call("poll", "fd " + fd, (st, x) -> (int) POLL.invokeExact(st, pfd, 1L, timeoutMillis));
            return n == 0 ? 0 : pfd.get(ValueLayout.JAVA_SHORT, 6) & 0xffff;
        }
    }

    /**
     * mount(2). {@code source} and {@code data} may be null. The data string goes to the
     * filesystem's option parser as is: callers validate what they put into it.
     */
    public static void mount(String source, String target, String fstype, long flags, String data) throws SyscallException {
        call("mount", target + " (type " + fstype + ")", (st, a) -> (int) MOUNT.invokeExact(st,
                cstr(a, source), cstr(a, target), cstr(a, fstype), flags, cstr(a, data)));
    }

    /** umount2(2), e.g. with {@link #MNT_DETACH} for a lazy unmount. */
    public static void umount2(String target, int flags) throws SyscallException {
        call("umount2", target, (st, a) -> (int) UMOUNT2.invokeExact(st, cstr(a, target), flags));
    }

    /**
     * ioctl(2) with an int argument; returns the (non-negative) result. {@code requestName} only
     * names the request in error messages.
     */
    public static int ioctl(int fd, long request, String requestName, int arg) throws SyscallException {
        long req = request & 0xffffffffL;
        return (int) call("ioctl", "fd " + fd + ", " + requestName, (st, a) -> (int) IOCTL_INT.invokeExact(st, fd, req, arg));
    }

    /** ioctl(2) with a pointer argument (native memory the kernel reads or fills); returns the result. */
    public static int ioctl(int fd, long request, String requestName, MemorySegment arg) throws SyscallException {
        if (!arg.isNative()) {
            throw new IllegalArgumentException("ioctl arguments must be native memory (Arena), not heap: " + arg);
        }
        long req = request & 0xffffffffL;
        return (int) call("ioctl", "fd " + fd + ", " + requestName, (st, a) -> (int) IOCTL_PTR.invokeExact(st, fd, req, arg));
    }

    /** Sets O_NONBLOCK on {@code fd} (fcntl F_GETFL, then F_SETFL). */
    public static void setNonBlocking(int fd) throws SyscallException {
        int flags = (int) call("fcntl", "fd " + fd + ", F_GETFL", (st, a) -> (int) FCNTL.invokeExact(st, fd, F_GETFL, 0));
        call("fcntl", "fd " + fd + ", F_SETFL", (st, a) -> (int) FCNTL.invokeExact(st, fd, F_SETFL, flags | O_NONBLOCK));
    }

    /** epoll_create1(2); returns the new epoll fd. */
    public static int epollCreate(int flags) throws SyscallException {
        return (int) call("epoll_create1", "", (st, a) -> (int) EPOLL_CREATE1.invokeExact(st, flags));
    }

    /**
     * epoll_ctl(2); {@code event} is a native {@code struct epoll_event} (see {@link Epoll}), or
     * {@link MemorySegment#NULL} for EPOLL_CTL_DEL.
     */
    public static void epollCtl(int epfd, int op, int fd, MemorySegment event) throws SyscallException {
        call("epoll_ctl", "epoll fd " + epfd + ", fd " + fd, (st, a) -> (int) EPOLL_CTL.invokeExact(st, epfd, op, fd, event));
    }

    /**
     * epoll_wait(2) into {@code events} (room for {@code max} native {@code struct epoll_event}s);
     * returns how many were filled, 0 on timeout. EINTR restarts the wait with the full timeout.
     */
    public static int epollWait(int epfd, MemorySegment events, int max, int timeoutMillis) throws SyscallException {
        return (int) call("epoll_wait", "epoll fd " + epfd,
                (st, a) -> (int) EPOLL_WAIT.invokeExact(st, epfd, events, max, timeoutMillis));
    }

    /** The effective uid of this process (cannot fail). */
    public static int geteuid() {
        try {
            return (int) GETEUID.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("geteuid downcall failed", t);
        }
    }

    /** The effective gid of this process (cannot fail). */
    public static int getegid() {
        try {
            return (int) GETEGID.invokeExact();
        } catch (Throwable t) {
            throw new IllegalStateException("getegid downcall failed", t);
        }
    }

    public static String strerror(int errno) {
        try {
            MemorySegment s = (MemorySegment) STRERROR.invokeExact(errno);
            return s.reinterpret(256).getString(0);
        } catch (Throwable t) {
            return "errno " + errno;
        }
    }
}
