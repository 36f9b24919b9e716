package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct fuse_init_out} (64 bytes), the reply to INIT, normally built by
 * {@link InitNegotiation}. {@code flags}/{@code flags2} are the capabilities the daemon enables
 * (the kernel reads {@code flags2} only when {@code flags} has {@link Protocol#INIT_EXT});
 * {@code maxPages} counts only with {@link Protocol#INIT_MAX_PAGES}; {@code maxStackDepth} must
 * be 1 or 2 for passthrough to take effect; {@code requestTimeout} (seconds) only with
 * {@link Protocol#INIT_REQUEST_TIMEOUT}. Zero for {@code maxBackground} or
 * {@code congestionThreshold} keeps the kernel's default.
 */
public record InitOut(
        int major,
        int minor,
        int maxReadahead,
        int flags,
        int maxBackground,
        int congestionThreshold,
        int maxWrite,
        int timeGran,
        int maxPages,
        int mapAlignment,
        int flags2,
        int maxStackDepth,
        int requestTimeout) implements Reply.Body {

    public static final int SIZE = 64;

    public InitOut {
        Wire.checkU16("max_background", maxBackground);
        Wire.checkU16("congestion_threshold", congestionThreshold);
        Wire.checkU16("max_pages", maxPages);
        Wire.checkU16("map_alignment", mapAlignment);
        Wire.checkU16("request_timeout", requestTimeout);
    }

    /** The enabled capabilities, 64-bit, encoded like {@link InitIn#capabilities()}. */
    public long capabilities() {
        long caps = Integer.toUnsignedLong(flags);
        if ((caps & Protocol.INIT_EXT) != 0) {
            caps |= Integer.toUnsignedLong(flags2) << 32;
        }
        return caps;
    }

    @Override
    public int size() {
        return SIZE;
    }

    @Override
    public void writeTo(MemorySegment buf, long offset) {
        Wire.putU32(buf, offset, major);
        Wire.putU32(buf, offset + 4, minor);
        Wire.putU32(buf, offset + 8, maxReadahead);
        Wire.putU32(buf, offset + 12, flags);
        Wire.putU16(buf, offset + 16, maxBackground);
        Wire.putU16(buf, offset + 18, congestionThreshold);
        Wire.putU32(buf, offset + 20, maxWrite);
        Wire.putU32(buf, offset + 24, timeGran);
        Wire.putU16(buf, offset + 28, maxPages);
        Wire.putU16(buf, offset + 30, mapAlignment);
        Wire.putU32(buf, offset + 32, flags2);
        Wire.putU32(buf, offset + 36, maxStackDepth);
        Wire.putU16(buf, offset + 40, requestTimeout);
        buf.asSlice(offset + 42, SIZE - 42).fill((byte) 0);
    }
}
