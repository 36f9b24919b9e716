package dev.csierofs.sys;

import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static dev.csierofs.sys.RawFuseSession.SUBTYPE;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * Mounts real FUSE filesystems through {@link FuseDevice} and {@link FuseMount} (needs root and
 * /dev/fuse) and speaks just enough of the protocol by hand to see the kernel's side.
 */
class FuseMountTest {

    @BeforeAll
    static void needsRootAndFuse() {
        assumeTrue(Libc.geteuid() == 0, "FUSE mount tests need root");
        assumeTrue(Files.exists(Path.of(FuseDevice.PATH)), "no " + FuseDevice.PATH);
    }

    private static List<Mounts.Entry> ourMountsUnder(Path dir) throws Exception {
        String prefix = dir.toRealPath().toString();
        return Mounts.read().stream()
                .filter(e -> e.fsType().equals("fuse." + SUBTYPE) && e.mountPoint().startsWith(prefix))
                .toList();
    }

    @Test
    void mountsAnswersInitAndUnmountsLazily(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        try (RawFuseSession s = RawFuseSession.start(dir, "/images/app.erofs", false)) {
            RawFuseSession.Request init = s.init;
            assertEquals(RawFuseSession.OP_INIT, init.opcode());
            assertEquals(40 + 64, init.len(), "INIT = in-header + fuse_init_in");
            assertEquals(7, init.bodyInt(0), "kernel protocol major");
            assertTrue(s.kernelMinor() >= 31, "kernel protocol minor " + s.kernelMinor());

            List<Mounts.Entry> at = Mounts.at(s.mount.mountPoint().toString());
            assertEquals(1, at.size(), at.toString());
            Mounts.Entry e = at.get(0);
            assertEquals(dir.toRealPath(), s.mount.mountPoint());
            assertEquals("fuse." + SUBTYPE, e.fsType());
            assertEquals("/images/app.erofs", e.source());
            for (String o : List.of("ro", "nosuid", "nodev")) {
                assertTrue(e.hasMountOption(o), o + " missing in " + e.mountOptions());
            }
            for (String o : List.of("user_id=0", "group_id=0", "allow_other", "max_read=1048576")) {
                assertTrue(e.hasSuperOption(o), o + " missing in " + e.superOptions());
            }
            assertTrue(FuseMount.isMounted(dir, SUBTYPE));

            s.startResponder(s.device);
            assertTrue(s.mount.unmount(), "unmount detached the mount");
            assertFalse(s.mount.unmount(), "a second unmount is a no-op");
            assertTrue(s.awaitResponderEnd(), "the device read did not end after the lazy unmount");
            SyscallException end = s.responderEnd;
            assertTrue(end != null, "responder ended without a read failure: " + s.responderFailure);
            assertEquals(Errno.ENODEV, end.errno(), end.getMessage());
            assertEquals("read", end.call());
            assertTrue(end.getMessage().startsWith("read(fd " + s.device.fd() + "): "), end.getMessage());
            assertTrue(ourMountsUnder(tmp).isEmpty());
            assertFalse(FuseMount.isMounted(dir, SUBTYPE));
        }
    }

    @Test
    void refusesBadMountPointsAndNames(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        Path file = Files.writeString(tmp.resolve("file"), "x");
        try (FuseDevice dev = FuseDevice.open()) {
            SyscallException missing = assertThrows(SyscallException.class,
                    () -> FuseMount.mount(dev, tmp.resolve("missing"), SUBTYPE, "img"));
            assertEquals(Errno.ENOENT, missing.errno());
            assertTrue(missing.getMessage().contains(tmp.resolve("missing").toString())
                    && missing.getMessage().contains("does not exist"), missing.getMessage());

            SyscallException notDir = assertThrows(SyscallException.class, () -> FuseMount.mount(dev, file, SUBTYPE, "img"));
            assertEquals(Errno.ENOTDIR, notDir.errno());
            assertTrue(notDir.getMessage().contains(file.toString()) && notDir.getMessage().contains("not a directory"),
                    notDir.getMessage());

            for (String subtype : List.of("a,b", "a b", "erofs\n", "", "allow_other,x")) {
                SyscallException e = assertThrows(SyscallException.class, () -> FuseMount.mount(dev, dir, subtype, "img"));
                assertEquals(Errno.EINVAL, e.errno());
                assertTrue(e.getMessage().contains("subtype"), e.getMessage());
            }
            for (String source : List.of("a,fd=3", "my image", "img\tx", "img\u0000", "img\u007f", "")) {
                SyscallException e = assertThrows(SyscallException.class, () -> FuseMount.mount(dev, dir, SUBTYPE, source));
                assertEquals(Errno.EINVAL, e.errno());
                assertTrue(e.getMessage().contains("source"), e.getMessage());
            }
            assertTrue(ourMountsUnder(tmp).isEmpty());
            // the device was never attached to a connection: the kernel refuses to read from it
            SyscallException unattached = assertThrows(SyscallException.class, () -> {
                try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                    dev.read(a.allocate(RawFuseSession.BUFFER));
                }
            });
            assertEquals(Errno.EPERM, unattached.errno(), unattached.getMessage());
        }
    }

    @Test
    void secondMountOnTheSameDirectoryIsBusy(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        try (RawFuseSession s = RawFuseSession.start(dir, "first.erofs", false)) {
            s.startResponder(s.device);
            try (FuseDevice other = FuseDevice.open()) {
                SyscallException busy = assertThrows(SyscallException.class,
                        () -> FuseMount.mount(other, dir, SUBTYPE, "second.erofs"));
                assertEquals(Errno.EBUSY, busy.errno());
                assertTrue(busy.getMessage().contains(dir.toString()) && busy.getMessage().contains("busy")
                        && busy.getMessage().contains("first.erofs"), busy.getMessage());
            }
            List<Mounts.Entry> ours = ourMountsUnder(tmp);
            assertEquals(1, ours.size(), ours.toString());
            assertEquals("first.erofs", ours.get(0).source());
        }
        assertTrue(ourMountsUnder(tmp).isEmpty());
    }

    /**
     * Surprise: the kernel does not refuse an fd that already serves a mount. It mounts the same
     * superblock again (same st_dev, same connection), like a bind mount.
     */
    @Test
    void mountingAnAttachedDeviceAgainSharesItsSuperblock(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        Path elsewhere = Files.createDirectory(tmp.resolve("elsewhere"));
        try (RawFuseSession s = RawFuseSession.start(dir, "first.erofs", false)) {
            s.startResponder(s.device);
            try (FuseMount again = FuseMount.mount(s.device, elsewhere, SUBTYPE, "again.erofs")) {
                Mounts.Entry first = Mounts.top(dir.toRealPath().toString()).orElseThrow();
                Mounts.Entry second = Mounts.top(again.mountPoint().toString()).orElseThrow();
                assertEquals(first.device(), second.device());
                assertEquals("again.erofs", second.source(), "the source is per mount");
            }
        }
        assertTrue(ourMountsUnder(tmp).isEmpty());
    }

    @Test
    void detachesByPathAndRefusesToDetachAForeignMountOnTop(@TempDir Path tmp) throws Exception {
        Path dir = Files.createDirectory(tmp.resolve("mnt"));
        try (RawFuseSession s = RawFuseSession.start(dir, "img", false)) {
            s.startResponder(s.device);
            String mp = s.mount.mountPoint().toString();
            Libc.mount("cover", mp, "tmpfs", Libc.MS_NOSUID | Libc.MS_NODEV, "size=64k");
            try {
                SyscallException e = assertThrows(SyscallException.class, () -> FuseMount.detach(dir, SUBTYPE));
                assertEquals(Errno.EBUSY, e.errno());
                assertTrue(e.getMessage().contains("tmpfs") && e.getMessage().contains(mp), e.getMessage());
            } finally {
                Libc.umount2(mp, Libc.MNT_DETACH);
            }
            assertTrue(FuseMount.detach(dir, SUBTYPE));
            assertFalse(FuseMount.detach(dir, SUBTYPE));
            assertTrue(ourMountsUnder(tmp).isEmpty());
        }
    }

    @Test
    void umountOfANonMountFailsWithErrnoAndPath(@TempDir Path tmp) {
        SyscallException e = assertThrows(SyscallException.class, () -> Libc.umount2(tmp.toString(), Libc.MNT_DETACH));
        assertEquals(Errno.EINVAL, e.errno());
        assertTrue(e.getMessage().startsWith("umount2(" + tmp + "): "), e.getMessage());
    }

    @Test
    void optionStringHasOnlyNumbersAndConstants() {
        assertEquals("fd=7,rootmode=40000,user_id=0,group_id=0,allow_other,max_read=1048576",
                FuseMount.optionString(7, 0, 0, FuseMount.Options.DEFAULTS));
        assertEquals("fd=3,rootmode=40000,user_id=4294967294,group_id=1000,allow_other,default_permissions,max_read=131072",
                FuseMount.optionString(3, -2, 1000, new FuseMount.Options(true, true, 131072)));
    }
}
