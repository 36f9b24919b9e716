package dev.csierofs.fuse;

import dev.csierofs.sys.FuseDevice;
import dev.csierofs.sys.Libc;
import dev.csierofs.sys.SyscallException;

import java.io.IOException;
import java.util.HashMap;
import java.util.Map;

/**
 * Backing files registered with the kernel for passthrough opens, one per inode. The kernel
 * fails an open with EIO if one inode is opened with two different backing ids at once (or mixes
 * passthrough and cached opens), so every open of a nodeid reuses that nodeid's id while any
 * open is outstanding, and the id is closed on the last RELEASE, never right after an OPEN reply
 * (closing it then races with the opener).
 */
public final class PassthroughRegistry {

    /** Opens the file to pass through to; the registry closes the fd once it is registered. */
    @FunctionalInterface
    public interface BackingOpener {
        int openReadOnly() throws IOException;
    }

    private record Backing(int id, int opens) {
    }

    private final FuseDevice device;
    private final Map<Long, Backing> byNode = new HashMap<>();

    PassthroughRegistry(FuseDevice device) {
        this.device = device;
    }

    /**
     * The backing id for an open of {@code nodeid}: the one already registered if the inode is
     * open, else the file {@code opener} opens, registered now. Each call needs one {@link #release}.
     */
    public synchronized int open(long nodeid, BackingOpener opener) throws IOException {
        Backing b = byNode.get(nodeid);
        if (b == null) {
            int fd = opener.openReadOnly();
            try {
                b = new Backing(device.backingOpen(fd), 0);
            } finally {
                Libc.close(fd); // the kernel holds its own reference from BACKING_OPEN on
            }
        }
        byNode.put(nodeid, new Backing(b.id(), b.opens() + 1));
        return b.id();
    }

    /** One open of {@code nodeid} ended; the last one closes the backing id. */
    public synchronized void release(long nodeid) throws SyscallException {
        Backing b = byNode.get(nodeid);
        if (b == null) {
            return;
        }
        if (b.opens() > 1) {
            byNode.put(nodeid, new Backing(b.id(), b.opens() - 1));
            return;
        }
        byNode.remove(nodeid);
        device.backingClose(b.id());
    }

    /** Outstanding passthrough opens of {@code nodeid} (for tests and metrics). */
    public synchronized int openCount(long nodeid) {
        Backing b = byNode.get(nodeid);
        return b == null ? 0 : b.opens();
    }

    /** Backing ids currently registered. */
    public synchronized int registered() {
        return byNode.size();
    }
}
