package dev.csierofs.cas;

import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.regex.Pattern;

/** A SHA-256 content digest: the name of a store file and the key of shared pages. */
public record Digest(String hex) {
    private static final Pattern HEX = Pattern.compile("[0-9a-f]{64}");

    public Digest {
        if (!HEX.matcher(hex).matches()) {
            throw new IllegalArgumentException("not a SHA-256 hex digest: " + hex);
        }
    }

    public static Digest of(byte[] sha256) {
        if (sha256.length != 32) {
            throw new IllegalArgumentException("a SHA-256 digest has 32 bytes, got " + sha256.length);
        }
        return new Digest(HexFormat.of().formatHex(sha256));
    }

    /** Parses {@code sha256:<hex>} or bare hex. */
    public static Digest parse(String s) {
        return new Digest(s.startsWith("sha256:") ? s.substring(7) : s);
    }

    public byte[] bytes() {
        return HexFormat.of().parseHex(hex);
    }

    public static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("the JDK has no SHA-256", e);
        }
    }

    @Override
    public String toString() {
        return "sha256:" + hex;
    }
}
