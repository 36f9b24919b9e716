package dev.csierofs.fuse;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * One request from the kernel: its header and its typed body. {@link #decode} takes exactly the
 * bytes one {@code read()} of /dev/fuse returned, as a {@link MemorySegment} (a native buffer
 * in the daemon, {@code MemorySegment.ofArray} in tests; {@code MemorySegment.ofBuffer} adapts a
 * {@code ByteBuffer}). The decoded request copies what it needs (names are small), so the buffer
 * may be reused as soon as {@code decode} returns.
 *
 * <p>Bodies are decoded for what a read-only filesystem serves; every other opcode, the
 * modifying ones included, decodes to {@link Unsupported} (answer it EROFS when
 * {@link Unsupported#isWrite()}, else ENOSYS). Dispatch with a pattern switch over
 * {@link Body}; the node a request is about is {@link InHeader#nodeid()}.
 *
 * <p>Fixed-size bodies must have exactly the size of their struct at the negotiated protocol
 * (only INIT, which comes before negotiation, may be longer), names must end with their NUL and
 * nothing after it, and the header's lengths must agree with the message: anything else throws
 * {@link FuseProtocolException}, never an unchecked exception.
 */
public record Request(InHeader header, Body body) {

    /** A typed request body. */
    public sealed interface Body permits InitIn, Lookup, Forget, BatchForget, GetAttr, ReadLink, Open, OpenDir, Read,
            ReadDir, Release, ReleaseDir, StatFs, GetXattr, ListXattr, Flush, Access, Interrupt, Lseek, Statx, Destroy,
            Unsupported {
    }

    /** LOOKUP: find {@code name} in directory {@code nodeid}. The name excludes its NUL. */
    public record Lookup(byte[] name) implements Body {
        @Override
        public String toString() {
            return "Lookup[name=" + Wire.printable(name) + "]";
        }
    }

    /** FORGET ({@code fuse_forget_in}): drop {@code nlookup} lookups of node {@code nodeid}. No reply. */
    public record Forget(long nlookup) implements Body {
    }

    /** One {@code fuse_forget_one} of a BATCH_FORGET. */
    public record ForgetOne(long nodeid, long nlookup) {
    }

    /** BATCH_FORGET ({@code fuse_batch_forget_in} and its entries). No reply. */
    public record BatchForget(List<ForgetOne> forgets) implements Body {
    }

    /** GETATTR ({@code fuse_getattr_in}); {@code fh} is valid when {@link #hasFh()}. */
    public record GetAttr(int getattrFlags, long fh) implements Body {
        public boolean hasFh() {
            return (getattrFlags & Protocol.GETATTR_FH) != 0;
        }
    }

    /** READLINK: no body. */
    public record ReadLink() implements Body {
    }

    /** OPEN ({@code fuse_open_in}): {@code flags} are the open(2) flags, {@code openFlags} FUSE_OPEN_*. */
    public record Open(int flags, int openFlags) implements Body {
    }

    /** OPENDIR ({@code fuse_open_in}). */
    public record OpenDir(int flags, int openFlags) implements Body {
    }

    /** READ ({@code fuse_read_in}): {@code size} bytes at {@code offset} of open file {@code fh}. */
    public record Read(long fh, long offset, int size, int readFlags, long lockOwner, int flags) implements Body {
    }

    /**
     * READDIR or READDIRPLUS ({@code fuse_read_in}): entries of open directory {@code fh} from
     * the position {@code offset} (0, or an offset this daemon gave an earlier entry), filling at
     * most {@code size} bytes. Answer with {@link DirentList#forRequest}.
     */
    public record ReadDir(long fh, long offset, int size, boolean plus) implements Body {
    }

    /** RELEASE ({@code fuse_release_in}): the last close of open file {@code fh}. */
    public record Release(long fh, int flags, int releaseFlags, long lockOwner) implements Body {
    }

    /** RELEASEDIR ({@code fuse_release_in}). */
    public record ReleaseDir(long fh, int flags) implements Body {
    }

    /** STATFS: no body. */
    public record StatFs() implements Body {
    }

    /** GETXATTR ({@code fuse_getxattr_in} and the name): size 0 asks for the value's size only. */
    public record GetXattr(int size, byte[] name) implements Body {
        @Override
        public String toString() {
            return "GetXattr[size=" + size + ", name=" + Wire.printable(name) + "]";
        }
    }

    /** LISTXATTR ({@code fuse_getxattr_in}): size 0 asks for the list's size only. */
    public record ListXattr(int size) implements Body {
    }

    /** FLUSH ({@code fuse_flush_in}): sent on every close(2) of open file {@code fh}. */
    public record Flush(long fh, long lockOwner) implements Body {
    }

    /** ACCESS ({@code fuse_access_in}): {@code mask} of R_OK/W_OK/X_OK (only without default_permissions). */
    public record Access(int mask) implements Body {
    }

    /** INTERRUPT ({@code fuse_interrupt_in}): the caller gave up on request {@code unique}. */
    public record Interrupt(long unique) implements Body {
    }

    /** LSEEK ({@code fuse_lseek_in}): SEEK_DATA (3) or SEEK_HOLE (4) from {@code offset}. */
    public record Lseek(long fh, long offset, int whence) implements Body {
    }

    /** STATX ({@code fuse_statx_in}). Answering ENOSYS makes the kernel fall back to GETATTR for good. */
    public record Statx(int getattrFlags, long fh, int sxFlags, int sxMask) implements Body {
    }

    /** DESTROY: the connection is going away (sent for block-device mounts only). */
    public record Destroy() implements Body {
    }

    /** Any opcode whose body is not decoded here, known or not. */
    public record Unsupported(int opcode) implements Body {
        /** True for requests that would modify the filesystem: answer EROFS. */
        public boolean isWrite() {
            return Opcode.isWrite(opcode);
        }

        /** False for requests that take no reply (FORGET-like, NOTIFY_REPLY, INTERRUPT). */
        public boolean expectsReply() {
            Opcode o = Opcode.of(opcode);
            return o == null || o.expectsReply();
        }

        @Override
        public String toString() {
            return "Unsupported[" + Opcode.name(opcode) + "]";
        }
    }

    private static final ReadLink READLINK = new ReadLink();
    private static final StatFs STATFS = new StatFs();
    private static final Destroy DESTROY = new Destroy();

    public long unique() {
        return header.unique();
    }

    public long nodeid() {
        return header.nodeid();
    }

    public int opcode() {
        return header.opcode();
    }

    /** Decodes one whole request: {@code message} is exactly the bytes one read of /dev/fuse returned. */
    public static Request decode(MemorySegment message) throws FuseProtocolException {
        InHeader h = InHeader.decode(message);
        MemorySegment b = message.asSlice(InHeader.SIZE, h.bodyLength());
        Opcode op = Opcode.of(h.opcode());
        Body body = switch (op) {
            case INIT -> InitIn.decode(h, b);
            case LOOKUP -> new Lookup(name(h, b, 0));
            case FORGET -> {
                exact(h, b, 8, "fuse_forget_in");
                yield new Forget(Wire.u64(b, 0));
            }
            case BATCH_FORGET -> batchForget(h, b);
            case GETATTR -> {
                exact(h, b, 16, "fuse_getattr_in");
                yield new GetAttr(Wire.u32(b, 0), Wire.u64(b, 8));
            }
            case READLINK -> {
                exact(h, b, 0, "READLINK body");
                yield READLINK;
            }
            case OPEN -> {
                exact(h, b, 8, "fuse_open_in");
                yield new Open(Wire.u32(b, 0), Wire.u32(b, 4));
            }
            case OPENDIR -> {
                exact(h, b, 8, "fuse_open_in");
                yield new OpenDir(Wire.u32(b, 0), Wire.u32(b, 4));
            }
            case READ -> {
                exact(h, b, 40, "fuse_read_in");
                yield new Read(Wire.u64(b, 0), Wire.u64(b, 8), size(h, b, 16, "fuse_read_in.size"), Wire.u32(b, 20),
                        Wire.u64(b, 24), Wire.u32(b, 32));
            }
            case READDIR, READDIRPLUS -> {
                exact(h, b, 40, "fuse_read_in");
                yield new ReadDir(Wire.u64(b, 0), Wire.u64(b, 8), size(h, b, 16, "fuse_read_in.size"), op == Opcode.READDIRPLUS);
            }
            case RELEASE -> {
                exact(h, b, 24, "fuse_release_in");
                yield new Release(Wire.u64(b, 0), Wire.u32(b, 8), Wire.u32(b, 12), Wire.u64(b, 16));
            }
            case RELEASEDIR -> {
                exact(h, b, 24, "fuse_release_in");
                yield new ReleaseDir(Wire.u64(b, 0), Wire.u32(b, 8));
            }
            case STATFS -> {
                exact(h, b, 0, "STATFS body");
                yield STATFS;
            }
            case GETXATTR -> {
                atLeast(h, b, 8, "fuse_getxattr_in");
                yield new GetXattr(size(h, b, 0, "fuse_getxattr_in.size"), name(h, b, 8));
            }
            case LISTXATTR -> {
                exact(h, b, 8, "fuse_getxattr_in");
                yield new ListXattr(size(h, b, 0, "fuse_getxattr_in.size"));
            }
            case FLUSH -> {
                exact(h, b, 24, "fuse_flush_in");
                yield new Flush(Wire.u64(b, 0), Wire.u64(b, 16));
            }
            case ACCESS -> {
                exact(h, b, 8, "fuse_access_in");
                yield new Access(Wire.u32(b, 0));
            }
            case INTERRUPT -> {
                exact(h, b, 8, "fuse_interrupt_in");
                yield new Interrupt(Wire.u64(b, 0));
            }
            case LSEEK -> {
                exact(h, b, 24, "fuse_lseek_in");
                yield new Lseek(Wire.u64(b, 0), Wire.u64(b, 8), Wire.u32(b, 16));
            }
            case STATX -> {
                exact(h, b, 24, "fuse_statx_in");
                yield new Statx(Wire.u32(b, 0), Wire.u64(b, 8), Wire.u32(b, 16), Wire.u32(b, 20));
            }
            case DESTROY -> {
                exact(h, b, 0, "DESTROY body");
                yield DESTROY;
            }
            case null, default -> new Unsupported(h.opcode());
        };
        return new Request(h, body);
    }

    private static Body batchForget(InHeader h, MemorySegment b) throws FuseProtocolException {
        atLeast(h, b, 8, "fuse_batch_forget_in");
        long count = Integer.toUnsignedLong(Wire.u32(b, 0));
        long have = b.byteSize() - 8;
        if (count * 16 != have) {
            throw new FuseProtocolException(h, "fuse_batch_forget_in.count",
                    count + " entries need " + count * 16 + " bytes of fuse_forget_one, the body has " + have);
        }
        List<ForgetOne> forgets = new ArrayList<>((int) count);
        for (long off = 8; off < b.byteSize(); off += 16) {
            forgets.add(new ForgetOne(Wire.u64(b, off), Wire.u64(b, off + 8)));
        }
        return new BatchForget(Collections.unmodifiableList(forgets));
    }

    private static void exact(InHeader h, MemorySegment b, int size, String struct) throws FuseProtocolException {
        if (b.byteSize() != size) {
            throw new FuseProtocolException(h, struct, "body is " + b.byteSize() + " bytes, expected " + size);
        }
    }

    private static void atLeast(InHeader h, MemorySegment b, int size, String struct) throws FuseProtocolException {
        if (b.byteSize() < size) {
            throw new FuseProtocolException(h, struct, "body is " + b.byteSize() + " bytes, needs at least " + size);
        }
    }

    /** A u32 byte count that the daemon will use as a Java int: refuse values beyond 2 GiB. */
    private static int size(InHeader h, MemorySegment b, long off, String field) throws FuseProtocolException {
        int v = Wire.u32(b, off);
        if (v < 0) {
            throw new FuseProtocolException(h, field, Integer.toUnsignedString(v) + " bytes is beyond 2 GiB");
        }
        return v;
    }

    /** The NUL-terminated name that fills the body from {@code from} to its end. */
    private static byte[] name(InHeader h, MemorySegment b, long from) throws FuseProtocolException {
        long end = b.byteSize();
        long nul = -1;
        for (long i = from; i < end; i++) {
            if (b.get(Wire.BYTE, i) == 0) {
                nul = i;
                break;
            }
        }
        if (nul < 0) {
            throw new FuseProtocolException(h, "name", "no NUL terminator in the " + (end - from) + " bytes after offset " + from);
        }
        if (nul != end - 1) {
            throw new FuseProtocolException(h, "name", (end - 1 - nul) + " bytes follow the NUL terminator");
        }
        if (nul == from) {
            throw new FuseProtocolException(h, "name", "empty name");
        }
        return b.asSlice(from, nul - from).toArray(Wire.BYTE);
    }
}
