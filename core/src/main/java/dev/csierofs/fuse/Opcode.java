package dev.csierofs.fuse;

/**
 * Every request opcode of protocol 7.45 ({@code enum fuse_opcode}, without the {@code FUSE_}
 * prefix). Requests carry the code as a raw u32, and a newer kernel may send codes missing here,
 * so the raw code stays in {@link InHeader#opcode()} and {@link #of} answers {@code null} for an
 * unknown one; {@link #name(int)} and {@link #isWrite(int)} work on any code.
 *
 * <p>{@link #isWrite()} marks requests that modify the filesystem: a read-only daemon answers
 * them EROFS (and anything else it does not implement ENOSYS, which the kernel remembers for
 * several opcodes).
 */
public enum Opcode {
    LOOKUP(1),
    /** No reply. */
    FORGET(2),
    GETATTR(3),
    SETATTR(4, true),
    READLINK(5),
    SYMLINK(6, true),
    MKNOD(8, true),
    MKDIR(9, true),
    UNLINK(10, true),
    RMDIR(11, true),
    RENAME(12, true),
    LINK(13, true),
    OPEN(14),
    READ(15),
    WRITE(16, true),
    STATFS(17),
    RELEASE(18),
    FSYNC(20),
    SETXATTR(21, true),
    GETXATTR(22),
    LISTXATTR(23),
    REMOVEXATTR(24, true),
    FLUSH(25),
    INIT(26),
    OPENDIR(27),
    READDIR(28),
    RELEASEDIR(29),
    FSYNCDIR(30),
    GETLK(31),
    SETLK(32),
    SETLKW(33),
    ACCESS(34),
    CREATE(35, true),
    /** No reply needed (one is allowed: EAGAIN asks for a resend, ENOSYS stops interrupts). */
    INTERRUPT(36),
    BMAP(37),
    DESTROY(38),
    IOCTL(39),
    POLL(40),
    /** Carries data the daemon asked for with FUSE_NOTIFY_RETRIEVE; no reply. */
    NOTIFY_REPLY(41),
    /** No reply. */
    BATCH_FORGET(42),
    FALLOCATE(43, true),
    READDIRPLUS(44),
    RENAME2(45, true),
    LSEEK(46),
    COPY_FILE_RANGE(47, true),
    SETUPMAPPING(48),
    REMOVEMAPPING(49),
    SYNCFS(50),
    TMPFILE(51, true),
    STATX(52),
    COPY_FILE_RANGE_64(53, true);

    private static final Opcode[] BY_CODE = new Opcode[64];

    static {
        for (Opcode o : values()) {
            BY_CODE[o.code] = o;
        }
    }

    private final int code;
    private final boolean write;

    Opcode(int code) {
        this(code, false);
    }

    Opcode(int code, boolean write) {
        this.code = code;
        this.write = write;
    }

    /** The numeric code on the wire. */
    public int code() {
        return code;
    }

    /** True for requests that would modify the filesystem. */
    public boolean isWrite() {
        return write;
    }

    /** False for the requests the kernel expects no reply to: FORGET, BATCH_FORGET, NOTIFY_REPLY, INTERRUPT. */
    public boolean expectsReply() {
        return this != FORGET && this != BATCH_FORGET && this != NOTIFY_REPLY && this != INTERRUPT;
    }

    /** The opcode with this code, or {@code null} when the code is unknown to protocol 7.45. */
    public static Opcode of(int code) {
        return code >= 0 && code < BY_CODE.length ? BY_CODE[code] : null;
    }

    /** True if {@code code} is a known opcode that would modify the filesystem. */
    public static boolean isWrite(int code) {
        Opcode o = of(code);
        return o != null && o.write;
    }

    /** The opcode's name, or "opcode N" for an unknown code: for messages and logs. */
    public static String name(int code) {
        Opcode o = of(code);
        return o != null ? o.name() : "opcode " + Integer.toUnsignedString(code);
    }
}
