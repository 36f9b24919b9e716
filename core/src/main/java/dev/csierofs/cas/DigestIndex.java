package dev.csierofs.cas;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Set;
import java.util.logging.Logger;
import java.util.zip.CRC32C;

/**
 * The verified content digest of each file of one image, by inode number, kept on disk so that a
 * restarted daemon does not hash the same files again. One append-only file per image:
 * fixed 44-byte records (u64 nid, 32-byte SHA-256, u32 CRC32C of both). A record torn by a crash
 * fails its CRC and is dropped, with everything after it, when the file is opened. In memory
 * only where each nid's latest record is (about 20 bytes per file): a daemon holds the index of
 * every image it serves, and a digest is wanted once per inode, at its first open, when reading
 * its record back (CRC checked again) costs little beside hashing the file.
 */
public final class DigestIndex implements AutoCloseable {
    private static final Logger LOG = Logger.getLogger(DigestIndex.class.getName());
    static final int RECORD = 44;

    private final Path path;
    /** The record of each nid (see {@link NidTable}). */
    private final NidTable byNid = new NidTable();
    private boolean warnedCorrupt;
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
        OwnerOnly.directory(dir);
        Digest name = Digest.of(Digest.sha256().digest(imageKey.getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        Path path = dir.resolve(name.hex() + ".idx");
        FileChannel ch = FileChannel.open(path, Set.of(StandardOpenOption.CREATE, StandardOpenOption.READ,
                StandardOpenOption.WRITE), OwnerOnly.FILE_MODE);
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
        while (all.remaining() >= RECORD) {
            int at = all.position();
            long nid = all.getLong(at);
            if (!intact(all.array(), at)) {
                break;
            }
            byNid.put(nid, (int) (good / RECORD));
            all.position(at + RECORD);
            good += RECORD;
        }
        if (good != size) {
            LOG.info("digest index " + path + ": dropping " + (size - good) + " bytes of an interrupted write");
            out.truncate(good);
        }
        out.position(good);
    }

    private static boolean intact(byte[] b, int at) {
        CRC32C c = new CRC32C();
        c.update(b, at, RECORD - 4);
        return (int) c.getValue() == ByteBuffer.wrap(b, at + RECORD - 4, 4).order(ByteOrder.LITTLE_ENDIAN).getInt();
    }

    /**
     * The verified digest of inode {@code nid}, or null if it was never computed (or its record
     * no longer reads back intact: the caller then hashes the file again).
     */
    public synchronized Digest get(long nid) {
        int record = byNid.get(nid);
        if (record < 0) {
            return null;
        }
        ByteBuffer r = ByteBuffer.allocate(RECORD).order(ByteOrder.LITTLE_ENDIAN);
        try {
            while (r.hasRemaining() && out.read(r, (long) record * RECORD + r.position()) > 0) {
                // read the record
            }
        } catch (IOException e) {
            return unreadable(nid, e.getMessage());
        }
        if (r.hasRemaining() || !intact(r.array(), 0) || r.getLong(0) != nid) {
            return unreadable(nid, "record " + record + " changed on disk");
        }
        return Digest.of(r.array(), 8);
    }

    private Digest unreadable(long nid, String why) {
        byNid.put(nid, -1); // forgotten: the next put writes a new record
        if (!warnedCorrupt) {
            warnedCorrupt = true;
            LOG.warning("digest index " + path + ": " + why + "; hashing those files again");
        }
        return null;
    }

    /** Records the verified digest of {@code nid} (written at once; made durable by the OS in its own time). */
    public synchronized void put(long nid, Digest d) throws IOException {
        if (d.equals(get(nid))) {
            return;
        }
        long at = out.position();
        if (at % RECORD != 0 || at / RECORD >= Integer.MAX_VALUE) {
            throw new IOException("digest index " + path + ": cannot append at offset " + at);
        }
        ByteBuffer r = ByteBuffer.allocate(RECORD).order(ByteOrder.LITTLE_ENDIAN);
        r.putLong(nid).put(d.bytes());
        CRC32C c = new CRC32C();
        c.update(r.array(), 0, RECORD - 4);
        r.putInt((int) c.getValue()).flip();
        while (r.hasRemaining()) {
            out.write(r);
        }
        byNid.put(nid, (int) (at / RECORD));
    }

    /** How many inodes have a digest here. */
    public synchronized int size() {
        return byNid.size - byNid.forgotten;
    }

    public Path path() {
        return path;
    }

    @Override
    public synchronized void close() throws IOException {
        out.close();
    }

    /**
     * nid to record number without an object per entry: nids and record numbers sit densely in
     * insertion order (12 bytes each); a hash table of their positions finds them (8 to 16 bytes
     * per entry). A record number of -1 marks a forgotten entry.
     */
    private static final class NidTable {
        private long[] nids = new long[16];
        private int[] records = new int[16];
        /** Entry position + 1 by hash of its nid; 0 is an empty slot. At most half full. */
        private int[] slots = new int[32];
        int size;
        int forgotten;

        /** The slot holding {@code nid}, or the empty slot where it would go. */
        private int slot(long nid) {
            int mask = slots.length - 1;
            int i = Long.hashCode(nid * 0x9E3779B97F4A7C15L) & mask;
            while (slots[i] != 0 && nids[slots[i] - 1] != nid) {
                i = (i + 1) & mask;
            }
            return i;
        }

        /** The record of {@code nid}, or -1. */
        int get(long nid) {
            int e = slots[slot(nid)];
            return e == 0 ? -1 : records[e - 1];
        }

        void put(long nid, int record) {
            int i = slot(nid);
            int e = slots[i];
            if (e == 0) {
                if (record < 0) {
                    return;
                }
                if (size == nids.length) {
                    int n = size + (size >> 1);
                    nids = java.util.Arrays.copyOf(nids, n);
                    records = java.util.Arrays.copyOf(records, n);
                }
                nids[size] = nid;
                e = ++size;
                slots[i] = e;
                if (2 * size > slots.length) {
                    rehash();
                }
            } else if (records[e - 1] < 0) {
                forgotten--;
            }
            if (record < 0) {
                forgotten++;
            }
            records[e - 1] = record;
        }

        private void rehash() {
            slots = new int[slots.length * 2];
            for (int e = 1; e <= size; e++) {
                slots[slot(nids[e - 1])] = e;
            }
        }
    }
}
