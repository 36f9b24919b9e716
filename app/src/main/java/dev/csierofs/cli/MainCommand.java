package dev.csierofs.cli;

import io.quarkus.picocli.runtime.annotations.TopCommand;
import picocli.CommandLine.Command;

@TopCommand
@Command(name = "csi-driver-erofs", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "EROFS images for Kubernetes: read, check, extract and mount them with our own userspace reader.",
        footer = {"", "  serve      the CSI node plugin (a separate application: csi-driver-erofs serve --help)"},
        subcommands = {InspectCommand.class, LsCommand.class, CatCommand.class, ExtractCommand.class, FsckCommand.class,
            MountCommand.class, UmountCommand.class})
public class MainCommand {
}
