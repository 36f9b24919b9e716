package dev.csierofs.sys;

import java.io.IOException;

/** A failed libc call: names the call, its subject (usually a path) and the errno. */
public class SyscallException extends IOException {
    private final String call;
    private final String subject;
    private final int errno;

    public SyscallException(String call, String subject, int errno, String reason) {
        super(call + "(" + subject + "): " + reason + " (errno " + errno + ")");
        this.call = call;
        this.subject = subject;
        this.errno = errno;
    }

    public String call() {
        return call;
    }

    /** What the call was about: a path, "fd N", "fd N, REQUEST"... */
    public String subject() {
        return subject;
    }

    public int errno() {
        return errno;
    }
}
