package dev.csierofs.fuse;

import dev.csierofs.sys.Errno;
import org.junit.jupiter.api.Test;

import java.nio.ByteBuffer;
import java.time.Duration;

import static dev.csierofs.fuse.Msg.dirty;
import static dev.csierofs.fuse.Msg.le;
import static dev.csierofs.fuse.Msg.seg;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** Every reply checked byte offset by byte offset, in a buffer pre-filled with 0xAA. */
class ReplyTest {

    static final Attr ATTR = new Attr(0x0102030405060708L, 0x1112131415161718L, 0x2122232425262728L,
            0x3132333435363738L, 0x4142434445464748L, 0x5152535455565758L, 0x61626364, 0x71727374, 0x01020304,
            0100755, 3, 1000, 100, Attr.encodeDev(8, 1), 4096, 0x5a);

    /** Checks a fuse_attr at {@code o}. */
    static void assertAttr(ByteBuffer b, int o) {
        assertEquals(0x0102030405060708L, b.getLong(o));
        assertEquals(0x1112131415161718L, b.getLong(o + 8));
        assertEquals(0x2122232425262728L, b.getLong(o + 16));
        assertEquals(0x3132333435363738L, b.getLong(o + 24));
        assertEquals(0x4142434445464748L, b.getLong(o + 32));
        assertEquals(0x5152535455565758L, b.getLong(o + 40));
        assertEquals(0x61626364, b.getInt(o + 48));
        assertEquals(0x71727374, b.getInt(o + 52));
        assertEquals(0x01020304, b.getInt(o + 56));
        assertEquals(0100755, b.getInt(o + 60));
        assertEquals(3, b.getInt(o + 64));
        assertEquals(1000, b.getInt(o + 68));
        assertEquals(100, b.getInt(o + 72));
        assertEquals(0x801, b.getInt(o + 76));
        assertEquals(4096, b.getInt(o + 80));
        assertEquals(0x5a, b.getInt(o + 84));
    }

    static void assertHeader(ByteBuffer b, int len, int error, long unique) {
        assertEquals(len, b.getInt(0));
        assertEquals(error, b.getInt(4));
        assertEquals(unique, b.getLong(8));
    }

    /** Nothing written past the reply. */
    static void assertUntouchedFrom(byte[] a, int from) {
        for (int i = from; i < a.length; i++) {
            assertEquals((byte) 0xAA, a[i], "byte " + i + " written past the reply");
        }
    }

    @Test
    void sizes() {
        assertEquals(16, OutHeader.SIZE);
        assertEquals(40, InHeader.SIZE);
        assertEquals(88, Attr.SIZE);
        assertEquals(128, EntryOut.SIZE);
        assertEquals(104, AttrOut.SIZE);
        assertEquals(16, OpenOut.SIZE);
        assertEquals(64, InitOut.SIZE);
        assertEquals(64, InitIn.SIZE);
        assertEquals(80, StatfsOut.SIZE);
        assertEquals(8, LseekOut.SIZE);
    }

    @Test
    void errorIsTheNegatedErrno() {
        byte[] a = dirty(64);
        assertEquals(16, Reply.error(seg(a), 0x1122334455667788L, Errno.ENOENT));
        assertHeader(le(a), 16, -2, 0x1122334455667788L);
        assertUntouchedFrom(a, 16);
        assertEquals(16, Reply.error(seg(a), 9, Errno.EROFS));
        assertHeader(le(a), 16, -30, 9);
        assertEquals(16, Reply.error(seg(a), 9, 511));
        assertThrows(IllegalArgumentException.class, () -> Reply.error(seg(a), 9, 0));
        assertThrows(IllegalArgumentException.class, () -> Reply.error(seg(a), 9, -2));
        assertThrows(IllegalArgumentException.class, () -> Reply.error(seg(a), 9, 512));
    }

    @Test
    void okDataAndBytes() {
        byte[] a = dirty(64);
        assertEquals(16, Reply.ok(seg(a), 5));
        assertHeader(le(a), 16, 0, 5);
        assertUntouchedFrom(a, 16);

        a = dirty(64);
        a[16] = 'x';
        a[17] = 'y';
        assertEquals(18, Reply.data(seg(a), 6, 2));
        assertHeader(le(a), 18, 0, 6);
        assertEquals('x', a[16]);
        assertUntouchedFrom(a, 18);

        a = dirty(64);
        assertEquals(16 + 7, Reply.bytes(seg(a), 7, "../etc\n".getBytes()));
        assertHeader(le(a), 23, 0, 7);
        assertEquals("../etc\n", new String(a, 16, 7));
        assertUntouchedFrom(a, 23);
        assertThrows(IllegalArgumentException.class, () -> Reply.data(seg(dirty(64)), 6, -1));
    }

    @Test
    void entryOut() {
        byte[] a = dirty(256);
        EntryOut e = new EntryOut(0x0a0b0c0d0e0f1011L, 0x7fL, Duration.ofSeconds(3600, 250), Duration.ofMillis(1500), ATTR);
        assertEquals(144, Reply.of(seg(a), 42, e));
        ByteBuffer b = le(a);
        assertHeader(b, 144, 0, 42);
        assertEquals(0x0a0b0c0d0e0f1011L, b.getLong(16));
        assertEquals(0x7fL, b.getLong(24));
        assertEquals(3600, b.getLong(32));
        assertEquals(1, b.getLong(40));
        assertEquals(250, b.getInt(48));
        assertEquals(500_000_000, b.getInt(52));
        assertAttr(b, 56);
        assertUntouchedFrom(a, 144);
    }

    @Test
    void negativeEntryIsAllZeroButTheEntryTimeout() {
        byte[] a = dirty(256);
        assertEquals(144, Reply.of(seg(a), 1, EntryOut.negative(Duration.ofSeconds(30))));
        ByteBuffer b = le(a);
        assertEquals(0, b.getLong(16));
        assertEquals(30, b.getLong(32));
        for (int i = 16; i < 144; i++) {
            if (i < 32 || i >= 40) {
                assertEquals(0, a[i], "byte " + i);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> new EntryOut(1, 0, Duration.ofSeconds(-1), Duration.ZERO, ATTR));
        assertThrows(IllegalArgumentException.class, () -> new EntryOut(1, 0, Duration.ZERO, Duration.ZERO, null));
    }

    @Test
    void attrOut() {
        byte[] a = dirty(256);
        assertEquals(120, Reply.of(seg(a), 43, new AttrOut(Duration.ofSeconds(86400, 7), ATTR)));
        ByteBuffer b = le(a);
        assertHeader(b, 120, 0, 43);
        assertEquals(86400, b.getLong(16));
        assertEquals(7, b.getInt(24));
        assertEquals(0, b.getInt(28));
        assertAttr(b, 32);
        assertUntouchedFrom(a, 120);
    }

    @Test
    void encodeDev() {
        assertEquals(0x801, Attr.encodeDev(8, 1));
        assertEquals(0x34501278, Attr.encodeDev(0x12, 0x34578));
        assertEquals(0, Attr.encodeDev(0, 0));
    }

    @Test
    void openOut() {
        byte[] a = dirty(64);
        assertEquals(32, Reply.of(seg(a), 44, OpenOut.of(0xdeadbeefcafeL, Protocol.FOPEN_KEEP_CACHE)));
        ByteBuffer b = le(a);
        assertHeader(b, 32, 0, 44);
        assertEquals(0xdeadbeefcafeL, b.getLong(16));
        assertEquals(2, b.getInt(24));
        assertEquals(0, b.getInt(28));
        assertUntouchedFrom(a, 32);

        assertEquals(32, Reply.of(seg(a), 45, OpenOut.passthrough(3, 17)));
        assertEquals(0x80, b.getInt(24));
        assertEquals(17, b.getInt(28));

        assertThrows(IllegalArgumentException.class, () -> OpenOut.passthrough(3, 0));
        assertThrows(IllegalArgumentException.class, () -> new OpenOut(3, Protocol.FOPEN_KEEP_CACHE, 5));
    }

    @Test
    void statfsOut() {
        byte[] a = dirty(128);
        StatfsOut s = new StatfsOut(1000, 0, 0, 55, 0, 4096, 255, 4096);
        assertEquals(96, Reply.of(seg(a), 46, s));
        ByteBuffer b = le(a);
        assertHeader(b, 96, 0, 46);
        assertEquals(1000, b.getLong(16));
        assertEquals(0, b.getLong(24));
        assertEquals(0, b.getLong(32));
        assertEquals(55, b.getLong(40));
        assertEquals(0, b.getLong(48));
        assertEquals(4096, b.getInt(56));
        assertEquals(255, b.getInt(60));
        assertEquals(4096, b.getInt(64));
        for (int i = 68; i < 96; i++) {
            assertEquals(0, a[i], "padding/spare byte " + i);
        }
        assertUntouchedFrom(a, 96);
    }

    @Test
    void lseekOut() {
        byte[] a = dirty(64);
        assertEquals(24, Reply.of(seg(a), 47, new LseekOut(1L << 33)));
        assertHeader(le(a), 24, 0, 47);
        assertEquals(1L << 33, le(a).getLong(16));
        assertUntouchedFrom(a, 24);
    }

    @Test
    void initOut() {
        byte[] a = dirty(128);
        InitOut o = new InitOut(7, 45, 131072, 0x40c46001, 0x1234, 0x0ffe, 131072, 1, 256, 0, 0x20, 1, 0xbeef);
        assertEquals(80, Reply.of(seg(a), 2, o));
        ByteBuffer b = le(a);
        assertHeader(b, 80, 0, 2);
        assertEquals(7, b.getInt(16));
        assertEquals(45, b.getInt(20));
        assertEquals(131072, b.getInt(24));
        assertEquals(0x40c46001, b.getInt(28));
        assertEquals(0x1234, b.getShort(32));
        assertEquals(0x0ffe, b.getShort(34));
        assertEquals(131072, b.getInt(36));
        assertEquals(1, b.getInt(40));
        assertEquals(256, b.getShort(44));
        assertEquals(0, b.getShort(46));
        assertEquals(0x20, b.getInt(48));
        assertEquals(1, b.getInt(52));
        assertEquals((short) 0xbeef, b.getShort(56));
        for (int i = 58; i < 80; i++) {
            assertEquals(0, a[i], "unused byte " + i);
        }
        assertUntouchedFrom(a, 80);
        assertEquals(0x20L << 32 | 0x40c46001L, o.capabilities());
        assertThrows(IllegalArgumentException.class, () -> new InitOut(7, 45, 0, 0, 65536, 0, 4096, 1, 0, 0, 0, 0, 0));
        assertThrows(IllegalArgumentException.class, () -> new InitOut(7, 45, 0, 0, 0, 0, 4096, 1, -1, 0, 0, 0, 0));
    }

    @Test
    void outHeaderRoundTrips() {
        byte[] a = dirty(16);
        new OutHeader(100, -61, 0x55L).writeTo(seg(a), 0);
        assertEquals(new OutHeader(100, -61, 0x55L), OutHeader.read(seg(a), 0));
        assertHeader(le(a), 100, -61, 0x55L);
    }
}
