package dev.csierofs.sys;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** The /dev/fuse ioctls (CLONE, BACKING_OPEN, BACKING_CLOSE) on real connections. */
class FuseDeviceTest {

    @BeforeAll
    static void needsRootAndFuse() {
        assumeTrue(Libc.geteuid() == 0, "FUSE device tests need root");
        assumeTrue(Files.exists(Path.of(FuseDevice.PATH)), "no " + FuseDevice.PATH);
    }

    @Test
    void cloneReadsAndAnswersRequestsOfTheConnection(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        try (RawFuseSession s = RawFuseSession.start(dir, "img", false)) {
            FuseDevice clone = s.cloneDevice();
            assertNotEquals(s.device.fd(), clone.fd());
            s.startResponder(clone); // only the clone reads: whatever arrives came through it
            CompletableFuture<PosixFileAttributes> stat = CompletableFuture.supplyAsync(() -> {
                try {
                    return Files.readAttributes(dir, PosixFileAttributes.class);
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            RawFuseSession.Request getattr = s.awaitSeen(RawFuseSession.OP_GETATTR);
            assertEquals(1, getattr.nodeid(), "GETATTR of the root");
            assertEquals(clone.fd(), getattr.readerFd());
            PosixFileAttributes attrs = stat.get(RawFuseSession.TIMEOUT_MS, TimeUnit.MILLISECONDS);
            assertTrue(attrs.isDirectory());
            assertEquals("rwxr-xr-x", PosixFilePermissions.toString(attrs.permissions()));
        }
    }

    @Test
    void cloneOfAFreshDeviceIsRefused() throws Exception {
        try (FuseDevice fresh = FuseDevice.open()) {
            SyscallException e = assertThrows(SyscallException.class, fresh::cloneSession);
            // 6.18 says EPERM (the source fd has no fuse_dev yet); older kernels said EINVAL
            assertTrue(e.errno() == Errno.EPERM || e.errno() == Errno.EINVAL, e.getMessage());
            assertEquals("ioctl", e.call());
            assertTrue(e.getMessage().contains("FUSE_DEV_IOC_CLONE of fd " + fresh.fd())
                    && e.getMessage().contains("not attached"), e.getMessage());
        }
    }

    @Test
    void backingOpenNeedsPassthroughNegotiated(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        int file = openReadOnly(Files.writeString(tmp.resolve("backing"), "data"));
        try (RawFuseSession s = RawFuseSession.start(dir, "img", false)) {
            s.startResponder(s.device);
            SyscallException e = assertThrows(SyscallException.class, () -> s.device.backingOpen(file));
            assertEquals(Errno.EPERM, e.errno());
            assertTrue(e.getMessage().contains("FUSE_DEV_IOC_BACKING_OPEN of fd " + file)
                    && e.getMessage().contains("passthrough"), e.getMessage());
        } finally {
            Libc.close(file);
        }
    }

    @Test
    void backingOpenAndCloseWithPassthrough(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        int file = openReadOnly(Files.writeString(tmp.resolve("backing"), "data"));
        int directory = openReadOnly(tmp);
        try (RawFuseSession s = RawFuseSession.start(dir, "img", true)) {
            assumeTrue((s.kernelFlags() & RawFuseSession.INIT_EXT) != 0
                    && (s.kernelFlags2() & RawFuseSession.PASSTHROUGH2) != 0, "kernel does not offer passthrough");
            s.startResponder(s.device);
            int id = s.device.backingOpen(file);
            assertTrue(id >= 0, "backing id " + id);
            s.device.backingClose(id);

            SyscallException again = assertThrows(SyscallException.class, () -> s.device.backingClose(id));
            assertFalse(again.errno() == 0);
            assertTrue(again.getMessage().contains("FUSE_DEV_IOC_BACKING_CLOSE of backing id " + id), again.getMessage());

            SyscallException dirFd = assertThrows(SyscallException.class, () -> s.device.backingOpen(directory));
            assertEquals(Errno.EISDIR, dirFd.errno(), dirFd.getMessage());
        } finally {
            Libc.close(file);
            Libc.close(directory);
        }
    }

    @Test
    void closedDeviceRefusesCalls() throws Exception {
        FuseDevice d = FuseDevice.open();
        d.close();
        d.close(); // idempotent
        SyscallException e = assertThrows(SyscallException.class, () -> d.backingClose(1));
        assertEquals(Errno.EBADF, e.errno());
    }

    private static int openReadOnly(Path p) throws SyscallException {
        return Libc.open(p.toString().getBytes(StandardCharsets.UTF_8), Libc.O_RDONLY | Libc.O_CLOEXEC, 0);
    }

    @Test
    void ioctlNumbersFollowTheIocEncoding() {
        // _IOC(dir, type 0xE5, nr, size): dir 2 = read, 1 = write; size in bits 16..29
        assertEquals(2 << 30 | 4 << 16 | 0xE5 << 8, FuseDevice.IOC_CLONE);
        assertEquals(1 << 30 | 16 << 16 | 0xE5 << 8 | 1, FuseDevice.IOC_BACKING_OPEN); // struct fuse_backing_map: 16 bytes
        assertEquals(1 << 30 | 4 << 16 | 0xE5 << 8 | 2, FuseDevice.IOC_BACKING_CLOSE);
    }
}
