package dev.csierofs.cas;

import java.io.IOException;

/**
 * The store cannot take a file: its budget is used by files that are in use, or the disk is
 * full. Callers serve the content another way; nothing is left half-written.
 */
public final class StoreFullException extends IOException {
    public StoreFullException(String message) {
        super(message);
    }

    public StoreFullException(String message, Throwable cause) {
        super(message, cause);
    }
}
