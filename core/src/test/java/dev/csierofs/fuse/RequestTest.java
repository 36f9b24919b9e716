package dev.csierofs.fuse;

import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static dev.csierofs.fuse.Msg.body;
import static dev.csierofs.fuse.Msg.request;
import static dev.csierofs.fuse.Msg.seg;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RequestTest {

    private static Request decode(byte[] b) throws FuseProtocolException {
        return Request.decode(seg(b));
    }

    @Test
    void headerFieldsAtTheirOffsets() throws Exception {
        byte[] b = body().u32(56).u32(3).u64(0x8000_0000_0000_1234L).u64(0x1_0000_0001L).u32(-2).u32(65534).u32(99)
                .u16(0).u16(0).u32(1).u32(0).u64(0xfeedL).toBytes();
        Request r = decode(b);
        InHeader h = r.header();
        assertEquals(56, h.len());
        assertEquals(3, h.opcode());
        assertEquals("GETATTR", h.opcodeName());
        assertEquals(0x8000_0000_0000_1234L, h.unique());
        assertEquals(Protocol.UNIQUE_RESEND, h.unique() & Protocol.UNIQUE_RESEND);
        assertEquals(0x1_0000_0001L, h.nodeid());
        assertEquals(0xffff_fffeL, Integer.toUnsignedLong(h.uid()));
        assertEquals(65534, h.gid());
        assertEquals(99, h.pid());
        assertEquals(0, h.totalExtlen());
        assertEquals(16, h.bodyLength());
        assertEquals(new Request.GetAttr(1, 0xfeedL), r.body());
    }

    @Test
    void extensionsAfterTheBodyAreNotPartOfIt() throws Exception {
        // An OPEN body (8 bytes) followed by one 8-byte extension unit, as total_extlen = 1 says.
        byte[] b = body().u32(56).u32(Opcode.OPEN.code()).u64(9).u64(12).u32(0).u32(0).u32(0).u16(1).u16(0)
                .u32(0x8000).u32(0).u64(-1L).toBytes();
        Request r = decode(b);
        assertEquals(1, r.header().totalExtlen());
        assertEquals(8, r.header().bodyLength());
        assertEquals(new Request.Open(0x8000, 0), r.body());
    }

    @Test
    void initWithFlags2() throws Exception {
        Request r = decode(request(Opcode.INIT, body().u32(7).u32(45).u32(131072).u32(0x73FFFFFB).u32(0x5FD)
                .bytes(new byte[44])));
        InitIn in = assertInstanceOf(InitIn.class, r.body());
        assertEquals(new InitIn(7, 45, 131072, 0x73FFFFFB, 0x5FD), in);
        assertTrue(in.offers(Protocol.INIT_EXT));
        assertTrue(in.offers(Protocol.INIT_PASSTHROUGH));
        assertFalse(in.offers(Protocol.INIT_OVER_IO_URING));
        assertEquals(0x5FDL << 32 | 0x73FFFFFBL, in.capabilities());
    }

    @Test
    void oldInitIsSixteenBytesWithoutFlags2() throws Exception {
        Request r = decode(request(Opcode.INIT, body().u32(7).u32(31).u32(131072).u32(0x03FFFFFB)));
        InitIn in = assertInstanceOf(InitIn.class, r.body());
        assertEquals(new InitIn(7, 31, 131072, 0x03FFFFFB, 0), in);
        assertEquals(0x03FFFFFBL, in.capabilities());
    }

    @Test
    void flags2IsIgnoredWithoutInitExt() throws Exception {
        InitIn in = (InitIn) decode(request(Opcode.INIT, body().u32(7).u32(45).u32(0).u32(1).u32(0x20).bytes(new byte[44]))).body();
        assertEquals(0x20, in.flags2());
        assertEquals(1L, in.capabilities());
        assertFalse(in.offers(Protocol.INIT_PASSTHROUGH));
    }

    @Test
    void lookup() throws Exception {
        Request r = decode(request(Opcode.LOOKUP.code(), 10, 1, body().cstr("lib64")));
        assertEquals(1, r.nodeid());
        assertEquals(10, r.unique());
        assertArrayEquals("lib64".getBytes(StandardCharsets.US_ASCII), ((Request.Lookup) r.body()).name());
        assertEquals("Lookup[name=\"lib64\"]", r.body().toString());
    }

    @Test
    void lookupOfANameThatIsNotUtf8() throws Exception {
        byte[] name = {(byte) 0xff, 'a', (byte) 0x80};
        Request r = decode(request(Opcode.LOOKUP, body().bytes(name).bytes(new byte[1])));
        assertArrayEquals(name, ((Request.Lookup) r.body()).name());
        assertEquals("Lookup[name=\"\\xffa\\x80\"]", r.body().toString());
    }

    @Test
    void forgetAndBatchForget() throws Exception {
        Request f = decode(request(Opcode.FORGET.code(), 0, 33, body().u64(7)));
        assertEquals(new Request.Forget(7), f.body());
        assertEquals(33, f.nodeid());

        Request bf = decode(request(Opcode.BATCH_FORGET, body().u32(3).u32(0).u64(10).u64(1).u64(11).u64(2).u64(-5L).u64(3)));
        assertEquals(List.of(new Request.ForgetOne(10, 1), new Request.ForgetOne(11, 2), new Request.ForgetOne(-5L, 3)),
                ((Request.BatchForget) bf.body()).forgets());

        Request none = decode(request(Opcode.BATCH_FORGET, body().u32(0).u32(0)));
        assertEquals(List.of(), ((Request.BatchForget) none.body()).forgets());
    }

    @Test
    void getattr() throws Exception {
        Request.GetAttr g = (Request.GetAttr) decode(request(Opcode.GETATTR, body().u32(1).u32(0).u64(0xabcdef))).body();
        assertEquals(1, g.getattrFlags());
        assertEquals(0xabcdef, g.fh());
        assertTrue(g.hasFh());
        assertFalse(((Request.GetAttr) decode(request(Opcode.GETATTR, body().u32(0).u32(0).u64(0))).body()).hasFh());
    }

    @Test
    void bodilessRequests() throws Exception {
        assertEquals(new Request.ReadLink(), decode(request(Opcode.READLINK, body())).body());
        assertEquals(new Request.StatFs(), decode(request(Opcode.STATFS, body())).body());
        assertEquals(new Request.Destroy(), decode(request(Opcode.DESTROY, body())).body());
    }

    @Test
    void openAndOpendir() throws Exception {
        assertEquals(new Request.Open(0x8000 | 0x40000, 1), decode(request(Opcode.OPEN, body().u32(0x8000 | 0x40000).u32(1))).body());
        assertEquals(new Request.OpenDir(0x10000, 0), decode(request(Opcode.OPENDIR, body().u32(0x10000).u32(0))).body());
    }

    private static Msg readIn(long fh, long offset, int size, int readFlags, long lockOwner, int flags) {
        return body().u64(fh).u64(offset).u32(size).u32(readFlags).u64(lockOwner).u32(flags).u32(0);
    }

    @Test
    void read() throws Exception {
        Request r = decode(request(Opcode.READ, readIn(42, 1L << 40, 131072, 2, 0x1122334455667788L, 0x8000)));
        assertEquals(new Request.Read(42, 1L << 40, 131072, 2, 0x1122334455667788L, 0x8000), r.body());
    }

    @Test
    void readdirAndReaddirplus() throws Exception {
        assertEquals(new Request.ReadDir(3, 96, 4096, false), decode(request(Opcode.READDIR, readIn(3, 96, 4096, 0, 0, 0))).body());
        assertEquals(new Request.ReadDir(3, 0, 4096, true), decode(request(Opcode.READDIRPLUS, readIn(3, 0, 4096, 0, 0, 0))).body());
    }

    @Test
    void releaseAndReleasedir() throws Exception {
        assertEquals(new Request.Release(8, 0x8000, Protocol.RELEASE_FLUSH, 99),
                decode(request(Opcode.RELEASE, body().u64(8).u32(0x8000).u32(1).u64(99))).body());
        assertEquals(new Request.ReleaseDir(9, 0x10000), decode(request(Opcode.RELEASEDIR, body().u64(9).u32(0x10000).u32(0).u64(0))).body());
    }

    @Test
    void getxattrAndListxattr() throws Exception {
        Request.GetXattr g = (Request.GetXattr) decode(request(Opcode.GETXATTR, body().u32(0).u32(0).cstr("security.capability"))).body();
        assertEquals(0, g.size());
        assertArrayEquals("security.capability".getBytes(StandardCharsets.US_ASCII), g.name());
        Request.GetXattr g2 = (Request.GetXattr) decode(request(Opcode.GETXATTR, body().u32(65536).u32(0).cstr("user.x"))).body();
        assertEquals(65536, g2.size());
        assertEquals(new Request.ListXattr(4096), decode(request(Opcode.LISTXATTR, body().u32(4096).u32(0))).body());
    }

    @Test
    void flushAccessInterruptLseekStatx() throws Exception {
        assertEquals(new Request.Flush(17, 0x55L), decode(request(Opcode.FLUSH, body().u64(17).u32(0).u32(0).u64(0x55))).body());
        assertEquals(new Request.Access(4), decode(request(Opcode.ACCESS, body().u32(4).u32(0))).body());
        assertEquals(new Request.Interrupt(1234), decode(request(Opcode.INTERRUPT, body().u64(1234))).body());
        assertEquals(new Request.Lseek(6, 8192, 3), decode(request(Opcode.LSEEK, body().u64(6).u64(8192).u32(3).u32(0))).body());
        assertEquals(new Request.Statx(1, 7, 0x800, 0xfff),
                decode(request(Opcode.STATX, body().u32(1).u32(0).u64(7).u32(0x800).u32(0xfff))).body());
    }

    @Test
    void writeTypeRequestsAreUnsupportedWrites() throws Exception {
        for (Opcode op : Opcode.values()) {
            if (!op.isWrite()) {
                continue;
            }
            // bodies as garbage: they are not decoded
            Request r = decode(request(op, body().u64(1).u64(2).cstr("x")));
            Request.Unsupported u = assertInstanceOf(Request.Unsupported.class, r.body(), op.name());
            assertEquals(op.code(), u.opcode());
            assertTrue(u.isWrite(), op.name());
            assertTrue(u.expectsReply(), op.name());
        }
    }

    @Test
    void otherOpcodesAreUnsupportedReads() throws Exception {
        Request.Unsupported ioctl = (Request.Unsupported) decode(request(Opcode.IOCTL, body().u64(0).u64(0).u64(0).u64(0))).body();
        assertFalse(ioctl.isWrite());
        assertTrue(ioctl.expectsReply());
        Request.Unsupported unknown = (Request.Unsupported) decode(request(4093, 1, 1, body().u64(0))).body();
        assertEquals(4093, unknown.opcode());
        assertFalse(unknown.isWrite());
        assertTrue(unknown.expectsReply());
        assertEquals("Unsupported[opcode 4093]", unknown.toString());
        assertFalse(((Request.Unsupported) decode(request(Opcode.NOTIFY_REPLY, body().u64(0))).body()).expectsReply());
    }

    @Test
    void decodesFromANativeSegmentAndKeepsNoReferenceToIt() throws Exception {
        byte[] b = request(Opcode.LOOKUP, body().cstr("etc"));
        Request r;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(Protocol.MIN_READ_BUFFER);
            MemorySegment.copy(seg(b), 0, buf, 0, b.length);
            r = Request.decode(buf.asSlice(0, b.length));
            buf.fill((byte) 0);
        }
        assertArrayEquals("etc".getBytes(StandardCharsets.US_ASCII), ((Request.Lookup) r.body()).name());
    }
}
