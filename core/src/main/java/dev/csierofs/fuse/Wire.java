package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/**
 * Little-endian field access on memory segments. Unaligned layouts throughout: segments over
 * {@code byte[]} (tests, tools) have alignment 1, and the kernel's structs are naturally aligned
 * anyway, so this costs nothing on x86-64 or arm64.
 */
final class Wire {
    static final ValueLayout.OfByte BYTE = ValueLayout.JAVA_BYTE;
    static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private Wire() {
    }

    static int u16(MemorySegment s, long off) {
        return Short.toUnsignedInt(s.get(U16, off));
    }

    /** A u32 (or s32) field as its raw 32 bits; callers that need the unsigned value widen it. */
    static int u32(MemorySegment s, long off) {
        return s.get(U32, off);
    }

    static long u64(MemorySegment s, long off) {
        return s.get(U64, off);
    }

    static void putU16(MemorySegment s, long off, int v) {
        s.set(U16, off, (short) v);
    }

    static void putU32(MemorySegment s, long off, int v) {
        s.set(U32, off, v);
    }

    static void putU64(MemorySegment s, long off, long v) {
        s.set(U64, off, v);
    }

    /** Rounds up to the 8-byte boundary the kernel aligns variable-length records to. */
    static int align8(int n) {
        return (n + 7) & ~7;
    }

    /** Throws unless {@code v} fits the u16 field {@code field}: a caller's mistake, not the kernel's. */
    static void checkU16(String field, int v) {
        if (v < 0 || v > 0xffff) {
            throw new IllegalArgumentException(field + " " + v + " does not fit in 16 bits");
        }
    }

    /** Throws unless {@code d} can be sent as a cache timeout (u64 seconds plus nanoseconds). */
    static void checkTimeout(String what, java.time.Duration d) {
        if (d == null || d.isNegative()) {
            throw new IllegalArgumentException(what + " must be zero or positive, not " + d);
        }
    }

    /** A name for messages: printable ASCII as is, every other byte as \xNN. */
    static String printable(byte[] name) {
        StringBuilder sb = new StringBuilder(name.length + 2).append('"');
        for (byte b : name) {
            int c = b & 0xff;
            if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
                sb.append((char) c);
            } else {
                sb.append(String.format("\\x%02x", c));
            }
        }
        return sb.append('"').toString();
    }
}
