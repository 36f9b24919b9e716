package dev.csierofs.fuse;

import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;

import static dev.csierofs.fuse.Msg.dirty;
import static dev.csierofs.fuse.Msg.le;
import static dev.csierofs.fuse.Msg.seg;
import static dev.csierofs.fuse.ReplyTest.ATTR;
import static dev.csierofs.fuse.ReplyTest.assertAttr;
import static dev.csierofs.fuse.ReplyTest.assertHeader;
import static dev.csierofs.fuse.ReplyTest.assertUntouchedFrom;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class DirentListTest {
    private static final int DT_DIR = 4;
    private static final int DT_REG = 8;

    @Test
    void sizesArePaddedToEightBytes() {
        assertEquals(24, DirentList.DIRENT_SIZE);
        assertEquals(152, DirentList.DIRENTPLUS_SIZE);
        assertEquals(32, DirentList.direntSize(1));
        assertEquals(32, DirentList.direntSize(8));
        assertEquals(40, DirentList.direntSize(9));
        assertEquals(160, DirentList.direntPlusSize(3));
        assertEquals(168, DirentList.direntPlusSize(9));
    }

    @Test
    void readdirEntries() {
        byte[] a = dirty(512);
        DirentList d = DirentList.readdir(seg(a), 70, 4096);
        assertTrue(d.add(1, 1, DT_DIR, ".".getBytes()));
        assertTrue(d.add(0x123456789L, 0x7000_0000_0000_0001L, DT_REG, "abc".getBytes()));
        assertTrue(d.add(9, 3, DT_REG, "12345678".getBytes()));
        assertEquals(3, d.count());
        assertEquals(16 + 32 + 32 + 32, d.finish());
        ByteBuffer b = le(a);
        assertHeader(b, 112, 0, 70);
        // "."
        assertEquals(1, b.getLong(16));
        assertEquals(1, b.getLong(24));
        assertEquals(1, b.getInt(32));
        assertEquals(DT_DIR, b.getInt(36));
        assertEquals('.', a[40]);
        for (int i = 41; i < 48; i++) {
            assertEquals(0, a[i], "padding byte " + i);
        }
        // "abc"
        assertEquals(0x123456789L, b.getLong(48));
        assertEquals(0x7000_0000_0000_0001L, b.getLong(56));
        assertEquals(3, b.getInt(64));
        assertEquals(DT_REG, b.getInt(68));
        assertEquals("abc", new String(a, 72, 3));
        for (int i = 75; i < 80; i++) {
            assertEquals(0, a[i], "padding byte " + i);
        }
        // an 8-byte name needs no padding
        assertEquals(8, b.getInt(96));
        assertEquals("12345678", new String(a, 104, 8));
        assertUntouchedFrom(a, 112);
    }

    @Test
    void stopsAtTheKernelsSize() {
        byte[] a = dirty(512);
        DirentList d = DirentList.readdir(seg(a), 71, 64); // room for two 32-byte entries
        assertTrue(d.fits(8));
        assertTrue(d.add(2, 1, DT_REG, "a".getBytes()));
        assertFalse(d.fits(9));
        assertFalse(d.add(3, 2, DT_REG, "123456789".getBytes()));
        assertTrue(d.add(3, 2, DT_REG, "b".getBytes()));
        assertFalse(d.fits(1));
        assertFalse(d.add(4, 3, DT_REG, "c".getBytes()));
        assertEquals(2, d.count());
        assertEquals(80, d.finish());
        assertHeader(le(a), 80, 0, 71);
        assertUntouchedFrom(a, 80);
    }

    @Test
    void stopsAtTheBuffersEndToo() {
        byte[] a = dirty(16 + 40);
        DirentList d = DirentList.readdir(seg(a), 72, 4096);
        assertTrue(d.add(2, 1, DT_REG, "a".getBytes()));
        assertFalse(d.add(3, 2, DT_REG, "b".getBytes()));
        assertEquals(48, d.finish());
    }

    @Test
    void emptyListMeansEndOfDirectory() {
        byte[] a = dirty(64);
        assertEquals(16, DirentList.readdir(seg(a), 73, 4096).finish());
        assertHeader(le(a), 16, 0, 73);
        assertFalse(DirentList.readdir(seg(dirty(64)), 73, 0).fits(1));
    }

    @Test
    void readdirplusEntries() {
        byte[] a = dirty(1024);
        DirentList d = DirentList.forRequest(seg(a), 74, new Request.ReadDir(1, 0, 4096, true));
        assertTrue(d.isPlus());
        EntryOut e = new EntryOut(0x55, 0, Duration.ofSeconds(60), Duration.ofSeconds(60), ATTR);
        assertTrue(d.addPlus(0x55, 1, DT_DIR, ".".getBytes(), null));
        assertTrue(d.addPlus(0x0102030405060708L, 2, DT_REG, "hello".getBytes(), e));
        assertEquals(16 + 160 + 160, d.finish());
        ByteBuffer b = le(a);
        assertHeader(b, 336, 0, 74);
        // "." without attributes: all-zero entry_out, then the dirent
        for (int i = 16; i < 16 + 128; i++) {
            assertEquals(0, a[i], "entry_out byte " + i);
        }
        assertEquals(0x55, b.getLong(144));
        assertEquals(1, b.getLong(152));
        assertEquals(1, b.getInt(160));
        assertEquals(DT_DIR, b.getInt(164));
        assertEquals('.', a[168]);
        // "hello": entry_out at 176, dirent at 304, name at 328 padded to 336
        assertEquals(0x55, b.getLong(176));
        assertEquals(0, b.getLong(184));
        assertEquals(60, b.getLong(192));
        assertEquals(60, b.getLong(200));
        assertEquals(0, b.getInt(208));
        assertEquals(0, b.getInt(212));
        assertAttr(b, 216);
        assertEquals(0x0102030405060708L, b.getLong(304));
        assertEquals(2, b.getLong(312));
        assertEquals(5, b.getInt(320));
        assertEquals(DT_REG, b.getInt(324));
        assertEquals("hello", new String(a, 328, 5));
        assertEquals(0, a[333]);
        assertEquals(0, a[335]);
        assertUntouchedFrom(a, 336);
    }

    @Test
    void readdirplusStopsAtTheKernelsSize() {
        DirentList d = DirentList.readdirplus(seg(dirty(1024)), 75, 300);
        assertTrue(d.addPlus(2, 1, DT_REG, "a".getBytes(), null));
        assertFalse(d.fits(1));
        assertFalse(d.addPlus(3, 2, DT_REG, "b".getBytes(), null));
        assertEquals(16 + 160, d.finish());
    }

    @Test
    void wrongKindOfEntryIsAProgrammingError() {
        DirentList plain = DirentList.forRequest(seg(dirty(256)), 1, new Request.ReadDir(1, 0, 4096, false));
        assertFalse(plain.isPlus());
        assertThrows(IllegalStateException.class, () -> plain.addPlus(1, 1, DT_REG, "a".getBytes(), null));
        DirentList plus = DirentList.readdirplus(seg(dirty(256)), 1, 4096);
        assertThrows(IllegalStateException.class, () -> plus.add(1, 1, DT_REG, "a".getBytes()));
    }

    @Test
    void namesTheKernelWouldRejectAreRefused() {
        assertTrue(DirentList.isValidName("a".getBytes()));
        assertTrue(DirentList.isValidName(new byte[] {(byte) 0xff, 'x'}));
        assertFalse(DirentList.isValidName(new byte[0]));
        assertFalse(DirentList.isValidName("a/b".getBytes()));
        assertFalse(DirentList.isValidName(new byte[] {'a', 0}));
        byte[] longName = new byte[1025];
        java.util.Arrays.fill(longName, (byte) 'x');
        assertFalse(DirentList.isValidName(longName));
        assertTrue(DirentList.isValidName(java.util.Arrays.copyOf(longName, 1024)));
        DirentList d = DirentList.readdir(seg(dirty(256)), 1, 4096);
        assertThrows(IllegalArgumentException.class, () -> d.add(1, 1, DT_REG, "a/b".getBytes()));
        assertEquals(0, d.count());
    }

    @Test
    void typeFromMode() {
        assertEquals(DT_DIR, DirentList.typeOf(040755));
        assertEquals(DT_REG, DirentList.typeOf(0100644));
        assertEquals(10, DirentList.typeOf(0120777));
        assertEquals(2, DirentList.typeOf(020600));
        assertEquals(1, DirentList.typeOf(010644));
    }
}
