package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;
import java.time.Duration;

/**
 * {@code struct fuse_entry_out} (128 bytes), the reply to LOOKUP and the head of each
 * READDIRPLUS entry: the child's nodeid and generation (the pair must never name two different
 * inodes over the mount's life), how long the kernel may cache the name and the attributes, and
 * the attributes. Each one sent with a non-zero nodeid counts as one lookup the kernel will
 * later FORGET.
 */
public record EntryOut(long nodeid, long generation, Duration entryTimeout, Duration attrTimeout, Attr attr)
        implements Reply.Body {
    public static final int SIZE = 128;

    public EntryOut {
        Wire.checkTimeout("entry timeout", entryTimeout);
        Wire.checkTimeout("attr timeout", attrTimeout);
        if (attr == null) {
            throw new IllegalArgumentException("attr is null (use Attr.NONE)");
        }
    }

    /**
     * A negative entry: "no such name", cached by the kernel for {@code timeout}. Answering
     * LOOKUP with this instead of ENOENT spares repeated lookups of absent names.
     */
    public static EntryOut negative(Duration timeout) {
        return new EntryOut(0, 0, timeout, Duration.ZERO, Attr.NONE);
    }

    @Override
    public int size() {
        return SIZE;
    }

    @Override
    public void writeTo(MemorySegment buf, long offset) {
        Wire.putU64(buf, offset, nodeid);
        Wire.putU64(buf, offset + 8, generation);
        Wire.putU64(buf, offset + 16, entryTimeout.getSeconds());
        Wire.putU64(buf, offset + 24, attrTimeout.getSeconds());
        Wire.putU32(buf, offset + 32, entryTimeout.getNano());
        Wire.putU32(buf, offset + 36, attrTimeout.getNano());
        attr.writeTo(buf, offset + 40);
    }
}
