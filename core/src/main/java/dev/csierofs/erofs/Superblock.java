package dev.csierofs.erofs;

import java.util.UUID;
import java.util.zip.CRC32C;

/** The EROFS superblock: 128 bytes plus 16 per extension slot, at byte 1024 of the primary device. */
public record Superblock(
        long checksum,
        int featureCompat,
        int blkszbits,
        int sbExtslots,
        long rootNid,
        long inos,
        long epoch,
        int fixedNsec,
        long blocks,
        long metaBlkaddr,
        long xattrBlkaddr,
        UUID uuid,
        String volumeName,
        int featureIncompat,
        int availableComprAlgs,
        int extraDevices,
        int devtSlotoff,
        int dirblkbits,
        int xattrPrefixCount,
        long xattrPrefixStart,
        long packedNid,
        int ishareXattrPrefixId,
        long buildTime,
        long metaboxNid,
        boolean checksumVerified) {

    public static final int OFFSET = 1024;
    public static final int MAGIC = 0xE0F5E1E2;
    public static final long METABOX_BIT = 1L << 63;
    /** Largest block size accepted: the format allows up to 64 KiB (Linux mounts at most PAGE_SIZE). */
    public static final int MAX_BLKSZBITS = 16;

    public int blockSize() {
        return 1 << blkszbits;
    }

    public int sbSize() {
        return 128 + sbExtslots * 16;
    }

    public boolean hasCompat(int bit) {
        return (featureCompat & bit) != 0;
    }

    public boolean hasIncompat(int bit) {
        return (featureIncompat & bit) != 0;
    }

    public boolean is48bit() {
        return hasIncompat(Features.INCOMPAT_48BIT);
    }

    /** Bytes [1024, 1024 + n) of the primary device needed to parse and verify the superblock. */
    public static int bytesNeeded(int blkszbits) {
        int blksz = 1 << blkszbits;
        return OFFSET + Math.max(checksumLength(blksz), 144);
    }

    private static int checksumLength(int blksz) {
        return blksz > OFFSET ? blksz - OFFSET : blksz;
    }

    /**
     * Parses and validates the superblock. {@code head} holds the first bytes of the device,
     * at least {@link #bytesNeeded} for its block size (callers read 1024 + 144 first to learn it).
     */
    public static Superblock parse(byte[] head) throws ErofsException {
        final String what = "superblock";
        if (head.length < OFFSET + 128) {
            throw new ErofsException(what, OFFSET, "image is only " + head.length + " bytes, too small for an EROFS superblock");
        }
        int o = OFFSET;
        int magic = Le.i32(head, o);
        if (magic != MAGIC) {
            throw new ErofsException(what, OFFSET, String.format("bad magic 0x%08x (expected 0x%08x): not an EROFS image", magic, MAGIC));
        }
        long checksum = Le.u32(head, o + 4);
        int compat = Le.i32(head, o + 8);
        int blkszbits = Le.u8(head, o + 12);
        if (blkszbits < 9 || blkszbits > MAX_BLKSZBITS) {
            throw new ErofsException(what, OFFSET + 12, "block size bits " + blkszbits + " out of range 9.." + MAX_BLKSZBITS);
        }
        int incompat = Le.i32(head, o + 80);
        int unknown = incompat & ~Features.INCOMPAT_SUPPORTED;
        if (unknown != 0) {
            throw new ErofsException(what, OFFSET + 80, "unknown incompatible feature bit(s) 0x" + Integer.toHexString(unknown)
                    + " " + Features.incompatNames(unknown) + ": this image needs a newer reader");
        }
        int extslots = Le.u8(head, o + 13);
        int sbSize = 128 + extslots * 16;
        if (head.length < OFFSET + sbSize) {
            throw new ErofsException(what, OFFSET + 13, "sb_extslots " + extslots + " makes the superblock larger than the image");
        }
        boolean verified = false;
        if ((compat & Features.COMPAT_SB_CHKSUM) != 0) {
            int len = checksumLength(1 << blkszbits);
            if (head.length < OFFSET + len) {
                throw new ErofsException(what, OFFSET, "image too short for its superblock checksum area (" + len + " bytes)");
            }
            byte[] copy = java.util.Arrays.copyOfRange(head, OFFSET, OFFSET + len);
            copy[4] = copy[5] = copy[6] = copy[7] = 0;
            CRC32C crc = new CRC32C();
            crc.update(copy);
            // The kernel seeds crc32c with ~0 and does not invert the result; java.util.zip does both.
            long actual = ~crc.getValue() & 0xffffffffL;
            if (actual != checksum) {
                throw new ErofsException(what, OFFSET + 4, String.format("checksum mismatch: stored 0x%08x, computed 0x%08x", checksum, actual));
            }
            verified = true;
        }
        boolean b48 = (incompat & Features.INCOMPAT_48BIT) != 0;
        long blocks = Le.u32(head, o + 36);
        long rootNid = Le.u16(head, o + 14);
        long rootnid8 = sbSize >= 120 ? Le.i64(head, o + 112) : 0;
        if (b48 && rootnid8 != 0) {
            rootNid = rootnid8;
            blocks |= (long) Le.u16(head, o + 14) << 32;
        }
        long packedNid = Le.i64(head, o + 96);
        if ((packedNid & METABOX_BIT) != 0) {
            throw new ErofsException(what, OFFSET + 96, "packed inode nid 0x" + Long.toHexString(packedNid) + " points into the metabox");
        }
        long metaboxNid = 0;
        if ((incompat & Features.INCOMPAT_METABOX) != 0) {
            if (sbSize < 136) {
                throw new ErofsException(what, OFFSET + 13, "metabox feature set but superblock has no metabox_nid slot");
            }
            metaboxNid = Le.i64(head, o + 128);
            if ((metaboxNid & METABOX_BIT) != 0) {
                throw new ErofsException(what, OFFSET + 128, "metabox nid points into the metabox itself");
            }
        }
        int dirblkbits = Le.u8(head, o + 90);
        if (dirblkbits != 0) {
            throw new ErofsException(what, OFFSET + 90, "dirblkbits " + dirblkbits + " is not supported (only directory blocks equal to the block size exist)");
        }
        int prefixCount = Le.u8(head, o + 91);
        int ishare = Le.u8(head, o + 105); // checked where fingerprints are looked up: the kernel ignores it
        int extraDevices = (incompat & Features.INCOMPAT_DEVICE_TABLE) != 0 ? Le.u16(head, o + 86) : 0;
        int algs = Le.u16(head, o + 84);
        if ((incompat & Features.INCOMPAT_COMPR_CFGS) != 0 && (algs & ~0xf) != 0) {
            throw new ErofsException(what, OFFSET + 84, "unknown compression algorithm bits 0x" + Integer.toHexString(algs & ~0xf));
        }
        long msb = Le.i64(head, o + 48);
        long lsb = Le.i64(head, o + 56);
        UUID uuid = new UUID(Long.reverseBytes(msb), Long.reverseBytes(lsb));
        int n = 0;
        while (n < 16 && head[o + 64 + n] != 0) {
            n++;
        }
        String volumeName = new String(head, o + 64, n, java.nio.charset.StandardCharsets.UTF_8);
        return new Superblock(checksum, compat, blkszbits, extslots, rootNid, Le.i64(head, o + 16), Le.i64(head, o + 24),
                Le.i32(head, o + 32), blocks, Le.u32(head, o + 40), Le.u32(head, o + 44), uuid, volumeName, incompat,
                algs, extraDevices, Le.u16(head, o + 88), dirblkbits, prefixCount, Le.u32(head, o + 92), packedNid,
                ishare, Le.u32(head, o + 108), metaboxNid, verified);
    }
}
