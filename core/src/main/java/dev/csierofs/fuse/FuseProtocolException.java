package dev.csierofs.fuse;

import java.io.IOException;
import java.util.Optional;

/**
 * A message that breaks the FUSE protocol: a request whose length fields disagree, whose body is
 * truncated, or whose name lacks its NUL, or an INIT this code cannot speak. The message names
 * the opcode and the field. When the request header itself was readable, {@link #header()}
 * gives it, so the daemon can still answer that request (EIO) instead of leaving it pending.
 */
public class FuseProtocolException extends IOException {

    private final InHeader header;
    private final int opcode;
    private final String field;

    /** A problem in the request whose header is {@code header}; {@code field} names the struct field. */
    public FuseProtocolException(InHeader header, String field, String problem) {
        this(header, header.opcode(), field, problem);
    }

    /** A problem before the header could be trusted; {@code opcode} is -1 when not even it was read. */
    public FuseProtocolException(int opcode, String field, String problem) {
        this(null, opcode, field, problem);
    }

    private FuseProtocolException(InHeader header, int opcode, String field, String problem) {
        super((opcode == -1 ? "request" : Opcode.name(opcode))
                + (header != null ? " (unique " + Long.toUnsignedString(header.unique()) + ")" : "")
                + ": " + field + ": " + problem);
        this.header = header;
        this.opcode = opcode;
        this.field = field;
    }

    /** The header of the offending request, when it was valid. */
    public Optional<InHeader> header() {
        return Optional.ofNullable(header);
    }

    /** The raw opcode, or -1 when the message was too short to have one. */
    public int opcode() {
        return opcode;
    }

    /** The struct field (or "name") that was rejected, for example {@code "fuse_in_header.len"}. */
    public String field() {
        return field;
    }
}
