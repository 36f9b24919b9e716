package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;
import java.time.Duration;

/** {@code struct fuse_attr_out} (104 bytes), the reply to GETATTR: attributes and how long the kernel may cache them. */
public record AttrOut(Duration attrTimeout, Attr attr) implements Reply.Body {
    public static final int SIZE = 104;

    public AttrOut {
        Wire.checkTimeout("attr timeout", attrTimeout);
        if (attr == null) {
            throw new IllegalArgumentException("attr is null");
        }
    }

    @Override
    public int size() {
        return SIZE;
    }

    @Override
    public void writeTo(MemorySegment buf, long offset) {
        Wire.putU64(buf, offset, attrTimeout.getSeconds());
        Wire.putU32(buf, offset + 8, attrTimeout.getNano());
        Wire.putU32(buf, offset + 12, 0);
        attr.writeTo(buf, offset + 16);
    }
}
