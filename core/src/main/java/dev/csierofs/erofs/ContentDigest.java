package dev.csierofs.erofs;

import java.util.HexFormat;

/**
 * The SHA-256 of a regular file's decoded content, as recorded by {@code mkfs.erofs
 * --xattr-inode-digest} in the fingerprint xattr ({@code "sha256:"} + 32 raw bytes).
 */
public record ContentDigest(byte[] sha256) {
    public ContentDigest {
        if (sha256.length != 32) {
            throw new IllegalArgumentException("sha256 digest must be 32 bytes, got " + sha256.length);
        }
        sha256 = sha256.clone();
    }

    public String hex() {
        return HexFormat.of().formatHex(sha256);
    }

    @Override
    public String toString() {
        return "sha256:" + hex();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ContentDigest d && java.util.Arrays.equals(sha256, d.sha256);
    }

    @Override
    public int hashCode() {
        return java.util.Arrays.hashCode(sha256);
    }
}
