package dev.csierofs.fuse;

import dev.csierofs.sys.Errno;
import dev.csierofs.sys.FuseDevice;
import dev.csierofs.sys.SyscallException;

import java.util.concurrent.CountDownLatch;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * Reads one connection's requests on {@link ReaderPool} workers, up to {@code maxWorkers} at
 * once, all on the connection's one fd (the kernel gives each request to exactly one reader).
 *
 * <p>A worker keeps serving while requests come: on an empty queue it waits up to
 * {@link #LINGER_MILLIS} in poll(2) for the next one, so a burst (a process walking a tree:
 * LOOKUP, OPEN, RELEASE... microseconds apart) costs no hand-over per request. Only one worker
 * lingers; while it does, the fd is disarmed in the pool, since an armed fd would wake the poller
 * too for every request (measured: a second waiter on the connection made a cold tree read 5%
 * slower).
 *
 * <p>Most requests take microseconds, and the next one is best left to the worker that is about
 * to be free. Another worker joins only when every worker has been busy for {@link #SLOW_MILLIS}
 * (decoding a file at its first open, a READ without passthrough, an image read from a slow
 * disk): the pool's tick then arms the fd, and a request waiting behind gets a worker of its own.
 * (Arming at every request cost 5% on a cold tree read: the async RELEASE queued behind an OPEN
 * then went to a second worker instead of the first one a few microseconds later.)
 *
 * <p>Invariant: while the connection lives, a worker lingers, or the fd is armed, or workers are
 * busy (one of which lingers or arms when done, or the tick arms for them).
 */
final class ConnectionReader implements ReaderPool.Reader {
    private static final Logger LOG = Logger.getLogger(ConnectionReader.class.getName());
    static final int LINGER_MILLIS = 50;
    static final int SLOW_MILLIS = 1;
    private static final long SLOW_NANOS = SLOW_MILLIS * 1_000_000L;

    private final FuseSession session;
    private final ReplyBuffers requestBuffers;
    private final int maxWorkers;
    private final CountDownLatch stopped = new CountDownLatch(1);
    private ReaderPool pool;
    private long token;

    /** Workers handling a request now, and when the latest of them started. */
    private final java.util.concurrent.atomic.AtomicInteger busy = new java.util.concurrent.atomic.AtomicInteger();
    private volatile long lastStart;

    // guarded by this
    private int attached;
    private boolean lingering;
    private boolean armed;
    private boolean gone;

    ConnectionReader(FuseSession session, ReplyBuffers requestBuffers, int maxWorkers) {
        this.session = session;
        this.requestBuffers = requestBuffers;
        this.maxWorkers = maxWorkers;
    }

    /** Starts serving {@code device} from {@code pool}. */
    void start(ReaderPool pool, FuseDevice device) throws SyscallException {
        synchronized (this) {
            this.pool = pool;
            this.armed = true; // add() arms
            this.token = pool.add(device, this);
        }
    }

    /** Stops watching the fd (before it is closed); workers still serving finish their request. */
    void stop() {
        ReaderPool p;
        long t;
        synchronized (this) {
            p = pool;
            t = token;
        }
        if (p != null) {
            p.remove(t);
        }
    }

    /** Counted down once the connection ended and no worker serves it any more. */
    CountDownLatch stopped() {
        return stopped;
    }

    @Override
    public boolean serve(FuseDevice d) {
        synchronized (this) {
            armed = false; // the pool fired it: one-shot
            attached++;
        }
        boolean alive = false;
        ReplyBuffers.Buffer held = requestBuffers.take();
        try {
            alive = work(d, new FuseSession.Buffers(held.segment()));
            return alive;
        } finally {
            requestBuffers.give(held);
            synchronized (this) {
                attached--;
                if (gone || !alive) {
                    endedIfLast();
                } else if (!lingering && !armed) {
                    armed = pool.arm(token); // nobody waits on the fd any more: the poller does
                }
            }
        }
    }

    @Override
    public void ended(FuseDevice d) {
        synchronized (this) {
            gone = true;
            endedIfLast();
        }
    }

    /** Arms the fd when every worker has been busy for a while and another may join. */
    @Override
    public void tick(long nanoTime) {
        int b = busy.get();
        if (b == 0 || nanoTime - lastStart < SLOW_NANOS) {
            return;
        }
        synchronized (this) {
            if (!gone && !armed && !lingering && b >= attached && attached < maxWorkers) {
                armed = pool.arm(token);
            }
        }
    }

    private void endedIfLast() {
        if (gone && attached == 0) {
            stopped.countDown();
        }
    }

    /** Serves requests until the fd is quiet (true) or the connection is gone (false). */
    private boolean work(FuseDevice d, FuseSession.Buffers buffers) {
        try {
            while (true) {
                int n;
                try {
                    n = d.read(buffers.request);
                } catch (SyscallException e) {
                    if (e.errno() == Errno.ENODEV || e.errno() == Errno.EBADF) {
                        return false; // unmounted or aborted, or closed by the session
                    }
                    if (e.errno() == Errno.ENOENT) {
                        continue; // the request was interrupted before we read it
                    }
                    if (e.errno() != Errno.EAGAIN) {
                        LOG.log(Level.WARNING, "reading /dev/fuse failed: " + e.getMessage());
                        return false;
                    }
                    synchronized (this) {
                        if (lingering) {
                            return true; // another worker waits for the next request
                        }
                        lingering = true;
                        if (armed && pool.disarm(token)) {
                            armed = false;
                        }
                    }
                    boolean ready;
                    try {
                        ready = d.awaitReadable(LINGER_MILLIS);
                    } finally {
                        synchronized (this) {
                            lingering = false;
                        }
                    }
                    if (!ready) {
                        return true;
                    }
                    continue;
                }
                lastStart = System.nanoTime();
                busy.incrementAndGet();
                try {
                    if (!session.answer(d, buffers, n)) {
                        return false;
                    }
                } finally {
                    busy.decrementAndGet();
                }
            }
        } catch (SyscallException e) {
            return false; // poll on a closed fd
        }
    }
}
