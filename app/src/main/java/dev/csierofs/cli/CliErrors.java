package dev.csierofs.cli;

import io.quarkus.picocli.runtime.PicocliCommandLineFactory;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.inject.Produces;
import picocli.CommandLine;
import picocli.CommandLine.UnmatchedArgumentException;

import java.io.IOException;

/**
 * Turns every failure into one line on stderr: "csi-driver-erofs: &lt;what went wrong&gt;" (a usage
 * error adds the command's usage line and where its help is).
 * A stack trace only appears with CSI_DRIVER_EROFS_DEBUG=1, for bug reports.
 */
@ApplicationScoped
public class CliErrors {
    public static final int EXIT_FAILURE = 1;
    /** As a process killed by SIGPIPE: the reader of our output went away (`cat ... | head`). */
    static final int EXIT_BROKEN_PIPE = 141;

    @Produces
    CommandLine commandLine(PicocliCommandLineFactory factory) {
        CommandLine top = factory.create();
        HelpLayout.apply(top);
        return top.setExecutionExceptionHandler((ex, cl, parsed) -> {
            if (isBrokenPipe(ex)) {
                return EXIT_BROKEN_PIPE; // nothing to say: whoever read our output stopped reading, as it may
            }
            cl.getErr().println("csi-driver-erofs: " + describe(ex));
            if ("1".equals(System.getenv("CSI_DRIVER_EROFS_DEBUG"))) {
                ex.printStackTrace(cl.getErr());
            }
            return EXIT_FAILURE;
        }).setParameterExceptionHandler((ex, args) -> {
            // what is wrong, the usage line and where the rest is, rather than the whole help
            CommandLine cl = ex.getCommandLine();
            cl.getErr().println("csi-driver-erofs: " + ex.getMessage());
            UnmatchedArgumentException.printSuggestions(ex, cl.getErr());
            cl.getErr().println(HelpLayout.synopsis(cl));
            cl.getErr().println("See '" + cl.getCommandSpec().qualifiedName() + " --help' for more.");
            return cl.getCommandSpec().exitCodeOnInvalidInput();
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
        return "internal error: " + ex + ("1".equals(System.getenv("CSI_DRIVER_EROFS_DEBUG")) ? " (please report it)"
                : " (set CSI_DRIVER_EROFS_DEBUG=1 for details and please report it)");
    }

    private static boolean isBrokenPipe(Throwable ex) {
        for (Throwable t = ex; t != null; t = t.getCause()) {
            if (t instanceof IOException && t.getMessage() != null && t.getMessage().contains("Broken pipe")) {
                return true;
            }
        }
        return false;
    }
}
