package dev.csierofs.blobs;

import java.io.IOException;

/**
 * A blob that could not be fetched. {@link #failure()} says what kind of failure it was, so that
 * callers can tell a retry that may work (the network) from one that cannot (a wrong digest).
 */
public final class BlobFetchException extends IOException {
    /** What went wrong, by what it takes to fix it. */
    public enum Failure {
        /** The downloaded content is not the digest asked for: the digest is wrong, or the server's content changed. */
        DIGEST_MISMATCH,
        /** The server answered 404 or 410: there is nothing at the URL. */
        NOT_FOUND,
        /** May work later: network errors, timeouts, a response that ended early, HTTP 5xx, 408 and 429. */
        TRANSIENT,
        /** Will not work until something is changed: other HTTP statuses, redirects to http://, untrusted certificates. */
        REFUSED,
        /** The node's disk is full. */
        NO_SPACE
    }

    private final Failure failure;

    public BlobFetchException(Failure failure, String message) {
        super(message);
        this.failure = failure;
    }

    public BlobFetchException(Failure failure, String message, Throwable cause) {
        super(message, cause);
        this.failure = failure;
    }

    public Failure failure() {
        return failure;
    }
}
