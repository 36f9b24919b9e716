package dev.csierofs.cli;

import io.quarkus.picocli.runtime.PicocliCommandLineFactory;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import picocli.CommandLine;

import java.io.IOException;

/**
 * Turns every failure into one line on stderr: "csi-driver-erofs: &lt;what went wrong&gt;".
 * A stack trace only appears with CSI_DRIVER_EROFS_DEBUG=1, for bug reports.
 */
@ApplicationScoped
public class CliErrors {
    public static final int EXIT_FAILURE = 1;

    @Produces
    CommandLine commandLine(PicocliCommandLineFactory factory) {
        return factory.create().setExecutionExceptionHandler((ex, cl, parsed) -> {
            cl.getErr().println("csi-driver-erofs: " + describe(ex));
            if ("1".equals(System.getenv("CSI_DRIVER_EROFS_DEBUG"))) {
                ex.printStackTrace(cl.getErr());
            }
            return EXIT_FAILURE;
        });
    }

    static String describe(Throwable ex) {
        if (ex instanceof java.nio.file.NoSuchFileException e) {
            return e.getFile() + ": no such file";
        }
        if (ex instanceof java.nio.file.AccessDeniedException e) {
            return e.getFile() + ": permission denied";
        }
        if (ex instanceof IOException && ex.getMessage() != null) {
            return ex.getMessage();
        }
        return "internal error: " + ex + " (set CSI_DRIVER_EROFS_DEBUG=1 for details and please report it)";
    }
}
