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
 * The threads that read FUSE requests, shared by every session of the process. A reader thread
 * per connection fd would cost each mounted image two threads (about 90 KiB of stack each, and
 * most of them asleep on a quiet mount) for the daemon's whole life. Instead one poller thread
 * waits on every session's fds with epoll; a readable fd is handed to a worker, which serves its
 * requests until the fd has been quiet for {@link #LINGER_MILLIS} and then hands it back. Workers
 * are made on demand and end after {@link #keepAlive} without work, so an idle daemon has the
 * poller alone, and a busy one about as many workers as fds with traffic.
 *
 * <p>Each fd is armed one-shot, so at most one worker serves it at a time: a session with n fds
 * (its device and n-1 clones) has at most n requests in progress, as with n blocking readers.
 */
final class ReaderPool {
    private static final Logger LOG = Logger.getLogger(ReaderPool.class.getName());
    /**
     * How long a worker waits on its fd for the next request before handing it back: a burst
     * (a process walking a tree: LOOKUP, OPEN, RELEASE... microseconds apart) is then served as
     * by a blocking reader, without a poller wake-up and a hand-over per request.
     */
    static final int LINGER_MILLIS = 50;
    private static final Duration KEEP_ALIVE = Duration.ofSeconds(10);
    private static volatile ReaderPool shared;

    /** What a worker does with a readable fd; true to watch the fd again, false when its connection is gone. */
    interface Reader {
        boolean serve(FuseDevice device);

        /** The fd will not be served again (its connection ended, or the pool dropped it). */
        void ended(FuseDevice device);
    }

    private record Registration(FuseDevice device, Reader reader) {
    }

    private final Epoll epoll;
    private final Map<Long, Registration> registered = new ConcurrentHashMap<>();
    private final AtomicLong tokens = new AtomicLong();
    private final AtomicInteger workerNumbers = new AtomicInteger();
    private final ThreadPoolExecutor workers;

    private ReaderPool() throws SyscallException {
        this.epoll = new Epoll(64);
        // no queue: every readable fd gets a thread at once (an idle one, or a new one); their
        // number is bounded by the fds, each of which has at most one worker
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
     * Serves {@code device} (non-blocking, attached to a connection) with {@code reader} from now
     * on; returns the token that {@link #remove} takes.
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
     * Stops serving the fd added under {@code token} (before it is closed). A worker serving it
     * right now finishes its request; the reader is told {@link Reader#ended} once.
     */
    void remove(long token) {
        Registration r = registered.get(token);
        if (r != null && drop(token, r)) {
            r.reader().ended(r.device());
        }
    }

    /**
     * Forgets a registration and unwatches its fd, under the registration's lock: a worker re-arms
     * under the same lock and only while still registered, so no fd is re-armed after it was
     * removed (by then its number may belong to another session's fd). True if this call dropped it.
     */
    private boolean drop(long token, Registration r) {
        synchronized (r) {
            if (!registered.remove(token, r)) {
                return false;
            }
            unwatch(r);
            return true;
        }
    }

    private void poll() {
        while (true) {
            try {
                for (long token : epoll.await(-1)) {
                    Registration r = registered.get(token);
                    if (r != null) {
                        dispatch(token, r);
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
        try {
            workers.execute(work);
        } catch (RejectedExecutionException | OutOfMemoryError e) {
            // no thread could be made: serve it here rather than leave the mount unanswered
            LOG.log(Level.WARNING, "no FUSE worker thread could be started (" + e + "); serving on the poller thread");
            work.run();
        }
    }

    private void serve(long token, Registration r) {
        boolean again;
        try {
            again = r.reader().serve(r.device());
        } catch (RuntimeException | Error e) {
            LOG.log(Level.SEVERE, "FUSE reader of " + r.device() + " failed; its mount gets no more answers from it", e);
            again = false;
        }
        if (again) {
            synchronized (r) {
                if (registered.get(token) != r) {
                    return; // removed meanwhile: its remover told the reader
                }
                try {
                    epoll.rearm(r.device().fd(), token);
                    return;
                } catch (SyscallException e) {
                    LOG.log(Level.WARNING, "watching " + r.device() + " again failed: " + e.getMessage());
                }
            }
        }
        if (drop(token, r)) {
            r.reader().ended(r.device());
        }
    }

    private void unwatch(Registration r) {
        try {
            epoll.remove(r.device().fd());
        } catch (SyscallException e) {
            // already closed (EBADF) or never added: nothing is watched either way
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
