package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct fuse_open_out} (16 bytes), the reply to OPEN and OPENDIR: the file handle the
 * kernel will quote in later requests, {@code FOPEN_*} flags ({@link Protocol}), and with
 * {@link Protocol#FOPEN_PASSTHROUGH} the id of a backing file registered with
 * {@link dev.csierofs.sys.FuseDevice#backingOpen} (ids start at 1).
 */
public record OpenOut(long fh, int openFlags, int backingId) implements Reply.Body {
    public static final int SIZE = 16;

    public OpenOut {
        boolean passthrough = (openFlags & Protocol.FOPEN_PASSTHROUGH) != 0;
        if (passthrough && backingId <= 0) {
            throw new IllegalArgumentException("FOPEN_PASSTHROUGH needs a backing id >= 1, not " + backingId);
        }
        if (!passthrough && backingId != 0) {
            throw new IllegalArgumentException("backing id " + backingId + " without FOPEN_PASSTHROUGH would be ignored");
        }
    }

    /** An open served by the daemon, with these {@code FOPEN_*} flags. */
    public static OpenOut of(long fh, int openFlags) {
        return new OpenOut(fh, openFlags, 0);
    }

    /** An open whose reads and mmaps go straight to the backing file {@code backingId}. */
    public static OpenOut passthrough(long fh, int backingId) {
        return new OpenOut(fh, Protocol.FOPEN_PASSTHROUGH, backingId);
    }

    @Override
    public int size() {
        return SIZE;
    }

    @Override
    public void writeTo(MemorySegment buf, long offset) {
        Wire.putU64(buf, offset, fh);
        Wire.putU32(buf, offset + 8, openFlags);
        Wire.putU32(buf, offset + 12, backingId);
    }
}
