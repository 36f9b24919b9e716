package dev.csierofs.csi;

import dev.csierofs.blobs.BlobFetchException;
import dev.csierofs.volumes.InvalidVolumeException;
import dev.csierofs.volumes.NoSpaceException;
import dev.csierofs.volumes.TargetException;
import dev.csierofs.volumes.Volumes;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;

import java.util.logging.Level;
import java.util.logging.Logger;

/**
 * The one map from what went wrong to the gRPC code a CSI call answers with. Every mistake of the
 * caller or state of the node has an exception of its own, whose message names the problem and
 * the fix; INTERNAL is left for what nothing here expects (a bug), and says so.
 * <ul>
 * <li>{@link InvalidVolumeException}: INVALID_ARGUMENT, the request cannot succeed as asked (a
 * missing field, a bad attribute, an image that is not EROFS, a target outside --kubelet-dir).</li>
 * <li>{@link Volumes.ConflictException}: ALREADY_EXISTS, the target holds the volume with other
 * arguments, or another volume.</li>
 * <li>{@link Volumes.NotPublishedException}: NOT_FOUND, unpublish of a volume at a target that
 * holds another one.</li>
 * <li>{@link TargetException}: FAILED_PRECONDITION, the target is a file, a symlink, a directory
 * with content, or has a mount this plugin did not make: fixed on the node, not by retrying.</li>
 * <li>{@link BlobFetchException}: see {@link #of(BlobFetchException)}.</li>
 * </ul>
 */
final class ErrorCodes {
    private static final Logger LOG = Logger.getLogger(ErrorCodes.class.getName());

    private ErrorCodes() {
    }

    /** The status for {@code e}, thrown while doing {@code what} (e.g. "publishing vol-1 at /path"). */
    static StatusRuntimeException of(Exception e, String what) {
        Status status = switch (e) {
            case InvalidVolumeException x -> Status.INVALID_ARGUMENT.withDescription(x.getMessage());
            case Volumes.ConflictException x -> Status.ALREADY_EXISTS.withDescription(x.getMessage());
            case Volumes.NotPublishedException x -> Status.NOT_FOUND.withDescription(x.getMessage());
            case TargetException x -> Status.FAILED_PRECONDITION.withDescription(x.getMessage());
            case NoSpaceException x -> Status.RESOURCE_EXHAUSTED.withDescription(x.getMessage());
            case BlobFetchException x -> of(x).withDescription(x.getMessage());
            default -> {
                LOG.log(Level.SEVERE, what + " failed unexpectedly", e); // the stack trace, for the report
                yield Status.INTERNAL.withDescription(what + ": " + e.getMessage()
                        + " (unexpected: please report it, with the plugin's log)").withCause(e);
            }
        };
        return status.asRuntimeException();
    }

    /**
     * The code for an image that could not be downloaded. CSI lets NodePublishVolume return any
     * canonical code (COs must handle all of them); its table names NOT_FOUND, ALREADY_EXISTS and
     * FAILED_PRECONDITION for given conditions, the general table INVALID_ARGUMENT for malformed fields.
     * <ul>
     * <li>Digest mismatch: FAILED_PRECONDITION. The request is well formed; what the server serves
     * now is not what it names, so retrying as is fails until the digest or the server is fixed,
     * which is gRPC's definition of FAILED_PRECONDITION. INVALID_ARGUMENT means wrong whatever the
     * system's state, which a server that changed its content does not fit.</li>
     * <li>404/410: NOT_FOUND, the spec's "volume does not exist" (its source is not there).</li>
     * <li>Network, timeouts, HTTP 5xx/408/429, a response cut short: UNAVAILABLE, retryable (kubelet
     * retries with back-off; a later publish joins or repeats the download).</li>
     * <li>Other HTTP statuses, a redirect to http://, an untrusted certificate: FAILED_PRECONDITION
     * (fixed on the server or with --ca-file, not by retrying).</li>
     * <li>A full disk: RESOURCE_EXHAUSTED.</li>
     * </ul>
     */
    static Status of(BlobFetchException e) {
        return switch (e.failure()) {
            case DIGEST_MISMATCH, REFUSED -> Status.FAILED_PRECONDITION;
            case NOT_FOUND -> Status.NOT_FOUND;
            case TRANSIENT -> Status.UNAVAILABLE;
            case NO_SPACE -> Status.RESOURCE_EXHAUSTED;
        };
    }
}
