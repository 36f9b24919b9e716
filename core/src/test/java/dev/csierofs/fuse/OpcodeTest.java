package dev.csierofs.fuse;

import org.junit.jupiter.api.Test;

import java.util.EnumSet;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

class OpcodeTest {

    @Test
    void codesFromTheHeader() {
        assertEquals(1, Opcode.LOOKUP.code());
        assertEquals(2, Opcode.FORGET.code());
        assertEquals(3, Opcode.GETATTR.code());
        assertEquals(5, Opcode.READLINK.code());
        assertEquals(14, Opcode.OPEN.code());
        assertEquals(15, Opcode.READ.code());
        assertEquals(17, Opcode.STATFS.code());
        assertEquals(18, Opcode.RELEASE.code());
        assertEquals(22, Opcode.GETXATTR.code());
        assertEquals(23, Opcode.LISTXATTR.code());
        assertEquals(25, Opcode.FLUSH.code());
        assertEquals(26, Opcode.INIT.code());
        assertEquals(27, Opcode.OPENDIR.code());
        assertEquals(28, Opcode.READDIR.code());
        assertEquals(29, Opcode.RELEASEDIR.code());
        assertEquals(34, Opcode.ACCESS.code());
        assertEquals(36, Opcode.INTERRUPT.code());
        assertEquals(42, Opcode.BATCH_FORGET.code());
        assertEquals(44, Opcode.READDIRPLUS.code());
        assertEquals(46, Opcode.LSEEK.code());
        assertEquals(51, Opcode.TMPFILE.code());
        assertEquals(52, Opcode.STATX.code());
        assertEquals(53, Opcode.COPY_FILE_RANGE_64.code());
        assertEquals(51, Opcode.values().length, "1..53 without 7 and 19");
    }

    @Test
    void writesAreExactlyTheModifyingRequests() {
        Set<Opcode> writes = EnumSet.of(Opcode.SETATTR, Opcode.SYMLINK, Opcode.MKNOD, Opcode.MKDIR, Opcode.UNLINK,
                Opcode.RMDIR, Opcode.RENAME, Opcode.RENAME2, Opcode.LINK, Opcode.WRITE, Opcode.SETXATTR,
                Opcode.REMOVEXATTR, Opcode.CREATE, Opcode.FALLOCATE, Opcode.COPY_FILE_RANGE, Opcode.COPY_FILE_RANGE_64,
                Opcode.TMPFILE);
        for (Opcode o : Opcode.values()) {
            assertEquals(writes.contains(o), o.isWrite(), o.name());
            assertEquals(writes.contains(o), Opcode.isWrite(o.code()), o.name());
            assertSame(o, Opcode.of(o.code()));
        }
    }

    @Test
    void unknownCodes() {
        assertNull(Opcode.of(7));
        assertNull(Opcode.of(54));
        assertNull(Opcode.of(4096));
        assertNull(Opcode.of(-1));
        assertFalse(Opcode.isWrite(4096));
        assertEquals("opcode 4096", Opcode.name(4096));
        assertEquals("opcode 4294967295", Opcode.name(-1));
        assertEquals("READDIRPLUS", Opcode.name(44));
    }

    @Test
    void requestsWithoutReplies() {
        for (Opcode o : Opcode.values()) {
            boolean none = o == Opcode.FORGET || o == Opcode.BATCH_FORGET || o == Opcode.NOTIFY_REPLY || o == Opcode.INTERRUPT;
            assertEquals(!none, o.expectsReply(), o.name());
        }
        assertTrue(Opcode.LOOKUP.expectsReply());
    }
}
