package dev.csierofs.fs;

import dev.csierofs.fuse.Protocol;

/**
 * How an image's nids become FUSE nodeids (and inode numbers), without a table: a restarted
 * daemon, or any reader thread, can turn a nodeid the kernel holds back into a nid.
 * <ul>
 * <li>{@link #single}: one image is the whole mount. nodeid = nid + 1, except that the root takes
 * nodeid 1 and nid 0 takes the root's place; the inode number is the nid.</li>
 * <li>{@link #layer}: one layer of a stack ({@link OverlayFilesystem}). The layer's index + 1 sits
 * in bits 56-62 and the nid below (bit 55 marks a metabox nid), so nodeids of different layers
 * never meet, nodeid 1 stays the merged root, and the nodeid doubles as a stack-wide unique
 * inode number (hard links within a layer share it, as on a kernel overlayfs).</li>
 * </ul>
 */
public abstract sealed class NodeIds {
    /** Layers a stack may have: the index + 1 must fit in 7 bits. */
    public static final int MAX_LAYERS = 127;
    private static final int LAYER_SHIFT = 56;
    private static final long METABOX_BIT = 1L << 63;
    private static final long LAYER_METABOX_BIT = 1L << 55;
    private static final long NID_MASK = LAYER_METABOX_BIT - 1;

    public abstract long nodeid(long nid);

    public abstract long nid(long nodeid);

    /** The inode number shown for {@code nid} (st_ino, d_ino). */
    public abstract long ino(long nid);

    public static NodeIds single(long rootNid) {
        return new Single(rootNid);
    }

    public static NodeIds layer(int index) {
        if (index < 0 || index >= MAX_LAYERS) {
            throw new IllegalArgumentException("a stack has at most " + MAX_LAYERS + " layers");
        }
        return new Layer(index);
    }

    /** The layer index of a nodeid made by {@link #layer}; -1 for nodeids no layer made (the merged root). */
    public static int layerOf(long nodeid) {
        return (int) (nodeid >>> LAYER_SHIFT) - 1;
    }

    private static final class Single extends NodeIds {
        private final long rootNid;

        Single(long rootNid) {
            this.rootNid = rootNid;
        }

        @Override
        public long nodeid(long nid) {
            if (nid == rootNid) {
                return Protocol.ROOT_ID;
            }
            return nid == 0 ? rootNid + 1 : nid + 1;
        }

        @Override
        public long nid(long nodeid) {
            if (nodeid == Protocol.ROOT_ID) {
                return rootNid;
            }
            return nodeid == rootNid + 1 ? 0 : nodeid - 1;
        }

        @Override
        public long ino(long nid) {
            return nid;
        }
    }

    private static final class Layer extends NodeIds {
        private final long tag;

        Layer(int index) {
            this.tag = (long) (index + 1) << LAYER_SHIFT;
        }

        @Override
        public long nodeid(long nid) {
            long plain = nid & ~METABOX_BIT;
            if (plain > NID_MASK) {
                // 2^55 inode slots of 32 bytes is 1 EiB of metadata: no real image gets here
                throw new IllegalStateException("nid " + Long.toUnsignedString(nid) + " is too large for a layer of a stack");
            }
            return tag | ((nid & METABOX_BIT) != 0 ? LAYER_METABOX_BIT : 0) | plain;
        }

        @Override
        public long nid(long nodeid) {
            return ((nodeid & LAYER_METABOX_BIT) != 0 ? METABOX_BIT : 0) | (nodeid & NID_MASK);
        }

        @Override
        public long ino(long nid) {
            return nodeid(nid);
        }
    }
}
