package dev.csierofs.cas;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

class DigestIndexTest {

    @Test
    void remembersDigestsAcrossReopenAndDropsATornRecord(@TempDir Path tmp) throws Exception {
        Digest a = ContentStoreTest.digest(new byte[] {1});
        Digest b = ContentStoreTest.digest(new byte[] {2});
        Path file;
        try (DigestIndex i = DigestIndex.open(tmp, "image-1")) {
            i.put(42, a);
            i.put(7, b);
            i.put(42, a); // no duplicate record
            file = i.path();
        }
        assertEquals(2L * DigestIndex.RECORD, Files.size(file));
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE, StandardOpenOption.APPEND)) {
            ch.write(java.nio.ByteBuffer.wrap(new byte[DigestIndex.RECORD - 3])); // a crash mid-append
        }
        try (DigestIndex i = DigestIndex.open(tmp, "image-1")) {
            assertEquals(a, i.get(42));
            assertEquals(b, i.get(7));
            assertNull(i.get(8));
            assertEquals(2, i.size());
            i.put(8, b); // appends after the last whole record
        }
        assertEquals(3L * DigestIndex.RECORD, Files.size(file));
        try (DigestIndex other = DigestIndex.open(tmp, "image-2")) {
            assertNull(other.get(42), "each image has its own index");
        }
        // a flipped byte in a record fails its checksum: that record and the rest are dropped
        byte[] raw = Files.readAllBytes(file);
        raw[DigestIndex.RECORD + 10] ^= 1;
        Files.write(file, raw);
        try (DigestIndex i = DigestIndex.open(tmp, "image-1")) {
            assertEquals(a, i.get(42));
            assertNull(i.get(7));
            assertNull(i.get(8));
        }
    }

    /** Tens of thousands of nids (sparse, large, and 0) through the table's growth, then again after a reopen. */
    @Test
    void holdsManyEntriesThroughGrowthAndReopen(@TempDir Path tmp) throws Exception {
        int n = 30_000;
        try (DigestIndex idx = DigestIndex.open(tmp, "image")) {
            for (int i = 0; i < n; i++) {
                idx.put(nid(i), digestOf(i));
            }
            idx.put(nid(7), digestOf(-7)); // a changed digest replaces the entry
            assertEquals(n, idx.size());
            assertEquals(digestOf(-7), idx.get(nid(7)));
            assertNull(idx.get(nid(n)));
        }
        try (DigestIndex idx = DigestIndex.open(tmp, "image")) {
            assertEquals(n, idx.size());
            for (int i = 0; i < n; i++) {
                assertEquals(i == 7 ? digestOf(-7) : digestOf(i), idx.get(nid(i)), "nid " + nid(i));
            }
            assertNull(idx.get(1));
        }
    }

    /**
     * Digests are read back from the file at each lookup: a record changed on disk while the
     * index is open is never served as a digest (the file is hashed again), and a put mends it.
     * Putting a digest the index already has appends nothing.
     */
    @Test
    void aRecordChangedOnDiskIsNotServed(@TempDir Path tmp) throws Exception {
        try (DigestIndex idx = DigestIndex.open(tmp, "image")) {
            for (int i = 0; i < 10; i++) {
                idx.put(nid(i), digestOf(i));
            }
            long size = Files.size(idx.path());
            idx.put(nid(3), digestOf(3));
            assertEquals(size, Files.size(idx.path()), "an unchanged digest is not written again");
            try (FileChannel ch = FileChannel.open(idx.path(), StandardOpenOption.WRITE)) {
                ch.write(java.nio.ByteBuffer.wrap(new byte[] {0x5a}), 5L * DigestIndex.RECORD + 20); // inside nid(5)'s digest
            }
            assertNull(idx.get(nid(5)), "a changed record reads as unknown, never as another digest");
            assertEquals(9, idx.size());
            assertEquals(digestOf(4), idx.get(nid(4)));
            assertEquals(digestOf(6), idx.get(nid(6)));
            idx.put(nid(5), digestOf(5));
            assertEquals(digestOf(5), idx.get(nid(5)));
            assertEquals(10, idx.size());
        }
        try (DigestIndex idx = DigestIndex.open(tmp, "image")) {
            // the changed record now stops the load: what follows it is dropped, as after a torn write
            assertEquals(5, idx.size());
            assertEquals(digestOf(4), idx.get(nid(4)));
            assertNull(idx.get(nid(6)));
        }
    }

    private static long nid(int i) {
        return i == 0 ? 0 : (long) i * 1_000_003L + (i % 3 == 0 ? 1L << 40 : 0);
    }

    private static Digest digestOf(int i) {
        return Digest.of(Digest.sha256().digest(Integer.toString(i).getBytes()));
    }

    /** The compact digest keeps exactly its 32 bytes and its hex text. */
    @Test
    void digestRoundTripsThroughHexAndBytes() {
        Digest d = digestOf(42);
        assertEquals(d, new Digest(d.hex()));
        assertEquals(d, Digest.of(d.bytes()));
        assertEquals(d, Digest.parse(d.toString()));
        assertEquals(64, d.hex().length());
        assertEquals(java.util.HexFormat.of().formatHex(d.bytes()), d.hex());
        org.junit.jupiter.api.Assertions.assertNotEquals(d, digestOf(43));
        for (String bad : new String[] {"AB".repeat(32), "ab".repeat(31), "ab".repeat(31) + "g0", ""}) {
            org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new Digest(bad), bad);
        }
    }
}
