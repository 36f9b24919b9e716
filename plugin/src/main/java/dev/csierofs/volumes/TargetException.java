package dev.csierofs.volumes;

/**
 * A target path that cannot take (or give up) a volume as the node has it now: a file or a symlink
 * where a directory belongs, a directory that is not empty, a mount this plugin did not make
 * (FAILED_PRECONDITION: fixed on the node, not by retrying). The message names the path, what is
 * wrong with it and what to do.
 */
public final class TargetException extends Exception {
    public TargetException(String message) {
        super(message);
    }
}
