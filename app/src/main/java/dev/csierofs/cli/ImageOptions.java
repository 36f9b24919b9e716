package dev.csierofs.cli;

import dev.csierofs.erofs.ErofsImage;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
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
        requireFile(image, "image");
        for (Path d : devices) {
            requireFile(d, "device");
        }
        return ErofsImage.open(image, devices, allDevices);
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
