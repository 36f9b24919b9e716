package dev.csierofs.fuse;

import dev.csierofs.sys.Errno;
import dev.csierofs.sys.Libc;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Passthrough on the real kernel: a one-file filesystem whose file passes through to a backing
 * file. Its reads never reach the daemon, concurrent opens share one backing id, the id is closed
 * after the last release, and a mapping of the file still names the mount's path.
 */
class PassthroughTest {
    private static final Duration TTL = Duration.ofSeconds(60);
    private static final long FILE = 2;

    /** "/" holding one file, "data", whose opens pass through to {@code backing}. */
    static class OneFile implements FuseFilesystem {
        final Path backing;
        final long size;
        final AtomicInteger reads = new AtomicInteger();
        volatile PassthroughRegistry registry;

        OneFile(Path backing) throws IOException {
            this.backing = backing;
            this.size = Files.size(backing);
        }

        @Override
        public void initialized(PassthroughRegistry passthrough) {
            registry = passthrough;
        }

        Attr attr(long node) {
            boolean dir = node == Protocol.ROOT_ID;
            return new Attr(node, dir ? 0 : size, (size + 511) / 512, 0, 0, 0, 0, 0, 0, dir ? 040555 : 0100444, dir ? 2 : 1,
                    0, 0, 0, 4096, 0);
        }

        @Override
        public EntryOut lookup(long parent, byte[] name) throws FuseError {
            if (parent != Protocol.ROOT_ID || !new String(name, StandardCharsets.UTF_8).equals("data")) {
                throw new FuseError(Errno.ENOENT, "no such entry");
            }
            return new EntryOut(FILE, 0, TTL, TTL, attr(FILE));
        }

        @Override
        public AttrOut getattr(long nodeid) {
            return new AttrOut(TTL, attr(nodeid));
        }

        @Override
        public byte[] readlink(long nodeid) throws FuseError {
            throw new FuseError(Errno.EINVAL, "no symlinks");
        }

        @Override
        public OpenOut open(long nodeid, int flags) throws FuseError {
            try {
                int id = registry.open(nodeid, () -> Libc.open(backing.toString().getBytes(StandardCharsets.UTF_8),
                        Libc.O_RDONLY | Libc.O_CLOEXEC, 0));
                return OpenOut.passthrough(1, id);
            } catch (IOException e) {
                throw new FuseError(Errno.EIO, e.getMessage());
            }
        }

        @Override
        public void release(long nodeid, long fh) {
            try {
                registry.release(nodeid);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        @Override
        public int read(long nodeid, long fh, long offset, int size, MemorySegment dst) {
            reads.incrementAndGet();
            return 0;
        }

        @Override
        public OpenOut opendir(long nodeid) {
            return OpenOut.of(0, 0);
        }

        @Override
        public void readdir(long nodeid, long fh, long offset, DirentList out) {
            if (offset == 0) {
                out.add(FILE, 1, 8, "data".getBytes(StandardCharsets.UTF_8));
            }
        }

        @Override
        public StatfsOut statfs(long nodeid) {
            return new StatfsOut(0, 0, 0, 2, 0, 4096, 255, 4096);
        }

        @Override
        public byte[] getxattr(long nodeid, byte[] name) throws FuseError {
            throw new FuseError(Errno.ENODATA, "none");
        }

        @Override
        public List<byte[]> listxattr(long nodeid) {
            return List.of();
        }

        @Override
        public long lseek(long nodeid, long fh, long offset, int whence) throws FuseError {
            throw new FuseError(Errno.ENOSYS, "not needed");
        }
    }

    @Test
    void readsPassThroughWithOneBackingIdPerInode(@TempDir Path tmp) throws Exception {
        byte[] content = new byte[3 << 20];
        new java.util.Random(5).nextBytes(content);
        Path backing = Files.write(tmp.resolve("backing"), content);
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        OneFile fs = new OneFile(backing);
        try (FuseSession s = FuseSession.mount(fs, mnt, "csitest", "passthrough-test", 2, InitNegotiation.Options.defaults())) {
            assertTrue(s.passthrough());
            assertNotNull(fs.registry);
            Path data = mnt.resolve("data");
            assertArrayEquals(content, Files.readAllBytes(data));
            assertEquals(0, fs.reads.get(), "passthrough reads must not reach the daemon");

            try (FileChannel a = FileChannel.open(data); FileChannel b = FileChannel.open(data)) {
                assertEquals(2, fs.registry.openCount(FILE), "two opens, one backing id");
                assertEquals(1, fs.registry.registered());
                java.nio.ByteBuffer buf = java.nio.ByteBuffer.allocate(4096);
                assertEquals(4096, b.read(buf, 1 << 20));
                assertArrayEquals(java.util.Arrays.copyOfRange(content, 1 << 20, (1 << 20) + 4096), buf.array());
            }
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(5);
            while (fs.registry.registered() != 0 && System.nanoTime() < deadline) {
                Thread.sleep(10); // RELEASE is sent asynchronously after close
            }
            assertEquals(0, fs.registry.registered(), "the backing id is closed after the last release");

            Process p = new ProcessBuilder("python3", "-c", String.join("\n",
                    "import mmap, sys",
                    "f = open(sys.argv[1], 'rb')",
                    "m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)",
                    "print([l.split()[-1] for l in open('/proc/self/maps') if 'data' in l.split()[-1]][0])",
                    "print(m[:8].hex())"), data.toString()).redirectErrorStream(true).start();
            List<String> out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).lines().toList();
            assertEquals(0, p.waitFor(), String.join("\n", out));
            assertEquals(data.toString(), out.get(0), "the mapping names the FUSE path, not the backing file");
            assertEquals(java.util.HexFormat.of().formatHex(content, 0, 8), out.get(1));
            assertEquals(0, fs.reads.get());
        }
    }
}
