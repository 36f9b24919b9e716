package dev.csierofs.sys;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The fuse control filesystem ({@code fusectl}, at /sys/fs/fuse/connections): one directory per
 * FUSE connection, named by the minor device number of its mounts. Writing to {@code abort}
 * ends a connection even while threads of ours sit in read(2) or poll(2) on its fd and processes
 * still hold files open on it (they get ENOTCONN): closing our own fd cannot do that, because a
 * call in progress keeps it alive.
 */
public final class FuseControl {
    public static final Path CONNECTIONS = Path.of("/sys/fs/fuse/connections");

    private FuseControl() {
    }

    /** The connection id of a FUSE mount: the minor number of its device ("0:NN" in mountinfo). */
    public static int connectionOf(Mounts.Entry mount) {
        String dev = mount.device();
        int colon = dev.indexOf(':');
        if (colon < 0) {
            throw new IllegalArgumentException("mountinfo device " + dev + " is not major:minor");
        }
        return Integer.parseInt(dev.substring(colon + 1));
    }

    /**
     * Aborts connection {@code id}, mounting fusectl first where nobody has (containers often
     * lack it). Returns false when the connection is already gone.
     */
    public static boolean abort(int id) throws IOException {
        ensureMounted();
        Path abort = CONNECTIONS.resolve(Integer.toString(id)).resolve("abort");
        if (!Files.exists(abort)) {
            return false;
        }
        try {
            Files.writeString(abort, "1");
        } catch (java.nio.file.NoSuchFileException gone) {
            return false; // ended between the check and the write
        }
        return true;
    }

    /** Requests queued for the daemon on connection {@code id} ({@code waiting}); -1 if gone. */
    public static int waiting(int id) throws IOException {
        ensureMounted();
        Path waiting = CONNECTIONS.resolve(Integer.toString(id)).resolve("waiting");
        try {
            return Integer.parseInt(Files.readString(waiting).trim());
        } catch (java.nio.file.NoSuchFileException gone) {
            return -1;
        }
    }

    private static synchronized void ensureMounted() throws SyscallException {
        String target = CONNECTIONS.toString();
        if (!Mounts.at(target).stream().anyMatch(e -> e.fsType().equals("fusectl"))) {
            try {
                Libc.mount("fusectl", target, "fusectl", 0, "");
            } catch (SyscallException e) {
                if (e.errno() != Errno.EBUSY) { // EBUSY: mounted meanwhile
                    SyscallException h = new SyscallException(e.call(), e.subject(), e.errno(), Libc.strerror(e.errno())
                            + "; aborting a FUSE connection needs the fusectl filesystem at " + target);
                    h.initCause(e);
                    throw h;
                }
            }
        }
    }
}
