package dev.csierofs.fuse;

import org.junit.jupiter.api.Test;

import static dev.csierofs.fuse.Msg.body;
import static dev.csierofs.fuse.Msg.request;
import static dev.csierofs.fuse.Msg.seg;
import static dev.csierofs.fuse.Protocol.INIT_ASYNC_READ;
import static dev.csierofs.fuse.Protocol.INIT_CACHE_SYMLINKS;
import static dev.csierofs.fuse.Protocol.INIT_DO_READDIRPLUS;
import static dev.csierofs.fuse.Protocol.INIT_EXT;
import static dev.csierofs.fuse.Protocol.INIT_MAX_PAGES;
import static dev.csierofs.fuse.Protocol.INIT_PARALLEL_DIROPS;
import static dev.csierofs.fuse.Protocol.INIT_PASSTHROUGH;
import static dev.csierofs.fuse.Protocol.INIT_READDIRPLUS_AUTO;
import static dev.csierofs.fuse.Protocol.INIT_WRITEBACK_CACHE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class InitNegotiationTest {
    /** What a 6.18 kernel offers in flags: bits 0..30 but FILE_OPS, MAP_ALIGNMENT and SUBMOUNTS. */
    static final int FLAGS_7_45 = 0x73FFFFFB;
    /** flags2 of a 6.18 kernel without io_uring: SECURITY_CTX .. REQUEST_TIMEOUT but HAS_INODE_DAX, OVER_IO_URING. */
    static final int FLAGS2_7_45 = 0x5FD;
    /** A 7.31 kernel (Linux 5.9): bits 0..25 but FILE_OPS, no INIT_EXT. */
    static final int FLAGS_7_31 = 0x03FFFFFB;
    static final int WANTED = (int) (INIT_ASYNC_READ | INIT_PARALLEL_DIROPS | INIT_DO_READDIRPLUS | INIT_READDIRPLUS_AUTO
            | INIT_CACHE_SYMLINKS);

    private static InitIn init(Msg body) throws FuseProtocolException {
        return (InitIn) Request.decode(seg(request(Opcode.INIT, body))).body();
    }

    private static InitIn kernel745(int flags2) throws FuseProtocolException {
        return init(body().u32(7).u32(45).u32(131072).u32(FLAGS_7_45).u32(flags2).bytes(new byte[44]));
    }

    @Test
    void sevenFortyFiveWithPassthrough() throws Exception {
        InitNegotiation.Result r = InitNegotiation.negotiate(kernel745(FLAGS2_7_45), InitNegotiation.Options.defaults());
        InitOut o = r.reply();
        assertTrue(r.passthrough());
        assertEquals(7, o.major());
        assertEquals(45, o.minor());
        assertEquals(131072, o.maxReadahead(), "capped at the kernel's offer");
        assertEquals(WANTED | (int) INIT_MAX_PAGES | (int) INIT_EXT, o.flags());
        assertEquals(1 << 5, o.flags2());
        assertEquals(1, o.maxStackDepth());
        assertEquals(256, o.maxPages());
        assertEquals(0, o.flags() & (int) INIT_WRITEBACK_CACHE, "offered by the kernel, never taken with passthrough");
        assertEquals(0, o.maxBackground());
        assertEquals(0, o.congestionThreshold());
        assertEquals(4096, o.maxWrite());
        assertEquals(1, o.timeGran());
        assertEquals(0, o.requestTimeout());
        assertEquals(0, o.mapAlignment());
        assertTrue(r.has(INIT_PASSTHROUGH));
        assertTrue(r.has(INIT_DO_READDIRPLUS | INIT_READDIRPLUS_AUTO));
        assertEquals(o.capabilities(), r.capabilities());
        assertEquals(8192, r.requestBufferSize());
    }

    @Test
    void sevenFortyFiveWithoutPassthroughOffered() throws Exception {
        InitNegotiation.Result r = InitNegotiation.negotiate(kernel745(FLAGS2_7_45 & ~(1 << 5)), InitNegotiation.Options.defaults());
        assertFalse(r.passthrough());
        assertFalse(r.has(INIT_PASSTHROUGH));
        assertEquals(0, r.reply().flags2());
        assertEquals(0, r.reply().maxStackDepth());
        assertEquals(WANTED | (int) INIT_MAX_PAGES | (int) INIT_EXT, r.reply().flags(), "INIT_EXT still answered");
    }

    @Test
    void passthroughNotWanted() throws Exception {
        InitNegotiation.Result r = InitNegotiation.negotiate(kernel745(FLAGS2_7_45),
                InitNegotiation.Options.defaults().withPassthrough(false));
        assertFalse(r.passthrough());
        assertEquals(0, r.reply().flags2());
        assertEquals(0, r.reply().maxStackDepth());
    }

    @Test
    void sevenThirtyOneHasNoFlags2() throws Exception {
        InitIn k = init(body().u32(7).u32(31).u32(131072).u32(FLAGS_7_31));
        InitNegotiation.Result r = InitNegotiation.negotiate(k, InitNegotiation.Options.defaults());
        InitOut o = r.reply();
        assertEquals(31, o.minor());
        assertFalse(r.passthrough());
        assertEquals(0, o.flags2());
        assertEquals(0, o.maxStackDepth());
        assertEquals(0, o.flags() & (int) INIT_EXT, "no INIT_EXT to a kernel that did not send it");
        assertEquals(WANTED | (int) INIT_MAX_PAGES, o.flags());
        assertEquals(256, o.maxPages());
        assertEquals(WANTED | INIT_MAX_PAGES, r.capabilities());
    }

    @Test
    void onlyWhatTheKernelOffers() throws Exception {
        // An old kernel offering async read and readdirplus only: no MAX_PAGES, so max_pages 0.
        InitIn k = init(body().u32(7).u32(26).u32(65536).u32((int) (INIT_ASYNC_READ | INIT_DO_READDIRPLUS)));
        InitNegotiation.Result r = InitNegotiation.negotiate(k, InitNegotiation.Options.defaults().withMaxReadahead(4096));
        assertEquals(26, r.reply().minor());
        assertEquals((int) (INIT_ASYNC_READ | INIT_DO_READDIRPLUS), r.reply().flags());
        assertEquals(0, r.reply().maxPages());
        assertEquals(4096, r.reply().maxReadahead());
    }

    @Test
    void newerKernelGetsOurMinor() throws Exception {
        InitIn k = init(body().u32(7).u32(50).u32(131072).u32(FLAGS_7_45).u32(FLAGS2_7_45).bytes(new byte[44]));
        assertEquals(45, InitNegotiation.negotiate(k, InitNegotiation.Options.defaults()).reply().minor());
    }

    @Test
    void majorOtherThanSevenIsRefused() throws Exception {
        FuseProtocolException six = assertThrows(FuseProtocolException.class,
                () -> InitNegotiation.negotiate(init(body().u32(6).u32(45).u32(0).u32(0)), InitNegotiation.Options.defaults()));
        assertEquals("fuse_init_in.major", six.field());
        assertEquals(Opcode.INIT.code(), six.opcode());
        assertEquals("INIT: fuse_init_in.major: kernel speaks protocol 6.45, this daemon only 7.x", six.getMessage());
        FuseProtocolException eight = assertThrows(FuseProtocolException.class,
                () -> InitNegotiation.negotiate(init(body().u32(8).u32(0).u32(0).u32(0)), InitNegotiation.Options.defaults()));
        assertEquals("fuse_init_in.major", eight.field());
    }

    @Test
    void minorBelowTwentyThreeIsRefused() throws Exception {
        FuseProtocolException e = assertThrows(FuseProtocolException.class,
                () -> InitNegotiation.negotiate(init(body().u32(7).u32(22).u32(0).u32(0)), InitNegotiation.Options.defaults()));
        assertEquals("fuse_init_in.minor", e.field());
        assertEquals(23, InitNegotiation.negotiate(init(body().u32(7).u32(23).u32(0).u32(0)),
                InitNegotiation.Options.defaults()).reply().minor());
    }

    @Test
    void optionsRefuseWhatNegotiationManages() {
        InitNegotiation.Options d = InitNegotiation.Options.defaults();
        assertThrows(IllegalArgumentException.class, () -> d.withFlags(INIT_PASSTHROUGH));
        assertThrows(IllegalArgumentException.class, () -> d.withFlags(INIT_EXT));
        assertThrows(IllegalArgumentException.class, () -> d.withFlags(INIT_MAX_PAGES));
        assertThrows(IllegalArgumentException.class, () -> d.withFlags(INIT_WRITEBACK_CACHE));
        d.withPassthrough(false).withFlags(INIT_WRITEBACK_CACHE); // allowed without passthrough
        assertThrows(IllegalArgumentException.class, () -> d.withMaxPages(65536));
        assertThrows(IllegalArgumentException.class, () -> d.withBackground(70000, 0));
        assertThrows(IllegalArgumentException.class, () -> d.withMaxReadahead(-1));
    }

    @Test
    void writebackCacheWithoutPassthroughIsNegotiatedLikeAnyFlag() throws Exception {
        InitNegotiation.Options o = InitNegotiation.Options.defaults().withPassthrough(false).withFlags(INIT_WRITEBACK_CACHE);
        InitNegotiation.Result r = InitNegotiation.negotiate(kernel745(FLAGS2_7_45), o);
        assertTrue(r.has(INIT_WRITEBACK_CACHE));
        assertFalse(r.passthrough());
    }

    @Test
    void requestBufferIsAtLeastEightKibibytes() throws Exception {
        InitNegotiation.Options small = new InitNegotiation.Options(true, 0, 0, 0, 0, 0, 4096, 1);
        assertEquals(8192, InitNegotiation.negotiate(kernel745(FLAGS2_7_45), small).requestBufferSize());
    }
}
