package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;

/**
 * {@code struct fuse_in_header}, the 40 bytes in front of every request. {@code uid}, {@code gid}
 * and {@code pid} are the caller's, as raw u32 (widen with {@link Integer#toUnsignedLong}).
 * {@code totalExtlen} counts 8-byte units of extensions (security context, supplementary groups)
 * that the kernel appends after the body of creating requests.
 */
public record InHeader(int len, int opcode, long unique, long nodeid, int uid, int gid, int pid, int totalExtlen) {
    public static final int SIZE = 40;

    /** The body's length: what follows the header, before any extensions. */
    public int bodyLength() {
        return len - SIZE - totalExtlen * 8;
    }

    /** The opcode's name, or "opcode N" when unknown. */
    public String opcodeName() {
        return Opcode.name(opcode);
    }

    /**
     * Decodes and checks the header of one request. {@code message} is exactly what one
     * {@code read()} of /dev/fuse returned: the kernel hands over one whole request per read,
     * so its {@code len} must equal the message's size.
     */
    public static InHeader decode(MemorySegment message) throws FuseProtocolException {
        long size = message.byteSize();
        if (size < SIZE) {
            throw new FuseProtocolException(size >= 8 ? Wire.u32(message, 4) : -1, "fuse_in_header",
                    "message is " + size + " bytes, shorter than the " + SIZE + "-byte header");
        }
        long len = Integer.toUnsignedLong(Wire.u32(message, 0));
        int opcode = Wire.u32(message, 4);
        if (len != size) {
            throw new FuseProtocolException(opcode, "fuse_in_header.len", "says " + len + " bytes but the message is " + size);
        }
        int extlen = Wire.u16(message, 36);
        if (SIZE + extlen * 8L > len) {
            throw new FuseProtocolException(opcode, "fuse_in_header.total_extlen",
                    extlen + " units of 8 bytes do not fit in a " + len + "-byte request");
        }
        return new InHeader((int) len, opcode, Wire.u64(message, 8), Wire.u64(message, 16), Wire.u32(message, 24),
                Wire.u32(message, 28), Wire.u32(message, 32), extlen);
    }
}
