package dev.csierofs.erofs;

/** Little-endian field access on byte arrays; every on-disk EROFS integer is little-endian. */
public final class Le {
    private Le() {
    }

    public static int u8(byte[] b, int off) {
        return b[off] & 0xff;
    }

    public static int u16(byte[] b, int off) {
        return (b[off] & 0xff) | (b[off + 1] & 0xff) << 8;
    }

    public static long u32(byte[] b, int off) {
        return i32(b, off) & 0xffffffffL;
    }

    public static int i32(byte[] b, int off) {
        return (b[off] & 0xff) | (b[off + 1] & 0xff) << 8 | (b[off + 2] & 0xff) << 16 | (b[off + 3] & 0xff) << 24;
    }

    public static long i64(byte[] b, int off) {
        return u32(b, off) | (u32(b, off + 4) << 32);
    }
}
