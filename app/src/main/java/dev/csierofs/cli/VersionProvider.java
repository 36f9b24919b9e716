package dev.csierofs.cli;

import org.eclipse.microprofile.config.ConfigProvider;
import picocli.CommandLine.IVersionProvider;

/** Prints the version Quarkus recorded at build time (quarkus.application.version). */
public class VersionProvider implements IVersionProvider {
    @Override
    public String[] getVersion() {
        String v = ConfigProvider.getConfig().getOptionalValue("quarkus.application.version", String.class).orElse("unknown");
        return new String[] {"csi-driver-erofs " + v};
    }
}
