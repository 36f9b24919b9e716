package dev.csierofs.volumes;

/** A volume request that can never succeed as asked (INVALID_ARGUMENT); the message names the attribute. */
public final class InvalidVolumeException extends Exception {
    public InvalidVolumeException(String message) {
        super(message);
    }
}
