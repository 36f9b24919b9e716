package dev.csierofs.cli;

import dev.csierofs.erofs.DeviceSlot;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Features;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.Superblock;
import dev.csierofs.erofs.TreeWalker;
import dev.csierofs.erofs.XattrPrefix;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

import java.io.PrintStream;
import java.time.Instant;
import java.util.HashSet;
import java.util.Set;
import java.util.concurrent.Callable;

@Command(name = "inspect", mixinStandardHelpOptions = true, description = "Print the superblock, features, block size and counts of an image.")
public class InspectCommand implements Callable<Integer> {
    @Mixin
    ImageOptions img;

    @Option(names = "--no-tree", description = "skip walking the tree to count files (faster on huge images)")
    boolean noTree;

    private static final String[] ALGORITHMS = {"lz4", "lzma", "deflate", "zstd"};

    @Override
    public Integer call() throws Exception {
        PrintStream out = System.out;
        try (ErofsImage image = img.open(false)) {
            Superblock sb = image.superblock();
            row(out, "image", img.image + " (" + image.primarySize() + " bytes)");
            row(out, "uuid", sb.uuid().toString());
            row(out, "volume name", sb.volumeName().isEmpty() ? "-" : sb.volumeName());
            row(out, "block size", sb.blockSize() + " bytes");
            row(out, "blocks", Long.toString(sb.blocks()));
            row(out, "inodes", sb.inos() + " (superblock)");
            row(out, "root nid", nid(sb.rootNid()));
            row(out, "meta blkaddr", Long.toString(sb.metaBlkaddr()));
            row(out, "xattr blkaddr", Long.toString(sb.xattrBlkaddr()));
            row(out, "build time", Instant.ofEpochSecond(sb.epoch() + sb.buildTime(), Integer.toUnsignedLong(sb.fixedNsec())).toString());
            row(out, "checksum", sb.hasCompat(Features.COMPAT_SB_CHKSUM)
                    ? String.format("crc32c 0x%08x (verified)", sb.checksum()) : "none");
            row(out, "compat features", String.join(" ", Features.compatNames(sb.featureCompat())));
            row(out, "incompat features", sb.featureIncompat() == 0 ? "-" : String.join(" ", Features.incompatNames(sb.featureIncompat())));
            row(out, "compression", compression(sb));
            if (sb.packedNid() != 0) {
                row(out, "packed inode", nid(sb.packedNid()));
            }
            if (sb.hasIncompat(Features.INCOMPAT_METABOX)) {
                row(out, "metabox inode", nid(sb.metaboxNid()));
            }
            row(out, "extra devices", Integer.toString(sb.extraDevices()));
            for (DeviceSlot d : image.deviceSlots()) {
                row(out, "  device " + d.index(), d.blocks() + " blocks" + (d.uniaddr() != 0 ? ", unified start block " + d.uniaddr() : "")
                        + (d.tagText().isEmpty() ? "" : ", tag " + d.tagText())
                        + (d.index() > img.devices.size() ? ", not given (--device)" : ", " + img.devices.get(d.index() - 1)));
            }
            if (!image.xattrPrefixes().isEmpty()) {
                row(out, "xattr prefixes", Integer.toString(image.xattrPrefixes().size()));
                for (XattrPrefix p : image.xattrPrefixes()) {
                    row(out, "  prefix " + p.id(), "index " + p.baseIndex() + " + " + Display.name(p.infix())
                            + (sb.hasCompat(Features.COMPAT_ISHARE_XATTRS) && sb.ishareXattrPrefixId() == p.id() ? " (fingerprint)" : ""));
                }
            }
            if (!noTree) {
                out.println(tree(image));
            }
        }
        return 0;
    }

    private static String nid(long nid) {
        return (nid & Superblock.METABOX_BIT) != 0 ? (nid & ~Superblock.METABOX_BIT) + " (in metabox)" : Long.toString(nid);
    }

    private static String compression(Superblock sb) {
        if (!sb.hasIncompat(Features.INCOMPAT_COMPR_CFGS)) {
            return sb.hasIncompat(Features.INCOMPAT_ZERO_PADDING) ? "lz4" : "none recorded (images from old mkfs may still hold LZ4)";
        }
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < ALGORITHMS.length; i++) {
            if ((sb.availableComprAlgs() & (1 << i)) != 0) {
                s.append(s.isEmpty() ? "" : " ").append(ALGORITHMS[i]);
            }
        }
        return s.isEmpty() ? "none" : s.toString();
    }

    private static String tree(ErofsImage image) throws Exception {
        long[] c = new long[8];
        Set<Long> seen = new HashSet<>();
        new TreeWalker(image).walk((path, inode) -> {
            if (!inode.isDirectory() && inode.nlink() > 1 && !seen.add(inode.nid())) {
                c[6]++;
                return;
            }
            switch (inode.type()) {
                case Inode.S_IFDIR -> c[0]++;
                case Inode.S_IFREG -> {
                    c[1]++;
                    c[7] += inode.size();
                }
                case Inode.S_IFLNK -> c[2]++;
                case Inode.S_IFCHR, Inode.S_IFBLK -> c[3]++;
                case Inode.S_IFIFO -> c[4]++;
                default -> c[5]++;
            }
        });
        // inodes as fsck counts them and the kernel numbers them: an inode with several names once
        return String.format("%-18s %d inodes: %d directories, %d files (%d bytes), %d symlinks, %d devices, %d fifos, %d sockets;"
                + " %d extra hard links", "tree:", c[0] + c[1] + c[2] + c[3] + c[4] + c[5], c[0], c[1], c[7], c[2], c[3], c[4], c[5], c[6]);
    }

    private static void row(PrintStream out, String key, String value) {
        out.printf("%-18s %s%n", key + ":", value);
    }
}
