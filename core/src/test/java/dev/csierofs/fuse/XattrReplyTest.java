package dev.csierofs.fuse;

import dev.csierofs.sys.Errno;
import org.junit.jupiter.api.Test;

import java.util.List;

import static dev.csierofs.fuse.Msg.dirty;
import static dev.csierofs.fuse.Msg.le;
import static dev.csierofs.fuse.Msg.seg;
import static dev.csierofs.fuse.ReplyTest.assertHeader;
import static dev.csierofs.fuse.ReplyTest.assertUntouchedFrom;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

class XattrReplyTest {
    private static final byte[] VALUE = {1, 2, 3, 4, 5};
    private static final List<byte[]> NAMES = List.of("user.a".getBytes(), "trusted.overlay.opaque".getBytes());

    @Test
    void sizeQueryGetsFuseGetxattrOut() {
        byte[] a = dirty(64);
        assertEquals(24, XattrReply.value(seg(a), 3, 0, VALUE));
        assertHeader(le(a), 24, 0, 3);
        assertEquals(5, le(a).getInt(16));
        assertEquals(0, le(a).getInt(20));
        assertUntouchedFrom(a, 24);
    }

    @Test
    void valueWhenItFitsElseErange() {
        byte[] a = dirty(64);
        assertEquals(21, XattrReply.value(seg(a), 4, 5, VALUE));
        assertHeader(le(a), 21, 0, 4);
        assertEquals(3, a[18]);
        assertUntouchedFrom(a, 21);
        assertEquals(21, XattrReply.value(seg(dirty(64)), 4, 65536, VALUE));

        a = dirty(64);
        assertEquals(16, XattrReply.value(seg(a), 5, 4, VALUE));
        assertHeader(le(a), 16, -Errno.ERANGE, 5);
    }

    @Test
    void emptyValue() {
        byte[] a = dirty(64);
        assertEquals(24, XattrReply.value(seg(a), 6, 0, new byte[0]));
        assertEquals(0, le(a).getInt(16));
        assertEquals(16, XattrReply.value(seg(a), 6, 10, new byte[0]));
        assertHeader(le(a), 16, 0, 6);
    }

    @Test
    void listIsNulTerminatedNames() {
        assertEquals(7 + 23, XattrReply.listLength(NAMES));
        byte[] a = dirty(128);
        assertEquals(24, XattrReply.list(seg(a), 7, 0, NAMES));
        assertEquals(30, le(a).getInt(16));

        a = dirty(128);
        assertEquals(46, XattrReply.list(seg(a), 8, 30, NAMES));
        assertHeader(le(a), 46, 0, 8);
        assertEquals("user.a\0trusted.overlay.opaque\0", new String(a, 16, 30));
        assertUntouchedFrom(a, 46);

        a = dirty(128);
        assertEquals(16, XattrReply.list(seg(a), 9, 29, NAMES));
        assertHeader(le(a), 16, -Errno.ERANGE, 9);

        assertEquals(16, XattrReply.list(seg(dirty(64)), 10, 100, List.of()));
    }

    @Test
    void badNamesAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> XattrReply.listLength(List.of(new byte[0])));
        assertThrows(IllegalArgumentException.class, () -> XattrReply.listLength(List.of(new byte[] {'a', 0, 'b'})));
    }
}
