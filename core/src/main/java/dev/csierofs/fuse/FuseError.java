package dev.csierofs.fuse;

/**
 * A filesystem's answer that a request fails with {@code errno} (positive, e.g. ENOENT); the
 * session sends it negated. Expected outcomes, so no stack trace is kept.
 */
public final class FuseError extends Exception {
    private final int errno;

    public FuseError(int errno, String why) {
        super(why, null, false, false);
        this.errno = errno;
    }

    public int errno() {
        return errno;
    }
}
