package dev.csierofs.cas;

import java.io.IOException;

/** Content that was expected to have one digest hashed to another (or had another size). */
public final class ContentMismatchException extends IOException {
    public ContentMismatchException(String message) {
        super(message);
    }
}
