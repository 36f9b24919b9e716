package dev.csierofs.fuse;

import dev.csierofs.sys.FuseDevice;
import dev.csierofs.sys.FuseMount;
import dev.csierofs.sys.Libc;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The protocol layer against this machine's kernel: the INIT the kernel really sends decodes,
 * our negotiated reply is accepted, and passthrough is really on (BACKING_OPEN succeeds, which
 * the kernel allows only after a reply that enabled it).
 */
class KernelInitTest {

    @Test
    void realInitDecodesAndNegotiatedPassthroughWorks(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        Path backing = Files.writeString(tmp.resolve("backing"), "shared page cache");
        try (Arena arena = Arena.ofConfined(); FuseDevice dev = FuseDevice.open();
                FuseMount mount = FuseMount.mount(dev, dir, "csitest", "kernel-init-test")) {
            MemorySegment buf = arena.allocate((1 << 20) + 8192, 8);
            assertTrue(dev.awaitReadable(5000), "no INIT from the kernel within 5 s");
            int n = dev.read(buf);
            Request request = Request.decode(buf.asSlice(0, n));
            InitIn init = assertInstanceOf(InitIn.class, request.body());
            assertEquals(7, init.major());
            assertTrue(init.minor() >= 45, "this kernel speaks 7.45, got 7." + init.minor());

            InitNegotiation.Result result = InitNegotiation.negotiate(init, InitNegotiation.Options.defaults());
            assertTrue(result.passthrough(), "the kernel offers passthrough and we asked for it");
            int len = Reply.of(buf, request.header().unique(), result.reply());
            dev.write(buf, len);

            int fd = Libc.open(backing.toString().getBytes(StandardCharsets.UTF_8), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
            try {
                int id = dev.backingOpen(fd);
                assertTrue(id > 0, "backing id " + id);
                dev.backingClose(id);
            } finally {
                Libc.close(fd);
            }
        }
    }
}
