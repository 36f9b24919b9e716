package dev.csierofs.cas;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;

/**
 * A SHA-256 content digest: the name of a store file and the key of shared pages. Held as four
 * longs rather than its hex text: a daemon keeps one per file of every image it serves (about
 * 40 bytes each instead of 120), and the text is only needed for file names and messages.
 */
public final class Digest {
    private final long a;
    private final long b;
    private final long c;
    private final long d;

    private Digest(long a, long b, long c, long d) {
        this.a = a;
        this.b = b;
        this.c = c;
        this.d = d;
    }

    /** From 64 lowercase hex digits; anything else is an {@link IllegalArgumentException}. */
    public Digest(String hex) {
        this(word(hex, 0), word(hex, 1), word(hex, 2), word(hex, 3));
    }

    private static long word(String hex, int i) {
        if (hex.length() != 64) {
            throw new IllegalArgumentException("not a SHA-256 hex digest: " + hex);
        }
        long w = 0;
        for (int k = 16 * i; k < 16 * i + 16; k++) {
            char ch = hex.charAt(k);
            int v = ch >= '0' && ch <= '9' ? ch - '0' : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
            if (v < 0) {
                throw new IllegalArgumentException("not a SHA-256 hex digest: " + hex);
            }
            w = w << 4 | v;
        }
        return w;
    }

    public static Digest of(byte[] sha256) {
        if (sha256.length != 32) {
            throw new IllegalArgumentException("a SHA-256 digest has 32 bytes, got " + sha256.length);
        }
        return of(sha256, 0);
    }

    /** The 32 bytes at {@code off} of {@code b}. */
    public static Digest of(byte[] b, int off) {
        return new Digest(be(b, off), be(b, off + 8), be(b, off + 16), be(b, off + 24));
    }

    private static long be(byte[] b, int off) {
        long w = 0;
        for (int i = 0; i < 8; i++) {
            w = w << 8 | (b[off + i] & 0xff);
        }
        return w;
    }

    /** Parses {@code sha256:<hex>} or bare hex. */
    public static Digest parse(String s) {
        return new Digest(s.startsWith("sha256:") ? s.substring(7) : s);
    }

    /** The 64 lowercase hex digits. */
    public String hex() {
        HexFormat f = HexFormat.of();
        return f.toHexDigits(a) + f.toHexDigits(b) + f.toHexDigits(c) + f.toHexDigits(d);
    }

    public byte[] bytes() {
        byte[] out = new byte[32];
        long[] w = {a, b, c, d};
        for (int i = 0; i < 32; i++) {
            out[i] = (byte) (w[i >>> 3] >>> (56 - 8 * (i & 7)));
        }
        return out;
    }

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Digest x && x.a == a && x.b == b && x.c == c && x.d == d;
    }

    @Override
    public int hashCode() {
        return Long.hashCode(a); // the digest's own bits: already uniform
    }

    @Override
    public String toString() {
        return "sha256:" + hex();
    }
}
