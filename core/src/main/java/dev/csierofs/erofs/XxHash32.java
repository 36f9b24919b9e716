package dev.csierofs.erofs;

/** xxHash32, which the xattr name bloom filter (XATTR_FILTER) uses to pick a bit per name. */
final class XxHash32 {
    private static final int P1 = 0x9E3779B1;
    private static final int P2 = 0x85EBCA77;
    private static final int P3 = 0xC2B2AE3D;
    private static final int P4 = 0x27D4EB2F;
    private static final int P5 = 0x165667B1;

    private XxHash32() {
    }

    static int hash(byte[] b, int off, int len, int seed) {
        int end = off + len;
        int p = off;
        int h;
        if (len >= 16) {
            int v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1;
            int limit = end - 16;
            do {
                v1 = round(v1, Le.i32(b, p));
                v2 = round(v2, Le.i32(b, p + 4));
                v3 = round(v3, Le.i32(b, p + 8));
                v4 = round(v4, Le.i32(b, p + 12));
                p += 16;
            } while (p <= limit);
            h = Integer.rotateLeft(v1, 1) + Integer.rotateLeft(v2, 7) + Integer.rotateLeft(v3, 12) + Integer.rotateLeft(v4, 18);
        } else {
            h = seed + P5;
        }
        h += len;
        while (p + 4 <= end) {
            h = Integer.rotateLeft(h + Le.i32(b, p) * P3, 17) * P4;
            p += 4;
        }
        while (p < end) {
            h = Integer.rotateLeft(h + (b[p] & 0xff) * P5, 11) * P1;
            p++;
        }
        h ^= h >>> 15;
        h *= P2;
        h ^= h >>> 13;
        h *= P3;
        h ^= h >>> 16;
        return h;
    }

    private static int round(int acc, int input) {
        return Integer.rotateLeft(acc + input * P2, 13) * P1;
    }
}
