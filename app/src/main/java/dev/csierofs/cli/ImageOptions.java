package dev.csierofs.cli;

import dev.csierofs.erofs.DeviceSlot;
import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/** The image argument and its extra devices, shared by every command. */
public class ImageOptions {
    @Parameters(index = "0", paramLabel = "IMAGE", description = "EROFS image file")
    Path image;

    @Option(names = "--device", paramLabel = "BLOB",
            description = "extra device of a multi-device image (blob or tar file), repeat in device-table order")
    List<Path> devices = new ArrayList<>();

    /** Opens the image with every extra device it needs. */
    ErofsImage open() throws IOException {
        return open(true);
    }

    /**
     * Opens the image; with {@code allDevices} false, missing extra devices are tolerated until
     * file data in them is read (enough for commands that only read metadata).
     */
    ErofsImage open(boolean allDevices) throws IOException {
        return open(image, devices, allDevices);
    }

    /**
     * Opens {@code image} with {@code devices}; more devices than its device table lists, or (with
     * {@code allDevices}) fewer, are refused in one line saying which devices the image has.
     */
    static ErofsImage open(Path image, List<Path> devices, boolean allDevices) throws IOException {
        requireFile(image, "image");
        for (Path d : devices) {
            requireFile(d, "device");
        }
        if (!devices.isEmpty()) { // checked first: the reader itself only says that the counts differ
            List<DeviceSlot> table;
            try (ErofsImage bare = ErofsImage.open(image, List.of(), false)) {
                table = bare.deviceSlots();
            } catch (ErofsException e) {
                throw new IOException(image + ": " + e.getMessage(), e);
            }
            if (table.isEmpty()) {
                throw new IOException(image + " has no extra devices (all its data is in the image file itself): "
                        + "drop --device " + devices.getFirst() + (devices.size() > 1 ? " and the others" : ""));
            }
            if (devices.size() > table.size()) {
                throw new IOException(image + " has " + table.size() + " extra device(s) (" + describe(table, 0) + ") but "
                        + devices.size() + " --device were given: give one per device, in device-table order");
            }
        }
        ErofsImage opened;
        try {
            opened = ErofsImage.open(image, devices, false);
        } catch (ErofsException e) { // the reader's message does not say which file it was reading
            throw new IOException(image + ": " + e.getMessage(), e);
        }
        List<DeviceSlot> table = opened.deviceSlots();
        if (allDevices && table.size() > devices.size()) {
            opened.close();
            throw new IOException(image + " keeps file data in " + (table.size() - devices.size()) + " extra device(s) not given: "
                    + describe(table, devices.size()) + "; use --device BLOB for each, in device-table order");
        }
        return opened;
    }

    /** The device-table entries from index {@code from} on: "device 2 (tag sha256:...)". */
    private static String describe(List<DeviceSlot> table, int from) {
        List<String> parts = new ArrayList<>();
        for (DeviceSlot d : table.subList(from, table.size())) {
            byte[] tag = d.tag();
            int n = 0;
            while (n < tag.length && tag[n] != 0) { // mkfs.erofs pads the tag with NULs
                n++;
            }
            parts.add("device " + d.index() + (n == 0 ? "" : " (tag " + Display.name(Arrays.copyOf(tag, n)) + ")"));
        }
        return String.join(", ", parts);
    }

    static void requireFile(Path p, String what) throws IOException {
        if (!Files.exists(p)) {
            throw new IOException(what + " " + p + " does not exist");
        }
        if (Files.isDirectory(p)) {
            throw new IOException(what + " " + p + " is a directory, not an image file");
        }
        if (!Files.isReadable(p)) {
            throw new IOException(what + " " + p + " is not readable");
        }
    }
}
