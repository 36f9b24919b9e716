package dev.csierofs.fs;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.fuse.FuseFilesystem;

import java.util.List;

/** What one FUSE mount serves: an EROFS image, or a stack of them merged with overlay rules. */
public sealed interface ImageFilesystem extends FuseFilesystem permits ErofsFilesystem, OverlayFilesystem {

    /** How regular files are served on this mount, for the log line at mount time (valid after INIT). */
    String mode();

    /**
     * One image ({@code layers} of one) or a stack (lowest first), served with the node's
     * {@code sharing}; {@code imageKeys} name each image's content (see {@link ErofsFilesystem}).
     */
    static ImageFilesystem of(List<ErofsImage> layers, ContentSharing sharing, List<String> imageKeys) throws ErofsException {
        if (layers.size() == 1) {
            return new ErofsFilesystem(layers.get(0), sharing, imageKeys.get(0));
        }
        return new OverlayFilesystem(layers, sharing, imageKeys);
    }
}
