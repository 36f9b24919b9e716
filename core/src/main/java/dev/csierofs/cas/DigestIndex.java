package dev.csierofs.cas;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.logging.Logger;
import java.util.zip.CRC32C;

/**
 * The verified content digest of each file of one image, by inode number, kept on disk so that a
 * restarted daemon does not hash the same files again. One append-only file per image:
 * fixed 44-byte records (u64 nid, 32-byte SHA-256, u32 CRC32C of both). A record torn by a crash
 * fails its CRC and is dropped, with everything after it, when the file is opened.
 */
public final class DigestIndex implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(DigestIndex.class.getName());
    static final int RECORD = 44;

    private final Path path;
    /** Digests by nid, in memory: an open-addressing table, about 50 bytes per file (see {@link NidTable}). */
    private final NidTable byNid = new NidTable();
    private final FileChannel out;

    private DigestIndex(Path path, FileChannel out) {
        this.path = path;
        this.out = out;
    }

    /**
     * Opens the index of the image named {@code imageKey} (any string identifying its content,
     * such as a blob digest) under {@code dir}, creating it if absent.
     */
    public static DigestIndex open(Path dir, String imageKey) throws IOException {
        Files.createDirectories(dir);
        Digest name = Digest.of(Digest.sha256().digest(imageKey.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        Path path = dir.resolve(name.hex() + ".idx");
        FileChannel ch = FileChannel.open(path, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
        DigestIndex idx = new DigestIndex(path, ch);
        try {
            idx.load();
        } catch (IOException | RuntimeException e) {
            ch.close();
            throw e;
        }
        return idx;
    }

    private void load() throws IOException {
        long size = out.size();
        ByteBuffer all = ByteBuffer.allocate((int) Math.min(size, Integer.MAX_VALUE - 8)).order(ByteOrder.LITTLE_ENDIAN);
        while (all.hasRemaining() && out.read(all, all.position()) > 0) {
            // read the whole file
        }
        all.flip();
        long good = 0;
        byte[] sha = new byte[32];
        while (all.remaining() >= RECORD) {
            int at = all.position();
            long nid = all.getLong();
            all.get(sha);
            int crc = all.getInt();
            CRC32C c = new CRC32C();
            c.update(all.array(), at, RECORD - 4);
            if ((int) c.getValue() != crc) {
                break;
            }
            byNid.put(nid, sha, 0);
            good += RECORD;
        }
        if (good != size) {
            LOG.info("digest index " + path + ": dropping " + (size - good) + " bytes of an interrupted write");
            out.truncate(good);
        }
        out.position(good);
    }

    /** The verified digest of inode {@code nid}, or null if it was never computed. */
    public synchronized Digest get(long nid) {
        return byNid.get(nid);
    }

    /** Records the verified digest of {@code nid} (written at once; made durable by the OS in its own time). */
    public synchronized void put(long nid, Digest d) throws IOException {
        if (d.equals(byNid.get(nid))) {
            return;
        }
        ByteBuffer r = ByteBuffer.allocate(RECORD).order(ByteOrder.LITTLE_ENDIAN);
        byte[] sha = d.bytes();
        r.putLong(nid).put(sha);
        CRC32C c = new CRC32C();
        c.update(r.array(), 0, RECORD - 4);
        r.putInt((int) c.getValue()).flip();
        while (r.hasRemaining()) {
            out.write(r);
        }
        byNid.put(nid, sha, 0);
    }

    public synchronized int size() {
        return byNid.size;
    }

    public Path path() {
        return path;
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }

    /**
     * nid to 32 digest bytes without an object per entry: a daemon holds the index of every image
     * it serves, tens of thousands of files each, for as long as it runs. Entries sit densely in
     * insertion order (40 bytes each); a hash table of their positions finds them (8 to 16 bytes
     * per entry).
     */
    private static final class NidTable {
        private long[] nids = new long[16];
        private byte[] digests = new byte[16 * 32];
        /** Entry position + 1 by hash of its nid; 0 is an empty slot. At most half full. */
        private int[] slots = new int[32];
        int size;

        /** The slot holding {@code nid}, or the empty slot where it would go. */
        private int slot(long nid) {
            int mask = slots.length - 1;
            int i = Long.hashCode(nid * 0x9E3779B97F4A7C15L) & mask;
            while (slots[i] != 0 && nids[slots[i] - 1] != nid) {
                i = (i + 1) & mask;
            }
            return i;
        }

        Digest get(long nid) {
            int e = slots[slot(nid)];
            return e == 0 ? null : Digest.of(digests, (e - 1) * 32);
        }

        void put(long nid, byte[] sha, int off) {
            int i = slot(nid);
            int e = slots[i];
            if (e == 0) {
                if (size == nids.length) {
                    int n = size + (size >> 1);
                    nids = java.util.Arrays.copyOf(nids, n);
                    digests = java.util.Arrays.copyOf(digests, n * 32);
                }
                nids[size] = nid;
                e = ++size;
                slots[i] = e;
                if (2 * size > slots.length) {
                    rehash();
                }
            }
            System.arraycopy(sha, off, digests, (e - 1) * 32, 32);
        }

        private void rehash() {
            slots = new int[slots.length * 2];
            for (int e = 1; e <= size; e++) {
                slots[slot(nids[e - 1])] = e;
            }
        }
    }
}
