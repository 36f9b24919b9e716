package dev.csierofs.sys;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * An epoll instance watching fds for readability, each under a caller-chosen 64-bit token, in
 * one-shot mode: an fd that fired stays silent until {@link #arm}. One thread waits in
 * {@link #await}; any thread may add, arm, disarm or remove.
 *
 * <p>{@code struct epoll_event} is {@code { uint32_t events; uint64_t data; }}, packed on x86-64
 * (12 bytes, data at offset 4) and naturally aligned elsewhere (16 bytes, data at offset 8).
 */
public final class Epoll implements AutoCloseable {
    private static final boolean PACKED = switch (System.getProperty("os.arch")) {
        case "amd64", "x86_64" -> true;
        default -> false;
    };
    static final long EVENT_SIZE = PACKED ? 12 : 16;
    private static final long DATA_OFFSET = PACKED ? 4 : 8;
    private static final ValueLayout.OfLong DATA = ValueLayout.JAVA_LONG_UNALIGNED;

    private final int fd;
    private final int max;
    /** Filled by {@link #await}: only the waiting thread touches it. */
    private final MemorySegment events;
    private volatile boolean closed;

    /** A new epoll fd (close-on-exec) that returns up to {@code max} events per wait. */
    public Epoll(int max) throws SyscallException {
        this.fd = Libc.epollCreate(Libc.EPOLL_CLOEXEC);
        this.max = max;
        this.events = Arena.ofAuto().allocate(EVENT_SIZE * max, 8);
    }

    /** Starts watching {@code watched} for input (or errors), reported once under {@code token}. */
    public void add(int watched, long token) throws SyscallException {
        ctl(Libc.EPOLL_CTL_ADD, watched, token, Libc.EPOLLIN | Libc.EPOLLONESHOT);
    }

    /** Arms {@code watched} again after it fired or was disarmed; reported at once if it is readable already. */
    public void arm(int watched, long token) throws SyscallException {
        ctl(Libc.EPOLL_CTL_MOD, watched, token, Libc.EPOLLIN | Libc.EPOLLONESHOT);
    }

    /**
     * Stops reporting input on {@code watched} until {@link #arm}; errors and hang-ups are still
     * reported (the kernel always watches for those).
     */
    public void disarm(int watched, long token) throws SyscallException {
        ctl(Libc.EPOLL_CTL_MOD, watched, token, Libc.EPOLLONESHOT);
    }

    /** Stops watching {@code watched} (closing it also does, if it has no duplicates). */
    public void remove(int watched) throws SyscallException {
        Libc.epollCtl(fd, Libc.EPOLL_CTL_DEL, watched, MemorySegment.NULL);
    }

    private void ctl(int op, int watched, long token, int events) throws SyscallException {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ev = a.allocate(EVENT_SIZE, 8);
            ev.set(ValueLayout.JAVA_INT, 0, events);
            ev.set(DATA, DATA_OFFSET, token);
            Libc.epollCtl(fd, op, watched, ev);
        }
    }

    /**
     * Waits up to {@code timeoutMillis} (negative: forever) and returns the tokens of the fds
     * that fired (empty on timeout). Not for concurrent use.
     */
    public long[] await(int timeoutMillis) throws SyscallException {
        int n = Libc.epollWait(fd, events, max, timeoutMillis);
        long[] tokens = new long[n];
        for (int i = 0; i < n; i++) {
            tokens[i] = events.get(DATA, i * EVENT_SIZE + DATA_OFFSET);
        }
        return tokens;
    }

    @Override
    public void close() throws SyscallException {
        if (!closed) {
            closed = true;
            Libc.close(fd);
        }
    }
}
