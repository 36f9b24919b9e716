package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct fuse_init_in}, the body of INIT, the first request of a session: the kernel's
 * protocol version, its readahead limit and the capabilities it offers. Kernels before 7.36
 * send only the first 16 bytes; later ones send 64 with {@code flags2} valid when {@code flags}
 * has {@link Protocol#INIT_EXT}. {@code flags} and {@code flags2} are raw u32.
 */
public record InitIn(int major, int minor, int maxReadahead, int flags, int flags2) implements Request.Body {
    /** The size a 7.36+ kernel sends. */
    public static final int SIZE = 64;
    /** The size before 7.36 (no flags2). */
    public static final int COMPAT_SIZE = 16;

    /** Every capability offered, 64-bit: {@code flags}, plus {@code flags2} shifted up by 32 when INIT_EXT is set. */
    public long capabilities() {
        long caps = Integer.toUnsignedLong(flags);
        if ((caps & Protocol.INIT_EXT) != 0) {
            caps |= Integer.toUnsignedLong(flags2) << 32;
        }
        return caps;
    }

    /** True if the kernel offers capability {@code flag} (a {@code Protocol.INIT_*} constant). */
    public boolean offers(long flag) {
        return (capabilities() & flag) == flag;
    }

    static InitIn decode(InHeader h, MemorySegment body) throws FuseProtocolException {
        if (body.byteSize() < COMPAT_SIZE) {
            throw new FuseProtocolException(h, "fuse_init_in", "body is " + body.byteSize() + " bytes, needs at least " + COMPAT_SIZE);
        }
        int flags2 = body.byteSize() >= 20 ? Wire.u32(body, 16) : 0;
        return new InitIn(Wire.u32(body, 0), Wire.u32(body, 4), Wire.u32(body, 8), Wire.u32(body, 12), flags2);
    }
}
