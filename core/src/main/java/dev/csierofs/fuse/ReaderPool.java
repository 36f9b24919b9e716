package dev.csierofs.fuse;

import dev.csierofs.sys.Epoll;
import dev.csierofs.sys.FuseDevice;
import dev.csierofs.sys.SyscallException;

import java.time.Duration;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.SynchronousQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The threads that read FUSE requests, shared by every session of the process. Blocking reader
 * threads would cost each mounted image two threads (about 90 KiB of stack each, asleep on a
 * quiet mount) for the daemon's whole life. Instead one poller thread waits on every session's
 * fd with epoll, and hands a readable one to a worker; workers are made on demand and end after
 * {@link #KEEP_ALIVE} without work, so an idle daemon has the poller alone.
 *
 * <p>Each fd is watched one-shot: once it fired, it stays silent until its reader
 * {@linkplain #arm arms} it again. That leaves the policy to the reader
 * ({@link ConnectionReader}): how long a worker keeps serving, and when a second worker may
 * join, for which the poller {@linkplain Reader#tick ticks} every reader each
 * {@link #TICK_MILLIS} while any worker is at work (and never while none is).
 */
final class ReaderPool {
    private static final Logger LOG = Logger.getLogger(ReaderPool.class.getName());
    private static final Duration KEEP_ALIVE = Duration.ofSeconds(10);
    static final int TICK_MILLIS = 2;
    private static final long TICK_NANOS = TICK_MILLIS * 1_000_000L;
    private static volatile ReaderPool shared;

    /** What a worker does with a readable fd. */
    interface Reader {
        /**
         * Serves the fd on this worker thread; false when its connection is gone (the pool then
         * stops watching it). The reader arms the fd itself when it wants another worker.
         */
        boolean serve(FuseDevice device);

        /** The fd is watched no more (its connection ended, or it was removed). Called once. */
        void ended(FuseDevice device);

        /** Called on the poller thread about every {@link #TICK_MILLIS} while any worker is at work. */
        default void tick(long nanoTime) {
        }
    }

    private record Registration(FuseDevice device, Reader reader) {
    }

    private final Epoll epoll;
    private final Map<Long, Registration> registered = new ConcurrentHashMap<>();
    private final AtomicLong tokens = new AtomicLong();
    private final AtomicInteger workerNumbers = new AtomicInteger();
    private final ThreadPoolExecutor workers;
    /** Workers dispatched and not done yet (the poller ticks while there are any). */
    private final AtomicInteger atWork = new AtomicInteger();

    private ReaderPool() throws SyscallException {
        this.epoll = new Epoll(64);
        // no queue: every fd that fired gets a thread at once (an idle one, or a new one); their
        // number is bounded by what the readers arm for
        this.workers = new ThreadPoolExecutor(0, Integer.MAX_VALUE, KEEP_ALIVE.toMillis(), TimeUnit.MILLISECONDS,
                new SynchronousQueue<>(), r -> Thread.ofPlatform().daemon().name("fuse-worker-" + workerNumbers.incrementAndGet())
                        .unstarted(r));
        Thread.ofPlatform().daemon().name("fuse-poll").start(this::poll);
    }

    /** The process's pool, made at the first mount. */
    static ReaderPool shared() throws SyscallException {
        ReaderPool p = shared;
        if (p == null) {
            synchronized (ReaderPool.class) {
                p = shared;
                if (p == null) {
                    p = new ReaderPool();
                    shared = p;
                }
            }
        }
        return p;
    }

    /** For tests: how long idle workers live. */
    void keepAlive(Duration d) {
        workers.setKeepAliveTime(Math.max(1, d.toMillis()), TimeUnit.MILLISECONDS);
    }

    /** Worker threads alive now (busy or waiting for work). */
    int workerThreads() {
        return workers.getPoolSize();
    }

    /**
     * Watches {@code device} (made non-blocking here; attached to a connection) for
     * {@code reader}, armed; returns the token that {@link #arm}, {@link #disarm} and
     * {@link #remove} take.
     */
    long add(FuseDevice device, Reader reader) throws SyscallException {
        device.setNonBlocking();
        long token = tokens.incrementAndGet();
        registered.put(token, new Registration(device, reader));
        try {
            epoll.add(device.fd(), token);
        } catch (SyscallException e) {
            registered.remove(token);
            throw e;
        }
        return token;
    }

    /**
     * Arms the fd of {@code token}: its next request (or one already queued) brings a worker.
     * False if it is not watched any more or cannot be armed (logged).
     */
    boolean arm(long token) {
        return ctl(token, true);
    }

    /** Disarms the fd of {@code token} (only the end of its connection still brings a worker). */
    boolean disarm(long token) {
        return ctl(token, false);
    }

    /**
     * Under the registration's lock, like {@link #drop}: no fd is armed after it was removed
     * (by then its number may belong to another session's fd).
     */
    private boolean ctl(long token, boolean arm) {
        Registration r = registered.get(token);
        if (r == null) {
            return false;
        }
        synchronized (r) {
            if (registered.get(token) != r) {
                return false;
            }
            try {
                if (arm) {
                    epoll.arm(r.device().fd(), token);
                } else {
                    epoll.disarm(r.device().fd(), token);
                }
                return true;
            } catch (SyscallException e) {
                LOG.log(Level.SEVERE, (arm ? "watching " : "pausing ") + r.device() + " failed: " + e.getMessage());
                return false;
            }
        }
    }

    /**
     * Stops watching the fd of {@code token} (call before closing it). A worker serving it right
     * now finishes its request; the reader is told {@link Reader#ended} once.
     */
    void remove(long token) {
        Registration r = registered.get(token);
        if (r != null && drop(token, r)) {
            r.reader().ended(r.device());
        }
    }

    /** Forgets a registration and unwatches its fd; true if this call dropped it. */
    private boolean drop(long token, Registration r) {
        synchronized (r) {
            if (!registered.remove(token, r)) {
                return false;
            }
            try {
                epoll.remove(r.device().fd());
            } catch (SyscallException e) {
                // already closed (EBADF): nothing is watched either way
            }
            return true;
        }
    }

    private void poll() {
        long lastTick = System.nanoTime();
        while (true) {
            try {
                for (long token : epoll.await(atWork.get() > 0 ? TICK_MILLIS : -1)) {
                    Registration r = registered.get(token);
                    if (r != null) {
                        dispatch(token, r);
                    }
                }
                long now = System.nanoTime();
                if (atWork.get() > 0 && now - lastTick >= TICK_NANOS) {
                    lastTick = now;
                    for (Registration r : registered.values()) {
                        r.reader().tick(now);
                    }
                }
            } catch (SyscallException | RuntimeException | Error e) {
                // not expected (epoll_wait fails only with EBADF, EFAULT, EINVAL; or out of
                // memory): keep going, since without this thread no mount gets an answer
                LOG.log(Level.SEVERE, "waiting for FUSE requests failed: " + e);
                sleepQuietly();
            }
        }
    }

    private void dispatch(long token, Registration r) {
        Runnable work = () -> serve(token, r);
        atWork.incrementAndGet(); // here, not on the worker: the next wait must already tick
        try {
            workers.execute(work);
        } catch (RejectedExecutionException | OutOfMemoryError e) {
            // no thread could be made: serve it here rather than leave the mount unanswered
            LOG.log(Level.WARNING, "no FUSE worker thread could be started (" + e + "); serving on the poller thread");
            work.run();
        }
    }

    private void serve(long token, Registration r) {
        boolean alive;
        try {
            alive = r.reader().serve(r.device());
        } catch (RuntimeException | Error e) {
            LOG.log(Level.SEVERE, "FUSE reader of " + r.device() + " failed; its mount gets no more answers", e);
            alive = false;
        } finally {
            atWork.decrementAndGet();
        }
        if (!alive && drop(token, r)) {
            r.reader().ended(r.device());
        }
    }

    private static void sleepQuietly() {
        try {
            Thread.sleep(100);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
