package dev.csierofs.cli;

import java.io.PrintStream;
import java.util.function.Supplier;

/**
 * A one-line progress report on stderr for long commands, refreshed every second, shown only
 * when stderr is a terminal (scripts and logs get just the final summary).
 */
final class Progress implements AutoCloseable {
    private final Thread thread;
    private final PrintStream err = System.err;
    private volatile boolean done;

    private Progress(Supplier<String> status) {
        thread = Thread.ofPlatform().daemon().name("progress").unstarted(() -> {
            long start = System.nanoTime();
            while (!done) {
                try {
                    Thread.sleep(1000);
                } catch (InterruptedException e) {
                    return;
                }
                if (!done) {
                    err.printf("\r%s (%.0f s)\u001b[K", status.get(), (System.nanoTime() - start) / 1e9);
                    err.flush();
                }
            }
        });
    }

    /** Starts reporting {@code status} if stderr is a terminal; otherwise does nothing. */
    static Progress start(Supplier<String> status) {
        Progress p = new Progress(status);
        if (System.console() != null && System.console().isTerminal()) {
            p.thread.start();
        }
        return p;
    }

    @Override
    public void close() {
        done = true;
        if (thread.isAlive()) {
            thread.interrupt();
            err.print("\r\u001b[K");
            err.flush();
        }
    }
}
