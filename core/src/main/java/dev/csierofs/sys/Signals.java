package dev.csierofs.sys;

import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandleProxies;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;

/**
 * Termination signals handled by the program itself instead of the JVM's default, which runs the
 * shutdown hooks and exits with 128 + the signal number (143 after SIGTERM): a daemon that stops
 * cleanly on SIGTERM exits 0, as service managers and kubelet expect.
 *
 * <p>Java has no public signal API; this uses {@code sun.misc.Signal} from module
 * {@code jdk.unsupported}, which the JDK keeps exported until a replacement exists (JEP 260). It
 * is bound at run time because javac warns on every compile-time use of it, with no annotation or
 * option to say the use is deliberate.
 */
public final class Signals {
    private Signals() {
    }

    /**
     * Runs {@code action} on a JVM signal thread each time the signal {@code name} ("TERM",
     * "INT") arrives, in place of the JVM's default. The action should return quickly. Returns
     * false, changing nothing, where the JVM keeps the signal for itself (-Xrs). A signal ignored
     * since the process started (SIGINT in a shell's background job) stays ignored.
     */
    public static boolean handle(String name, Runnable action) {
        try {
            Class<?> signal = Class.forName("sun.misc.Signal");
            Class<?> handler = Class.forName("sun.misc.SignalHandler");
            MethodHandles.Lookup lookup = MethodHandles.publicLookup();
            MethodHandle run = lookup.findVirtual(Runnable.class, "run", MethodType.methodType(void.class)).bindTo(action);
            Object onSignal = MethodHandleProxies.asInterfaceInstance(handler, MethodHandles.dropArguments(run, 0, signal));
            Object which = lookup.findConstructor(signal, MethodType.methodType(void.class, String.class)).invoke(name);
            lookup.findStatic(signal, "handle", MethodType.methodType(handler, signal, handler)).invoke(which, onSignal);
            return true;
        } catch (IllegalArgumentException e) {
            return false; // a signal the JVM keeps for itself (-Xrs) or does not know
        } catch (Throwable e) {
            throw new IllegalStateException("cannot handle SIG" + name + " in this JVM: " + e, e);
        }
    }
}
