package dev.csierofs.fuse;

import static dev.csierofs.fuse.Protocol.INIT_ASYNC_READ;
import static dev.csierofs.fuse.Protocol.INIT_CACHE_SYMLINKS;
import static dev.csierofs.fuse.Protocol.INIT_DO_READDIRPLUS;
import static dev.csierofs.fuse.Protocol.INIT_EXT;
import static dev.csierofs.fuse.Protocol.INIT_MAX_PAGES;
import static dev.csierofs.fuse.Protocol.INIT_PARALLEL_DIROPS;
import static dev.csierofs.fuse.Protocol.INIT_PASSTHROUGH;
import static dev.csierofs.fuse.Protocol.INIT_READDIRPLUS_AUTO;
import static dev.csierofs.fuse.Protocol.INIT_WRITEBACK_CACHE;

/**
 * Answers the kernel's INIT: a pure function from what the kernel offers ({@link InitIn}) and
 * what the daemon wants ({@link Options}) to the reply and what was agreed ({@link Result}).
 *
 * <p>Rules: protocol 7 only; minor = min(kernel's, {@link Protocol#KERNEL_MINOR_VERSION}), at
 * least {@link Protocol#MIN_KERNEL_MINOR}; a capability is enabled only if the kernel offers
 * it; {@code flags2} and INIT_EXT only if the kernel sent INIT_EXT; max_pages only if it offers
 * MAX_PAGES; readahead capped at the kernel's. Passthrough is enabled only when the kernel offers
 * it, and then with {@code max_stack_depth} 1 and without WRITEBACK_CACHE: otherwise the kernel
 * accepts the reply but silently leaves passthrough off, and the only symptom is
 * BACKING_OPEN failing with EPERM.
 */
public final class InitNegotiation {
    private InitNegotiation() {
    }

    /**
     * What the daemon asks for. {@code flags} are the wanted {@code Protocol.INIT_*}
     * capabilities other than the three negotiated here (INIT_EXT, MAX_PAGES, PASSTHROUGH).
     * {@code maxPages} 0 leaves the kernel's default (32 pages); {@code maxBackground} and
     * {@code congestionThreshold} 0 keep the kernel's defaults; {@code timeGran} is the timestamp
     * granularity in nanoseconds.
     */
    public record Options(
            boolean passthrough,
            long flags,
            int maxReadahead,
            int maxPages,
            int maxBackground,
            int congestionThreshold,
            int maxWrite,
            int timeGran) {

        /** Read-only defaults: async reads, parallel lookups, adaptive READDIRPLUS, cached symlinks. */
        public static final long DEFAULT_FLAGS = INIT_ASYNC_READ | INIT_PARALLEL_DIROPS | INIT_DO_READDIRPLUS
                | INIT_READDIRPLUS_AUTO | INIT_CACHE_SYMLINKS;

        public Options {
            long managed = flags & (INIT_EXT | INIT_MAX_PAGES | INIT_PASSTHROUGH);
            if (managed != 0) {
                throw new IllegalArgumentException("flags 0x" + Long.toHexString(managed)
                        + " are negotiated from passthrough and maxPages, not requested directly");
            }
            if (passthrough && (flags & INIT_WRITEBACK_CACHE) != 0) {
                throw new IllegalArgumentException("WRITEBACK_CACHE cannot be combined with passthrough (the kernel would disable passthrough)");
            }
            if (maxReadahead < 0) {
                throw new IllegalArgumentException("maxReadahead " + maxReadahead + " is negative");
            }
            Wire.checkU16("maxPages", maxPages);
            Wire.checkU16("maxBackground", maxBackground);
            Wire.checkU16("congestionThreshold", congestionThreshold);
            if (maxWrite < 4096) {
                throw new IllegalArgumentException("maxWrite " + maxWrite + " is below the kernel's minimum of 4096");
            }
            if (timeGran < 1 || timeGran > 1_000_000_000) {
                throw new IllegalArgumentException("timeGran " + timeGran + " ns is outside 1..1000000000");
            }
        }

        /**
         * Passthrough wanted, {@link #DEFAULT_FLAGS}, 1 MiB readahead (the kernel caps it at its
         * own offer), 256 pages (1 MiB) per request, the least max_write (4 KiB: it only sizes
         * the request buffers of a read-only filesystem, one per reader of every mount), kernel defaults for background requests, 1 ns times.
         */
        public static Options defaults() {
            return new Options(true, DEFAULT_FLAGS, 1 << 20, 256, 0, 0, 4096, 1);
        }

        public Options withPassthrough(boolean p) {
            return new Options(p, flags, maxReadahead, maxPages, maxBackground, congestionThreshold, maxWrite, timeGran);
        }

        public Options withFlags(long f) {
            return new Options(passthrough, f, maxReadahead, maxPages, maxBackground, congestionThreshold, maxWrite, timeGran);
        }

        public Options withMaxReadahead(int bytes) {
            return new Options(passthrough, flags, bytes, maxPages, maxBackground, congestionThreshold, maxWrite, timeGran);
        }

        public Options withMaxPages(int pages) {
            return new Options(passthrough, flags, maxReadahead, pages, maxBackground, congestionThreshold, maxWrite, timeGran);
        }

        public Options withBackground(int max, int congestion) {
            return new Options(passthrough, flags, maxReadahead, maxPages, max, congestion, maxWrite, timeGran);
        }
    }

    /**
     * The outcome: the reply to send, the capabilities in force (64-bit, as in
     * {@link Protocol}) and whether passthrough was negotiated. Register backing files only
     * after the reply has been written.
     */
    public record Result(InitOut reply, long capabilities, boolean passthrough) {
        /** True if capability {@code flag} is in force. */
        public boolean has(long flag) {
            return (capabilities & flag) == flag;
        }

        /**
         * The smallest buffer the kernel accepts for a {@code read()} of /dev/fuse after this
         * INIT: room for a header, a {@code fuse_write_in} and max_write bytes, at least 8 KiB.
         */
        public int requestBufferSize() {
            return Math.max(Protocol.MIN_READ_BUFFER, InHeader.SIZE + 40 + reply.maxWrite());
        }
    }

    /** Negotiates; refuses (with the field named) a major other than 7 or a minor below 23. */
    public static Result negotiate(InitIn kernel, Options options) throws FuseProtocolException {
        if (kernel.major() != Protocol.KERNEL_VERSION) {
            throw new FuseProtocolException(Opcode.INIT.code(), "fuse_init_in.major", "kernel speaks protocol "
                    + Integer.toUnsignedString(kernel.major()) + "." + Integer.toUnsignedString(kernel.minor())
                    + ", this daemon only " + Protocol.KERNEL_VERSION + ".x");
        }
        if (Integer.compareUnsigned(kernel.minor(), Protocol.MIN_KERNEL_MINOR) < 0) {
            throw new FuseProtocolException(Opcode.INIT.code(), "fuse_init_in.minor", "kernel speaks protocol 7."
                    + kernel.minor() + ", older than the 7." + Protocol.MIN_KERNEL_MINOR + " this daemon needs");
        }
        int minor = Integer.compareUnsigned(kernel.minor(), Protocol.KERNEL_MINOR_VERSION) < 0
                ? kernel.minor() : Protocol.KERNEL_MINOR_VERSION;
        long offered = kernel.capabilities();
        long enabled = options.flags() & offered;
        boolean maxPages = options.maxPages() > 0 && (offered & INIT_MAX_PAGES) != 0;
        if (maxPages) {
            enabled |= INIT_MAX_PAGES;
        }
        boolean passthrough = options.passthrough() && (offered & INIT_PASSTHROUGH) != 0;
        if (passthrough) {
            enabled = (enabled | INIT_PASSTHROUGH) & ~INIT_WRITEBACK_CACHE;
        }
        if ((offered & INIT_EXT) != 0) {
            enabled |= INIT_EXT;
        }
        long readahead = Math.min(options.maxReadahead(), Integer.toUnsignedLong(kernel.maxReadahead()));
        InitOut reply = new InitOut(Protocol.KERNEL_VERSION, minor, (int) readahead, (int) enabled,
                options.maxBackground(), options.congestionThreshold(), options.maxWrite(), options.timeGran(),
                maxPages ? options.maxPages() : 0, 0, (int) (enabled >>> 32), passthrough ? 1 : 0, 0);
        return new Result(reply, reply.capabilities(), passthrough);
    }
}
