package dev.csierofs.tools;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;

/**
 * A fixed pool of daemon threads for whole-image jobs (extract, fsck), fed by one walking
 * thread. The queue of unfinished tasks is bounded: past {@value #MAX_PENDING}, submitting waits
 * for the queue to drain, so a huge image never holds millions of pending tasks. The first task
 * failure is rethrown, as itself, by {@link #submit} or {@link #await}.
 */
final class Workers implements AutoCloseable {
    static final int MAX_PENDING = 4096;

    /** A task that may fail with an I/O error. */
    @FunctionalInterface
    interface Task {
        void run() throws IOException;
    }

    private final ExecutorService pool;
    private final List<Future<?>> pending = new ArrayList<>();

    Workers(int threads, String name) {
        pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            return t;
        });
    }

    void submit(Task task) throws IOException {
        pending.add(pool.submit(() -> {
            try {
                task.run();
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            }
        }));
        if (pending.size() >= MAX_PENDING) {
            await();
        }
    }

    /** Waits for every submitted task; rethrows the first failure. */
    void await() throws IOException {
        try {
            for (Future<?> f : pending) {
                try {
                    f.get();
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                    throw new IOException("interrupted while waiting for workers", e);
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof UncheckedIOException u) {
                        throw u.getCause();
                    }
                    throw new IOException("a worker failed: " + e.getCause(), e.getCause());
                }
            }
        } finally {
            pending.clear();
        }
    }

    /** Stops the workers and waits (briefly) until none is still touching files. */
    @Override
    public void close() {
        pool.shutdownNow();
        try {
            pool.awaitTermination(30, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
