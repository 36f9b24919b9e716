package dev.csierofs.cas;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * Computes the fs-verity digest of content streamed through it (SHA-256, 4 KiB blocks, no salt),
 * as the kernel's FS_IOC_MEASURE_VERITY reports it: SHA-256 of the 256-byte descriptor that holds
 * the size and the Merkle tree's root hash. The tree hashes every 4 KiB data block, then every
 * 4 KiB block of those hashes, and so on up to one block (the last block of each level padded
 * with zeros); an empty file's root hash is all zeros, a one-block file's is its block's hash.
 * Comparing this with the kernel's measurement proves the tree the kernel checks pages against is
 * the tree of the bytes we verified. Costs a second SHA-256 pass over the content.
 */
final class VerityDigest {
    private static final int BLOCK = 4096;
    private static final int HASH = 32;

    /** One tree level: the block being filled and how many full blocks it has hashed so far. */
    private static final class Level {
        final byte[] block = new byte[BLOCK];
        int fill;
        long full;
    }

    private final List<Level> levels = new ArrayList<>(List.of(new Level()));
    private final MessageDigest md = Digest.sha256();
    private final byte[] hash = new byte[HASH];
    private long size;

    void update(byte[] b, int off, int len) {
        size += len;
        feed(0, b, off, len);
    }

    private void feed(int k, byte[] b, int off, int len) {
        Level l = levels.get(k);
        while (len > 0) {
            int n = Math.min(len, BLOCK - l.fill);
            if (l.fill == 0 && n == BLOCK) {
                md.update(b, off, BLOCK); // a whole block straight from the caller's buffer
            } else {
                System.arraycopy(b, off, l.block, l.fill, n);
                l.fill += n;
                if (l.fill < BLOCK) {
                    return;
                }
                md.update(l.block, 0, BLOCK);
                l.fill = 0;
            }
            off += n;
            len -= n;
            l.full++;
            emit(k);
        }
    }

    /** Passes the digest in {@code md} (of one block of level {@code k}) up to level {@code k + 1}. */
    private void emit(int k) {
        try {
            md.digest(hash, 0, HASH);
        } catch (java.security.DigestException impossible) {
            throw new IllegalStateException(impossible);
        }
        if (levels.size() == k + 1) {
            levels.add(new Level());
        }
        feed(k + 1, hash.clone(), 0, HASH);
    }

    /** The fs-verity digest of everything fed so far (ends this hasher). */
    byte[] digest() {
        byte[] root = new byte[HASH];
        if (size > 0) {
            for (int k = 0; ; k++) {
                Level l = levels.get(k);
                long blocks = l.full + (l.fill > 0 ? 1 : 0);
                if (blocks == 1) {
                    if (l.fill > 0) {
                        Arrays.fill(l.block, l.fill, BLOCK, (byte) 0);
                        md.update(l.block, 0, BLOCK);
                        root = md.digest();
                    } else {
                        root = Arrays.copyOf(levels.get(k + 1).block, HASH); // its one hash, already passed up
                    }
                    break;
                }
                if (l.fill > 0) {
                    Arrays.fill(l.block, l.fill, BLOCK, (byte) 0);
                    md.update(l.block, 0, BLOCK);
                    l.fill = 0;
                    l.full++;
                    emit(k);
                }
            }
        }
        ByteBuffer d = ByteBuffer.allocate(256).order(ByteOrder.LITTLE_ENDIAN);
        d.put((byte) 1).put((byte) 1).put((byte) 12).put((byte) 0); // version, SHA-256, log2(block size), no salt
        d.putInt(0).putLong(size).put(root); // (signature size, not hashed), data size, root hash; the rest stays zero
        return md.digest(d.array());
    }
}
