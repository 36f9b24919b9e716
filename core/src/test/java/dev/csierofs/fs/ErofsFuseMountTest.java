package dev.csierofs.fs;

import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.FixtureManifestTest;
import dev.csierofs.erofs.Fixtures;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import dev.csierofs.sys.Mounts;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every shared fixture served through our FUSE daemon reads exactly as the kernel's own EROFS
 * mount of it (the stored manifests are the kernel's view: stat fields, xattrs through
 * getxattr/listxattr, symlink targets, content, hard links). Then the mount goes away cleanly.
 */
class ErofsFuseMountTest {

    static List<String> fixtures() throws Exception {
        return Fixtures.names();
    }

    @ParameterizedTest
    @MethodSource("fixtures")
    void fuseMountReadsLikeTheKernel(String name, @TempDir Path tmp) throws Exception {
        Path mnt = Files.createDirectory(tmp.resolve("mnt"));
        List<String> got;
        try (ErofsImage img = ErofsImage.open(Fixtures.image(name), Fixtures.devices(name))) {
            FuseSession session = FuseSession.mount(new ErofsFilesystem(img), mnt, "erofs", Fixtures.image(name).toString(), 2,
                    InitNegotiation.Options.defaults());
            try {
                got = Fixtures.manifestOfTree(mnt);
            } finally {
                session.close();
            }
            assertTrue(session.awaitStop(5, TimeUnit.SECONDS), "reader threads still running after unmount");
        }
        assertTrue(Mounts.at(mnt.toRealPath().toString()).isEmpty(), "mount left behind");
        FixtureManifestTest.assertManifestsEqual(name + " (FUSE)", Fixtures.manifest(name), got);
    }
}
