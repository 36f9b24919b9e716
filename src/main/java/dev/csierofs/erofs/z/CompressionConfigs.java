package dev.csierofs.erofs.z;

import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;

/** Placeholder until the compression package lands. */
public final class CompressionConfigs {
    public static CompressionConfigs read(ErofsImage image) throws ErofsException {
        return new CompressionConfigs();
    }
}
