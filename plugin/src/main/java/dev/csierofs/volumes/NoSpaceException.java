package dev.csierofs.volumes;

import java.io.IOException;

/**
 * The node's disk is too full for a publish, even after the content store deleted what nothing
 * uses (RESOURCE_EXHAUSTED). The message names the directory, its free space and the fix.
 */
public final class NoSpaceException extends IOException {
    public NoSpaceException(String message, Throwable cause) {
        super(message, cause);
    }
}
