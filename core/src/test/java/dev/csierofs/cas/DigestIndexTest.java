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
}
