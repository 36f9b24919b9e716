package dev.csierofs.erofs;

import java.io.IOException;

/**
 * A problem with an image: corrupt or unsupported on-disk data, or an I/O failure underneath.
 * The message always names the structure and, where one applies, its byte offset, so that a
 * user (or a fuzz test) can tell exactly what was rejected.
 */
public class ErofsException extends IOException {

    private final String structure;
    private final long offset;
    private final String problem;

    public ErofsException(String structure, long offset, String problem) {
        super(structure + (offset >= 0 ? " at offset " + offset : "") + ": " + problem);
        this.structure = structure;
        this.offset = offset;
        this.problem = problem;
    }

    public ErofsException(String structure, long offset, String problem, Throwable cause) {
        this(structure, offset, problem);
        initCause(cause);
    }

    /** The on-disk structure that was being read, for example "inode 1234" or "superblock". */
    public String structure() {
        return structure;
    }

    /** The same error, prefixed with the path in the image whose reading hit it. */
    public ErofsException at(String path) {
        ErofsException e = new ErofsException(path + ": " + structure, offset, problem);
        e.initCause(this);
        return e;
    }

    /** Byte offset of the structure in its address space, or -1 when none applies. */
    public long offset() {
        return offset;
    }
}
