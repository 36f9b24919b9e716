package dev.csierofs.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * A hand-written FUSE daemon just big enough to test the syscall layer: mounts, answers INIT
 * (with or without passthrough), then optionally runs a background responder that answers
 * GETATTR of the root with a directory and everything else with -ENOSYS, so no test can hang on
 * a request nobody reads. {@link #close()} always detaches the mount and closes every fd, which
 * aborts the connection even if a request is still pending.
 */
final class RawFuseSession implements AutoCloseable {
    static final String SUBTYPE = "csitest";
    static final int OP_GETATTR = 3, OP_INIT = 26, OP_STATX = 52;
    static final int INIT_EXT = 1 << 30, PASSTHROUGH2 = 1 << 5;
    static final int MAX_WRITE = 128 * 1024;
    static final int BUFFER = (1 << 20) + 8192;
    static final long TIMEOUT_MS = 5000;

    /** One request as read from the device; {@code body} follows the 40-byte in-header. */
    record Request(int len, int opcode, long unique, long nodeid, ByteBuffer body, int readerFd) {
        int bodyInt(int offset) {
            return body.getInt(offset);
        }
    }

    final FuseDevice device;
    final FuseMount mount;
    final Request init;
    final BlockingQueue<Request> seen = new LinkedBlockingQueue<>();
    private FuseDevice clone;
    private Thread responder;
    private volatile boolean stopping;
    /** How the responder's loop ended: the SyscallException of its last read (ENODEV expected). */
    volatile SyscallException responderEnd;
    volatile Throwable responderFailure;

    private RawFuseSession(FuseDevice device, FuseMount mount, Request init) {
        this.device = device;
        this.mount = mount;
        this.init = init;
    }

    /** Mounts at {@code dir}, reads INIT and replies (negotiating passthrough if asked). */
    static RawFuseSession start(Path dir, String source, boolean passthrough) throws Exception {
        FuseDevice dev = FuseDevice.open();
        FuseMount m;
        try {
            m = FuseMount.mount(dev, dir, SUBTYPE, source);
        } catch (Exception e) {
            dev.close();
            throw e;
        }
        RawFuseSession s = new RawFuseSession(dev, m, null);
        try {
            // Before the INIT reply only INIT can be queued: other callers wait for the connection.
            Request init = s.next(dev);
            if (init.opcode() != OP_INIT) {
                throw new AssertionError("first request is opcode " + init.opcode() + ", not INIT");
            }
            s = new RawFuseSession(dev, m, init);
            s.replyInit(init, passthrough);
            return s;
        } catch (Exception | Error e) {
            s.close();
            throw e;
        }
    }

    int kernelMinor() {
        return init.bodyInt(4);
    }

    int kernelFlags() {
        return init.bodyInt(12);
    }

    int kernelFlags2() {
        return init.bodyInt(16);
    }

    private void replyInit(Request init, boolean passthrough) throws SyscallException {
        ByteBuffer out = le(64);
        out.putInt(0, 7);
        out.putInt(4, Math.min(kernelMinor(), 45));
        out.putInt(8, init.bodyInt(8)); // max_readahead as offered
        out.putInt(12, passthrough ? INIT_EXT : 0);
        out.putInt(20, MAX_WRITE);
        out.putInt(32, passthrough ? PASSTHROUGH2 : 0);
        out.putInt(36, passthrough ? 1 : 0); // max_stack_depth
        reply(device, init.unique(), 0, out);
    }

    /** The next request on {@code d}, waiting at most {@link #TIMEOUT_MS}. */
    Request next(FuseDevice d) throws SyscallException {
        if (!d.awaitReadable((int) TIMEOUT_MS)) {
            throw new AssertionError("no request on " + d + " within " + TIMEOUT_MS + " ms");
        }
        return read(d);
    }

    private static Request read(FuseDevice d) throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(BUFFER, 8);
            int n = d.read(buf);
            ByteBuffer b = ByteBuffer.wrap(buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE)).order(ByteOrder.LITTLE_ENDIAN);
            if (n < 40 || b.getInt(0) != n) {
                throw new AssertionError("read " + n + " bytes but the in-header says " + (n >= 4 ? b.getInt(0) : -1));
            }
            ByteBuffer body = b.slice(40, n - 40).order(ByteOrder.LITTLE_ENDIAN);
            return new Request(n, b.getInt(4), b.getLong(8), b.getLong(16), body, d.fd());
        }
    }

    /** Writes out-header (len, -errno, unique) + {@code body} as one reply. */
    static void reply(FuseDevice d, long unique, int errno, ByteBuffer body) throws SyscallException {
        int len = 16 + (body == null ? 0 : body.capacity());
        try (Arena a = Arena.ofConfined()) {
            MemorySegment seg = a.allocate(len, 8);
            seg.set(ValueLayout.JAVA_INT_UNALIGNED, 0, len);
            seg.set(ValueLayout.JAVA_INT_UNALIGNED, 4, -errno);
            seg.set(ValueLayout.JAVA_LONG_UNALIGNED, 8, unique);
            if (body != null) {
                MemorySegment.copy(MemorySegment.ofBuffer(body), 0, seg, 16, body.capacity());
            }
            d.write(seg, len);
        }
    }

    static ByteBuffer le(int size) {
        return ByteBuffer.allocate(size).order(ByteOrder.LITTLE_ENDIAN);
    }

    /** A clone of the device (kept for close()). */
    FuseDevice cloneDevice() throws SyscallException {
        clone = device.cloneSession();
        return clone;
    }

    /** Starts answering requests read from {@code d} in the background. */
    void startResponder(FuseDevice d) {
        responder = Thread.ofPlatform().daemon().name("fuse-responder-" + d.fd()).start(() -> {
            try {
                while (true) {
                    if (!d.awaitReadable(100)) {
                        if (stopping) {
                            return;
                        }
                        continue;
                    }
                    Request r;
                    try {
                        r = read(d);
                    } catch (SyscallException e) {
                        responderEnd = e;
                        return;
                    }
                    seen.add(r);
                    if (r.opcode() == OP_GETATTR && r.nodeid() == 1) {
                        reply(d, r.unique(), 0, rootAttr());
                    } else {
                        try {
                            reply(d, r.unique(), Errno.ENOSYS, null);
                        } catch (SyscallException e) {
                            if (e.errno() != Errno.ENOENT) { // ENOENT: request was interrupted meanwhile
                                throw e;
                            }
                        }
                    }
                }
            } catch (Throwable t) {
                responderFailure = t;
            }
        });
    }

    /** fuse_attr_out for the root: a 0755 directory owned by root, valid for 1 s. */
    private static ByteBuffer rootAttr() {
        ByteBuffer b = le(104);
        b.putLong(0, 1);        // attr_valid
        b.putLong(16, 1);       // attr.ino
        b.putInt(16 + 60, 040755); // attr.mode
        b.putInt(16 + 64, 2);   // attr.nlink
        b.putInt(16 + 80, 4096); // attr.blksize
        return b;
    }

    /** Waits for the responder to end by itself (it does on ENODEV); true if it did. */
    boolean awaitResponderEnd() throws InterruptedException {
        return responder.join(java.time.Duration.ofMillis(TIMEOUT_MS));
    }

    Request awaitSeen(int opcode) throws InterruptedException {
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(TIMEOUT_MS);
        while (true) {
            Request r = seen.poll(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            if (r == null) {
                throw new AssertionError("no opcode " + opcode + " request within " + TIMEOUT_MS + " ms");
            }
            if (r.opcode() == opcode) {
                return r;
            }
        }
    }

    @Override
    public void close() throws Exception {
        Exception first = null;
        try {
            mount.unmount();
        } catch (Exception e) {
            first = e;
        }
        stopping = true;
        if (responder != null) {
            responder.join(java.time.Duration.ofMillis(TIMEOUT_MS));
        }
        for (FuseDevice d : new FuseDevice[] {clone, device}) {
            if (d != null) {
                try {
                    d.close();
                } catch (Exception e) {
                    if (first == null) {
                        first = e;
                    } else {
                        first.addSuppressed(e);
                    }
                }
            }
        }
        if (first != null) {
            throw first;
        }
    }
}
