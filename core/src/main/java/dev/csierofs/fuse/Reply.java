package dev.csierofs.fuse;

import dev.csierofs.sys.Errno;
import java.lang.foreign.MemorySegment;

/**
 * Writes whole replies (out header plus body) at offset 0 of a caller's buffer and returns their
 * length, so one buffer per thread serves every reply: {@code write(fd, buf, Reply.of(...))}.
 * Encoders write every byte of the reply, padding included, so a reused buffer leaks nothing.
 * The buffer must be large enough for the reply; a too small one is the caller's bug and throws
 * {@link IndexOutOfBoundsException}.
 *
 * <p>Which reply answers which request: LOOKUP {@link EntryOut}; GETATTR {@link AttrOut};
 * OPEN, OPENDIR {@link OpenOut}; STATFS {@link StatfsOut}; LSEEK {@link LseekOut}; INIT
 * {@link InitOut}; READ, READLINK {@link #data} or {@link #bytes}; READDIR, READDIRPLUS
 * {@link DirentList}; GETXATTR, LISTXATTR {@link XattrReply}; RELEASE, RELEASEDIR, FLUSH,
 * ACCESS {@link #ok}. FORGET, BATCH_FORGET and INTERRUPT get none.
 */
public final class Reply {
    /** Where a reply's body starts: right after the out header. */
    public static final int PAYLOAD = OutHeader.SIZE;

    private Reply() {
    }

    /** A fixed-size reply body: one of the kernel's {@code fuse_*_out} structs. */
    public sealed interface Body permits InitOut, EntryOut, AttrOut, OpenOut, StatfsOut, LseekOut {
        /** The struct's size on the wire. */
        int size();

        /** Writes the struct, every byte of it, at {@code offset}. */
        void writeTo(MemorySegment buf, long offset);
    }

    /** A successful reply carrying {@code body}. */
    public static int of(MemorySegment buf, long unique, Body body) {
        int len = PAYLOAD + body.size();
        OutHeader.write(buf, len, 0, unique);
        body.writeTo(buf, PAYLOAD);
        return len;
    }

    /** A failed request: {@code errno} is positive (for example {@link Errno#ENOENT}) and sent negated. */
    public static int error(MemorySegment buf, long unique, int errno) {
        if (errno <= 0 || errno > Errno.MAX) {
            throw new IllegalArgumentException("errno " + errno + " is outside 1.." + Errno.MAX + " and the kernel would reject the reply");
        }
        OutHeader.write(buf, PAYLOAD, -errno, unique);
        return PAYLOAD;
    }

    /** Success with no body (RELEASE, RELEASEDIR, FLUSH, ACCESS). */
    public static int ok(MemorySegment buf, long unique) {
        OutHeader.write(buf, PAYLOAD, 0, unique);
        return PAYLOAD;
    }

    /**
     * Success whose {@code length} payload bytes the caller has already placed at
     * {@link #PAYLOAD}, for example file data read straight into the buffer for a READ.
     * A READ reply shorter than asked means end of file.
     */
    public static int data(MemorySegment buf, long unique, int length) {
        if (length < 0) {
            throw new IllegalArgumentException("negative payload length " + length);
        }
        OutHeader.write(buf, PAYLOAD + length, 0, unique);
        return PAYLOAD + length;
    }

    /** Success whose payload is {@code payload}, copied in (READLINK's target, without a NUL). */
    public static int bytes(MemorySegment buf, long unique, byte[] payload) {
        MemorySegment.copy(MemorySegment.ofArray(payload), 0, buf, PAYLOAD, payload.length);
        return data(buf, unique, payload.length);
    }
}
