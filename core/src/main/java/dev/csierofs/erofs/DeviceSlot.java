package dev.csierofs.erofs;

/**
 * One entry of the device table (128 bytes each): an extra device, its size in blocks and,
 * for flattened multi-device images, where its blocks start in the unified address space.
 */
public record DeviceSlot(int index, byte[] tag, long blocks, long uniaddr) {
    public static final int SIZE = 128;

    static DeviceSlot parse(int index, byte[] b, boolean is48bit) {
        byte[] tag = java.util.Arrays.copyOf(b, 64);
        long blocks = Le.u32(b, 64) | (is48bit ? (long) Le.u16(b, 72) << 32 : 0);
        long uniaddr = Le.u32(b, 68) | (is48bit ? (long) Le.u16(b, 74) << 32 : 0);
        return new DeviceSlot(index, tag, blocks, uniaddr);
    }

    /** The tag as text: mkfs.erofs writes a path or digest padded with NULs. */
    public String tagText() {
        int n = 0;
        while (n < tag.length && tag[n] != 0) {
            n++;
        }
        return new String(tag, 0, n, java.nio.charset.StandardCharsets.UTF_8);
    }
}
