package dev.csierofs.csi;

import dev.csierofs.fs.ContentSharing;
import dev.csierofs.mounts.ImageMounts;
import dev.csierofs.volumes.Volumes;
import jakarta.annotation.PreDestroy;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.inject.Inject;

import java.io.IOException;
import java.io.UncheckedIOException;

/**
 * The node's content sharing, image mounts and published volumes, wired from the configuration
 * (the only place that knows both Quarkus and the core). Made at the first volume call.
 */
@ApplicationScoped
public class NodeState {
    @Inject
    PluginConfig config;

    private ContentSharing sharing;
    private ImageMounts mounts;
    private Volumes volumes;

    synchronized Volumes volumes() {
        if (volumes == null) {
            try {
                sharing = ContentSharing.withStore(config.stateDir().resolve("store"), 10L << 30, ContentSharing.Options.defaults());
                mounts = new ImageMounts(config.stateDir().resolve("mounts"), sharing);
                volumes = new Volumes(config.imageRoot(), mounts);
            } catch (IOException e) {
                throw new UncheckedIOException("cannot set up the state directory " + config.stateDir(), e);
            }
        }
        return volumes;
    }

    synchronized ImageMounts mounts() {
        volumes();
        return mounts;
    }

    @PreDestroy
    synchronized void close() {
        // published targets stay mounted only while this process serves them; unmounting the images
        // ends their FUSE connections (keeping volumes readable across restarts is a later step)
        if (mounts != null) {
            mounts.close();
        }
        if (sharing != null) {
            sharing.close();
        }
    }
}
