package dev.csierofs.fuse;

import dev.csierofs.sys.Errno;
import dev.csierofs.sys.FuseControl;
import dev.csierofs.sys.FuseDevice;
import dev.csierofs.sys.FuseMount;
import dev.csierofs.sys.SyscallException;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * One mounted FUSE connection serving a {@link FuseFilesystem}: mounts, answers INIT, then
 * reads requests on workers of the process-wide {@link ReaderPool} (see {@link ConnectionReader})
 * and dispatches them. Ends when the mount goes away (the device read fails with ENODEV after a
 * lazy unmount) or on {@link #close()}.
 */
public final class FuseSession implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(FuseSession.class.getName());
    private static final boolean DEBUG = "1".equals(System.getenv("CSI_DRIVER_EROFS_DEBUG"));
    /**
     * A worker's request buffer. The kernel wants room for a WRITE of max_write plus headers, and
     * at least 8 KiB; we accept no WRITE and offer the least max_write (4 KiB). Replies are encoded
     * here too when they fit: all but READs, long xattrs and long directory listings (which the
     * kernel then asks for in more requests). Taken from {@link #REQUESTS} for each spell of work.
     */
    static final int BUFFER = 16 << 10;
    /** Request buffers of every session (of the usual size), a few kept between spells of work. */
    private static final ReplyBuffers REQUESTS = new ReplyBuffers(BUFFER, 4);
    /**
     * Buffers for the replies that do not fit in a request buffer: READs up to max_read (1 MiB)
     * and xattrs up to 64 KiB. Shared by all sessions and only two kept between uses: with
     * passthrough, READs rarely reach the daemon, and a buffer per reader would be mostly idle.
     */
    private static final ReplyBuffers LARGE = new ReplyBuffers((1 << 20) + 8192, 2);

    /** Frees the request and large reply buffers kept between uses, for a daemon gone idle. */
    public static void releaseIdleBuffers() {
        LARGE.release();
        REQUESTS.release();
    }

    private final FuseFilesystem fs;
    private final FuseDevice device;
    private final FuseMount mount;
    private final InitNegotiation.Result init;
    private final ConnectionReader reader;
    /** Files and directories the kernel holds open on this connection (OPEN/OPENDIR minus RELEASEs). */
    private final java.util.concurrent.atomic.AtomicInteger openHandles = new java.util.concurrent.atomic.AtomicInteger();
    /** Requests received, by raw opcode (codes past the table are counted in the last slot). */
    private final java.util.concurrent.atomic.AtomicLongArray requests = new java.util.concurrent.atomic.AtomicLongArray(65);

    private FuseSession(FuseFilesystem fs, FuseDevice device, FuseMount mount, InitNegotiation.Result init, int threads) {
        this.fs = fs;
        this.device = device;
        this.mount = mount;
        this.init = init;
        // request buffers from the shared pool, unless INIT asked for larger ones
        ReplyBuffers requestBuffers = init.requestBufferSize() <= BUFFER ? REQUESTS : new ReplyBuffers(init.requestBufferSize(), 1);
        this.reader = new ConnectionReader(this, requestBuffers, threads);
    }

    /**
     * Mounts {@code fs} at {@code dir} (type {@code fuse.<subtype>}, source shown in the mount
     * table) and serves it with up to {@code threads} requests in progress at once. Returns once
     * INIT is answered.
     */
    public static FuseSession mount(FuseFilesystem fs, Path dir, String subtype, String source, int threads,
            InitNegotiation.Options options) throws IOException {
        FuseDevice device = FuseDevice.open();
        FuseMount mount = null;
        try {
            mount = FuseMount.mount(device, dir, subtype, source,
                    new FuseMount.Options(true, true, FuseMount.DEFAULT_MAX_READ));
            InitNegotiation.Result init = answerInit(device, options);
            fs.initialized(init.passthrough() ? new PassthroughRegistry(device) : null);
            FuseSession s = new FuseSession(fs, device, mount, init, threads);
            s.start();
            return s;
        } catch (IOException | RuntimeException e) {
            if (mount != null) {
                mount.close();
            }
            device.close();
            throw e;
        }
    }

    /** Whether INIT negotiated passthrough (backing files may then be registered). */
    public boolean passthrough() {
        return init.passthrough();
    }

    private static InitNegotiation.Result answerInit(FuseDevice device, InitNegotiation.Options options) throws IOException {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment buf = arena.allocate(BUFFER, 8);
            if (!device.awaitReadable(10_000)) {
                throw new IOException("the kernel sent no INIT within 10 s after mount");
            }
            int n = device.read(buf);
            Request r = Request.decode(buf.asSlice(0, n));
            if (!(r.body() instanceof InitIn in)) {
                throw new IOException("expected INIT as the first request, got opcode " + r.opcode());
            }
            InitNegotiation.Result result = InitNegotiation.negotiate(in, options);
            device.write(buf, Reply.of(buf, r.header().unique(), result.reply()));
            return result;
        }
    }

    private void start() throws SyscallException {
        reader.start(ReaderPool.shared(), device);
    }

    /**
     * A worker's buffers: a request buffer, and a shared large one while a reply needs it.
     */
    static final class Buffers {
        final MemorySegment request;
        private ReplyBuffers.Buffer large;
        /** Where the last reply was encoded. */
        MemorySegment reply;

        Buffers(MemorySegment request) {
            this.request = request;
            this.reply = request;
        }

        /**
         * A buffer for a reply of {@code len} bytes: the request buffer if it fits, else a large
         * one (of 1 MiB and a page: callers cap READs to its size), held until {@link #done}.
         */
        MemorySegment replyBuffer(long len) {
            if (len <= request.byteSize()) {
                return request;
            }
            if (large == null) {
                large = LARGE.take();
            }
            return large.segment();
        }

        /** The reply was sent: a large buffer goes back to the pool. */
        void done() {
            if (large != null) {
                LARGE.give(large);
                large = null;
            }
            reply = request;
        }
    }

    /**
     * Answers the request of {@code n} bytes in {@code buffers} and writes the reply to
     * {@code d}; false once the connection is gone (ENODEV).
     */
    boolean answer(FuseDevice d, Buffers buffers, int n) {
        int len = handle(buffers, n);
        try {
            if (len > 0) {
                d.write(buffers.reply, len);
            }
            return true;
        } catch (SyscallException e) {
            // ENOENT: the request was interrupted and its reply is no longer wanted
            return e.errno() != Errno.ENODEV;
        } finally {
            buffers.done();
        }
    }

    /**
     * Answers the request in {@code buffers.request}, encoding the reply into
     * {@code buffers.reply}; returns the reply length, 0 for requests without reply.
     */
    int handle(Buffers buffers, int n) {
        MemorySegment buf = buffers.request;
        buffers.reply = buf;
        Request r;
        try {
            r = Request.decode(buf.asSlice(0, n));
        } catch (FuseProtocolException e) {
            LOG.warning("malformed FUSE request: " + e.getMessage());
            return e.header().map(h -> Reply.error(buf, h.unique(), Errno.EIO)).orElse(0);
        }
        long unique = r.header().unique();
        long node = r.nodeid();
        requests.incrementAndGet((int) Math.min(Integer.toUnsignedLong(r.header().opcode()), 64));
        try {
            return switch (r.body()) {
                case Request.Lookup l -> Reply.of(buf, unique, fs.lookup(node, l.name()));
                case Request.Forget f -> {
                    fs.forget(node, f.nlookup());
                    yield 0;
                }
                case Request.BatchForget b -> {
                    for (Request.ForgetOne one : b.forgets()) {
                        fs.forget(one.nodeid(), one.nlookup());
                    }
                    yield 0;
                }
                case Request.GetAttr g -> Reply.of(buf, unique, fs.getattr(node));
                case Request.ReadLink rl -> Reply.bytes(buf, unique, fs.readlink(node));
                case Request.Open o -> {
                    OpenOut out = fs.open(node, o.flags());
                    openHandles.incrementAndGet();
                    yield Reply.of(buf, unique, out);
                }
                case Request.Read rd -> {
                    MemorySegment out = buffers.replyBuffer((long) Reply.PAYLOAD + rd.size());
                    int size = (int) Math.min(rd.size(), out.byteSize() - Reply.PAYLOAD);
                    int got = fs.read(node, rd.fh(), rd.offset(), size, out.asSlice(Reply.PAYLOAD, size));
                    buffers.reply = out;
                    yield Reply.data(out, unique, got);
                }
                case Request.Release rl -> {
                    openHandles.decrementAndGet();
                    fs.release(node, rl.fh());
                    yield Reply.ok(buf, unique);
                }
                case Request.OpenDir od -> {
                    OpenOut out = fs.opendir(node);
                    openHandles.incrementAndGet();
                    yield Reply.of(buf, unique, out);
                }
                case Request.ReadDir rd -> {
                    DirentList out = DirentList.forRequest(buf, unique, rd);
                    fs.readdir(node, rd.fh(), rd.offset(), out);
                    yield out.finish();
                }
                case Request.ReleaseDir rd -> {
                    openHandles.decrementAndGet();
                    fs.releasedir(node, rd.fh());
                    yield Reply.ok(buf, unique);
                }
                case Request.StatFs s -> Reply.of(buf, unique, fs.statfs(node));
                case Request.GetXattr g -> {
                    byte[] v = fs.getxattr(node, g.name());
                    if (g.size() == 0) {
                        yield XattrReply.size(buf, unique, v.length);
                    }
                    MemorySegment out = buffers.replyBuffer((long) Reply.PAYLOAD + v.length);
                    buffers.reply = out;
                    yield XattrReply.value(out, unique, g.size(), v);
                }
                case Request.ListXattr l -> {
                    List<byte[]> names = fs.listxattr(node);
                    if (l.size() == 0) {
                        yield XattrReply.size(buf, unique, XattrReply.listLength(names));
                    }
                    MemorySegment out = buffers.replyBuffer((long) Reply.PAYLOAD + XattrReply.listLength(names));
                    buffers.reply = out;
                    yield XattrReply.list(out, unique, l.size(), names);
                }
                case Request.Flush f -> Reply.error(buf, unique, Errno.ENOSYS); // nothing to flush; the kernel stops sending FLUSH
                case Request.Access a -> Reply.ok(buf, unique); // modes are checked by the kernel (default_permissions)
                case Request.Interrupt i -> 0; // every request is answered promptly; nothing to cancel
                case Request.Lseek ls -> Reply.of(buf, unique, new LseekOut(fs.lseek(node, ls.fh(), ls.offset(), ls.whence())));
                case Request.Unsupported u -> Reply.error(buf, unique, u.isWrite() ? Errno.EROFS : Errno.ENOSYS);
                default -> Reply.error(buf, unique, Errno.ENOSYS); // STATX (the kernel falls back to GETATTR), INIT again, DESTROY
            };
        } catch (FuseError e) {
            return Reply.error(buf, unique, e.errno());
        } catch (RuntimeException e) {
            // a bug of ours, most likely met on a bad image: one line, the trace for bug reports only
            String line = "FUSE request " + r.opcode() + " on node " + node + " failed: " + e;
            if (DEBUG) {
                LOG.log(Level.WARNING, line, e);
            } else {
                LOG.warning(line + " (CSI_DRIVER_EROFS_DEBUG=1 logs the stack trace)");
            }
            return Reply.error(buf, unique, Errno.EIO);
        } catch (OutOfMemoryError e) {
            // a worker that died would leave this mount's fd disarmed and every later request
            // unanswered (processes hang); failing this one request keeps the mount alive
            LOG.log(Level.SEVERE, "FUSE request " + r.opcode() + " on node " + node + ": out of memory; answered ENOMEM", e);
            buffers.reply = buf;
            return Reply.error(buf, unique, Errno.ENOMEM);
        } catch (StackOverflowError e) {
            LOG.log(Level.SEVERE, "FUSE request " + r.opcode() + " on node " + node + ": stack overflow; answered EIO", e);
            buffers.reply = buf;
            return Reply.error(buf, unique, Errno.EIO);
        }
    }

    /** Waits until the session ends (the mount was removed), at most {@code timeout}. */
    public boolean awaitStop(long timeout, TimeUnit unit) throws InterruptedException {
        return reader.stopped().await(timeout, unit);
    }

    /** How many requests of each kind this session received so far (opcode name to count, most frequent first). */
    public java.util.Map<String, Long> requestCounts() {
        java.util.Map<String, Long> counts = new java.util.LinkedHashMap<>();
        java.util.stream.IntStream.range(0, requests.length()).filter(i -> requests.get(i) > 0).boxed()
                .sorted((a, b) -> Long.compare(requests.get(b), requests.get(a)))
                .forEach(i -> counts.put(i == 64 ? "other" : Opcode.name(i), requests.get(i)));
        return counts;
    }

    /** Files and directories currently open through this mount. */
    public int openHandles() {
        return Math.max(0, openHandles.get());
    }

    /**
     * Detaches the mount from the tree at once (nothing new can open it), lets the files still
     * open on it be read for up to {@code grace} (the session ends by itself when the last one is
     * closed), then ends the connection: whatever is still open then fails with ENOTCONN.
     * Returns how many files and directories were still open when the connection was ended.
     */
    public int stop(java.time.Duration grace) throws IOException {
        int cutOff = 0;
        try {
            mount.close();
            if (!awaitStop(grace.toMillis(), TimeUnit.MILLISECONDS)) {
                cutOff = openHandles();
                abort();
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            cutOff = openHandles();
        } finally {
            end();
            fs.destroyed();
        }
        return cutOff;
    }

    /**
     * Ends the connection now (fusectl abort): blocked readers return, open files fail with
     * ENOTCONN. Waits briefly for the requests in progress to finish.
     */
    private void abort() throws IOException, InterruptedException {
        if (mount.connection() >= 0 && FuseControl.abort(mount.connection())) {
            awaitStop(5, TimeUnit.SECONDS);
        }
    }

    /** {@link #stop} with a 5 s grace for files still open. */
    @Override
    public void close() throws IOException {
        stop(java.time.Duration.ofSeconds(5));
    }

    /** Closes every fd of the connection; the kernel aborts it once the last one is gone. */
    private void end() throws IOException {
        reader.stop(); // before closing: a closed fd's number may be reused at once
        device.close();
    }
}
