package dev.csierofs.fuse;

import org.junit.jupiter.api.Test;

import java.util.Arrays;

import static dev.csierofs.fuse.Msg.body;
import static dev.csierofs.fuse.Msg.request;
import static dev.csierofs.fuse.Msg.seg;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** Every malformed request gives a FuseProtocolException naming the opcode and the field. */
class MalformedRequestTest {

    private static FuseProtocolException reject(byte[] b) {
        return assertThrows(FuseProtocolException.class, () -> Request.decode(seg(b)));
    }

    /** A request whose header is valid: the exception carries it, so the daemon can answer it. */
    private static FuseProtocolException rejectBody(byte[] b, String opcode, String field) {
        FuseProtocolException e = reject(b);
        assertEquals(field, e.field());
        assertEquals(opcode, Opcode.name(e.opcode()));
        assertEquals(77, e.header().orElseThrow().unique());
        assertTrue(e.getMessage().startsWith(opcode + " (unique 77): " + field + ": "), e.getMessage());
        return e;
    }

    @Test
    void shorterThanTheHeader() {
        FuseProtocolException e = reject(new byte[39]);
        assertEquals("fuse_in_header", e.field());
        assertTrue(e.header().isEmpty());
        assertEquals("LOOKUP: fuse_in_header: message is 10 bytes, shorter than the 40-byte header",
                reject(body().u32(10).u32(1).u16(0).toBytes()).getMessage());
        assertEquals(-1, reject(new byte[7]).opcode());
        assertEquals(-1, reject(new byte[0]).opcode());
    }

    @Test
    void lengthDisagreesWithTheBytesRead() {
        byte[] ok = request(Opcode.ACCESS, body().u32(4).u32(0));
        byte[] truncated = Arrays.copyOf(ok, ok.length - 3);
        FuseProtocolException e = reject(truncated);
        assertEquals("fuse_in_header.len", e.field());
        assertEquals("ACCESS: fuse_in_header.len: says 48 bytes but the message is 45", e.getMessage());
        assertTrue(e.header().isEmpty());
        byte[] longer = Arrays.copyOf(ok, ok.length + 8);
        assertEquals("fuse_in_header.len", reject(longer).field());
        // len with the top bit set is a huge unsigned length, not a negative one
        byte[] huge = ok.clone();
        huge[3] = (byte) 0x80;
        assertTrue(reject(huge).getMessage().contains("says 2147483696 bytes"));
    }

    @Test
    void extensionsLongerThanTheRequest() {
        byte[] b = request(Opcode.ACCESS, body().u32(4).u32(0));
        b[36] = 2; // total_extlen: 16 bytes of extensions, but only 8 follow the header
        FuseProtocolException e = reject(b);
        assertEquals("fuse_in_header.total_extlen", e.field());
        assertEquals(Opcode.ACCESS.code(), e.opcode());
    }

    @Test
    void truncatedAndOversizedBodies() {
        rejectBody(request(Opcode.READ, body().u64(1).u64(2).u32(3)), "READ", "fuse_read_in");
        assertEquals("READ (unique 77): fuse_read_in: body is 20 bytes, expected 40",
                reject(request(Opcode.READ, body().u64(1).u64(2).u32(3))).getMessage());
        rejectBody(request(Opcode.READDIRPLUS, body().u64(1)), "READDIRPLUS", "fuse_read_in");
        rejectBody(request(Opcode.GETATTR, body().u64(0)), "GETATTR", "fuse_getattr_in");
        rejectBody(request(Opcode.OPEN, body().u32(0)), "OPEN", "fuse_open_in");
        rejectBody(request(Opcode.OPENDIR, body()), "OPENDIR", "fuse_open_in");
        rejectBody(request(Opcode.RELEASE, body().u64(0).u64(0)), "RELEASE", "fuse_release_in");
        rejectBody(request(Opcode.RELEASEDIR, body().u64(0)), "RELEASEDIR", "fuse_release_in");
        rejectBody(request(Opcode.FORGET, body().u32(1)), "FORGET", "fuse_forget_in");
        rejectBody(request(Opcode.FLUSH, body().u64(0)), "FLUSH", "fuse_flush_in");
        rejectBody(request(Opcode.ACCESS, body().u64(0).u64(0)), "ACCESS", "fuse_access_in");
        rejectBody(request(Opcode.INTERRUPT, body().u32(0)), "INTERRUPT", "fuse_interrupt_in");
        rejectBody(request(Opcode.LSEEK, body().u64(0).u64(0)), "LSEEK", "fuse_lseek_in");
        rejectBody(request(Opcode.STATX, body().u64(0).u64(0)), "STATX", "fuse_statx_in");
        rejectBody(request(Opcode.LISTXATTR, body().u32(0)), "LISTXATTR", "fuse_getxattr_in");
        rejectBody(request(Opcode.GETXATTR, body().u32(0)), "GETXATTR", "fuse_getxattr_in");
        rejectBody(request(Opcode.INIT, body().u32(7).u32(45).u32(0)), "INIT", "fuse_init_in");
        rejectBody(request(Opcode.BATCH_FORGET, body().u32(0)), "BATCH_FORGET", "fuse_batch_forget_in");
        rejectBody(request(Opcode.STATFS, body().u64(0)), "STATFS", "STATFS body");
        rejectBody(request(Opcode.READLINK, body().u32(0)), "READLINK", "READLINK body");
    }

    @Test
    void batchForgetCountDisagreesWithTheBody() {
        FuseProtocolException more = rejectBody(request(Opcode.BATCH_FORGET, body().u32(3).u32(0).u64(1).u64(1).u64(2).u64(1)),
                "BATCH_FORGET", "fuse_batch_forget_in.count");
        assertEquals("BATCH_FORGET (unique 77): fuse_batch_forget_in.count: 3 entries need 48 bytes of fuse_forget_one, the body has 32",
                more.getMessage());
        rejectBody(request(Opcode.BATCH_FORGET, body().u32(1).u32(0).u64(1).u64(1).u64(2).u64(1)), "BATCH_FORGET",
                "fuse_batch_forget_in.count");
        rejectBody(request(Opcode.BATCH_FORGET, body().u32(-1).u32(0).u64(1).u64(1)), "BATCH_FORGET", "fuse_batch_forget_in.count");
        rejectBody(request(Opcode.BATCH_FORGET, body().u32(1).u32(0).u64(1)), "BATCH_FORGET", "fuse_batch_forget_in.count");
    }

    @Test
    void namesWithoutTheirNul() {
        FuseProtocolException e = rejectBody(request(Opcode.LOOKUP, body().bytes("usr".getBytes())), "LOOKUP", "name");
        assertEquals("LOOKUP (unique 77): name: no NUL terminator in the 3 bytes after offset 0", e.getMessage());
        rejectBody(request(Opcode.LOOKUP, body()), "LOOKUP", "name");
        rejectBody(request(Opcode.GETXATTR, body().u32(0).u32(0).bytes("user.a".getBytes())), "GETXATTR", "name");
        rejectBody(request(Opcode.GETXATTR, body().u32(0).u32(0)), "GETXATTR", "name");
    }

    @Test
    void namesWithBytesAfterTheNulOrEmpty() {
        assertEquals("LOOKUP (unique 77): name: 2 bytes follow the NUL terminator",
                rejectBody(request(Opcode.LOOKUP, body().cstr("a").u16(0x4141)), "LOOKUP", "name").getMessage());
        assertEquals("LOOKUP (unique 77): name: empty name", rejectBody(request(Opcode.LOOKUP, body().bytes(new byte[1])), "LOOKUP", "name").getMessage());
        rejectBody(request(Opcode.GETXATTR, body().u32(0).u32(0).bytes(new byte[1])), "GETXATTR", "name");
    }

    @Test
    void sizesBeyondTwoGibibytes() {
        FuseProtocolException e = rejectBody(request(Opcode.READ, body().u64(1).u64(0).u32(0x8000_0000).u32(0).u64(0).u32(0).u32(0)),
                "READ", "fuse_read_in.size");
        assertEquals("READ (unique 77): fuse_read_in.size: 2147483648 bytes is beyond 2 GiB", e.getMessage());
        rejectBody(request(Opcode.GETXATTR, body().u32(-1).u32(0).cstr("user.a")), "GETXATTR", "fuse_getxattr_in.size");
    }
}
