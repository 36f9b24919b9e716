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

    @Inject
    io.micrometer.core.instrument.MeterRegistry registry;

    private ContentSharing sharing;
    private ImageMounts mounts;
    private Volumes volumes;

    synchronized Volumes volumes() {
        if (volumes == null) {
            try {
                sharing = ContentSharing.withStore(config.stateDir().resolve("store"), config.storeBudget(),
                        ContentSharing.Options.defaults());
                mounts = new ImageMounts(config.stateDir().resolve("mounts"), sharing, config.unmountGrace());
                volumes = new Volumes(config.imageRoot(), mounts, config.stateDir().resolve("volumes"));
                registerGauges();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot set up the state directory " + config.stateDir(), e);
            }
        }
        return volumes;
    }

    private volatile boolean ready;

    /**
     * Gauges for what the node holds and how sharing goes (operations by method, result and
     * latency come from the gRPC server metrics: grpc_server_processing_duration_seconds).
     */
    private void registerGauges() {
        registry.gauge("csi_erofs_volumes_published", volumes, v -> v.published().size());
        registry.gauge("csi_erofs_image_mounts", mounts, ImageMounts::count);
        registry.gauge("csi_erofs_opens_passthrough", sharing, s -> s.stats().passthroughOpens());
        registry.gauge("csi_erofs_opens_cached", sharing, s -> s.stats().cachedOpens());
        registry.gauge("csi_erofs_shared_bytes", sharing, s -> s.stats().sharedBytes());
        registry.gauge("csi_erofs_store_fallbacks", sharing, s -> s.stats().fallbacks());
        registry.gauge("csi_erofs_page_cache_bytes", sharing, s -> s.stats().pageCacheBytes());
        registry.gauge("csi_erofs_page_cache_hit_ratio", sharing, s -> s.stats().pageCacheHitRatio());
        if (sharing.store() != null) {
            var store = sharing.store();
            registry.gauge("csi_erofs_store_bytes", store, x -> x.stats().sizeBytes());
            registry.gauge("csi_erofs_store_budget_bytes", store, x -> x.stats().budget());
            registry.gauge("csi_erofs_store_files", store, x -> x.stats().files());
            registry.gauge("csi_erofs_store_hits", store, x -> x.stats().hits());
            registry.gauge("csi_erofs_store_misses", store, x -> x.stats().misses());
            registry.gauge("csi_erofs_store_materialized_bytes", store, x -> x.stats().materializedBytes());
            registry.gauge("csi_erofs_store_corrupt_files", store, x -> x.stats().corrupt());
        }
    }

    /** At start: publishes again what the previous process had published; Probe says ready after. */
    void onStart(@jakarta.enterprise.event.Observes io.quarkus.runtime.StartupEvent started) {
        try {
            Volumes.Recovery r = volumes().recover();
            if (!r.republished().isEmpty() || !r.failed().isEmpty()) {
                java.util.logging.Logger.getLogger(NodeState.class.getName()).info("after restart: " + r.republished().size()
                        + " volume(s) published again, " + r.failed().size() + " could not be: " + r.failed());
            }
        } catch (IOException | RuntimeException e) {
            java.util.logging.Logger.getLogger(NodeState.class.getName()).severe("recovering volume state failed: " + e.getMessage());
        }
        ready = true;
    }

    /** Whether the start-up recovery has run. */
    boolean ready() {
        return ready;
    }

    synchronized ImageMounts mounts() {
        volumes();
        return mounts;
    }

    @PreDestroy
    synchronized void close() {
        // the image mounts end with this process (their FUSE connections do); the volume records
        // stay, so the next process publishes the targets again (keeping them readable across the
        // restart itself, by handing the /dev/fuse fds over, is a later step)
        if (mounts != null) {
            mounts.close();
        }
        if (sharing != null) {
            sharing.close();
        }
    }
}
