package dev.csierofs.fuse;

import dev.csierofs.sys.Errno;
import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Replies to GETXATTR and LISTXATTR, which share one protocol: a request size of 0 asks only for
 * the size of the answer ({@code struct fuse_getxattr_out}, 8 bytes: u32 size, u32 padding);
 * otherwise the answer itself follows the out header, or ERANGE when it is larger than the
 * size asked for. A LISTXATTR answer is the names, each followed by a NUL. An absent attribute
 * is {@code Reply.error(buf, unique, Errno.ENODATA)}.
 */
public final class XattrReply {
    /** The size of {@code struct fuse_getxattr_out}. */
    public static final int SIZE_OUT = 8;

    private XattrReply() {
    }

    /** The size-only reply ({@code fuse_getxattr_out}) announcing {@code size} bytes. */
    public static int size(MemorySegment buf, long unique, int size) {
        Wire.putU32(buf, Reply.PAYLOAD, size);
        Wire.putU32(buf, Reply.PAYLOAD + 4, 0);
        OutHeader.write(buf, Reply.PAYLOAD + SIZE_OUT, 0, unique);
        return Reply.PAYLOAD + SIZE_OUT;
    }

    /** Answers a GETXATTR of {@code requestedSize} bytes with {@code value}: its size, the value, or ERANGE. */
    public static int value(MemorySegment buf, long unique, int requestedSize, byte[] value) {
        if (requestedSize == 0) {
            return size(buf, unique, value.length);
        }
        if (value.length > requestedSize) {
            return Reply.error(buf, unique, Errno.ERANGE);
        }
        return Reply.bytes(buf, unique, value);
    }

    /**
     * Answers a LISTXATTR of {@code requestedSize} bytes with {@code names} (full names such as
     * {@code user.foo}, without NULs): the list's size, the list, or ERANGE.
     */
    public static int list(MemorySegment buf, long unique, int requestedSize, List<byte[]> names) {
        int total = listLength(names);
        if (requestedSize == 0) {
            return size(buf, unique, total);
        }
        if (total > requestedSize) {
            return Reply.error(buf, unique, Errno.ERANGE);
        }
        long pos = Reply.PAYLOAD;
        for (byte[] n : names) {
            MemorySegment.copy(MemorySegment.ofArray(n), 0, buf, pos, n.length);
            pos += n.length;
            buf.set(Wire.BYTE, pos++, (byte) 0);
        }
        return Reply.data(buf, unique, total);
    }

    /** The length of the LISTXATTR answer for {@code names}: each name plus its NUL. */
    public static int listLength(List<byte[]> names) {
        long total = 0;
        for (byte[] n : names) {
            if (n.length == 0) {
                throw new IllegalArgumentException("empty xattr name");
            }
            for (byte b : n) {
                if (b == 0) {
                    throw new IllegalArgumentException("xattr name " + Wire.printable(n) + " contains a NUL");
                }
            }
            total += n.length + 1;
        }
        if (total > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("xattr list of " + total + " bytes");
        }
        return (int) total;
    }
}
