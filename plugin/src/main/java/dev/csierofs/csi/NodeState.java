package dev.csierofs.csi;

import dev.csierofs.blobs.BlobStore;
import dev.csierofs.blobs.HttpsFetcher;
import dev.csierofs.fs.ContentSharing;
import dev.csierofs.mounts.ImageMounts;
import dev.csierofs.volumes.TargetPaths;
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
    private BlobStore blobs;
    private Volumes volumes;

    synchronized Volumes volumes() {
        if (volumes == null) {
            javax.net.ssl.SSLContext trust;
            try {
                trust = HttpsFetcher.trusting(config.caFile()); // first: a bad CA file leaves nothing half made
            } catch (IOException e) {
                throw new UncheckedIOException(e.getMessage(), e);
            }
            try {
                // the store holds every image's files whatever their mode, the records hold volume attributes:
                // owner-only, also what an older version left with the default umask
                dev.csierofs.cas.OwnerOnly.tightenTree(config.stateDir());
                dev.csierofs.cas.OwnerOnly.directory(config.stateDir());
                sharing = ContentSharing.withStore(config.stateDir().resolve("store"), config.storeBudget(),
                        new ContentSharing.Options(true, ContentSharing.Options.DEFAULT_SYNC_LIMIT, config.pageCache()));
                mounts = new ImageMounts(config.stateDir().resolve("mounts"), sharing, config.unmountGrace());
                blobs = BlobStore.open(config.stateDir().resolve("blobs"), config.blobBudget(), new HttpsFetcher(trust,
                        HttpsFetcher.CONNECT_TIMEOUT, HttpsFetcher.STALL_TIMEOUT));
                volumes = new Volumes(config.imageRoot(), mounts, blobs, config.stateDir().resolve("volumes"),
                        new TargetPaths(config.kubeletDir()));
                if (sharing.store() != null) {
                    var store = sharing.store();
                    volumes.onDiskFull(store::freeDisk);
                }
                registerGauges();
            } catch (IOException e) {
                throw new UncheckedIOException("cannot set up the state directory " + config.stateDir(), e);
            }
        }
        return volumes;
    }

    private volatile boolean ready;
    private volatile String problem;

    /**
     * Gauges for what the node holds and how sharing goes (operations by method, result and
     * latency come from the gRPC server metrics: grpc_server_processing_duration_seconds).
     */
    private void registerGauges() {
        gauge("csi_erofs_volumes_published", volumes, v -> v.published().size());
        meters.add(io.micrometer.core.instrument.Gauge.builder("csi_erofs_volumes_unrecovered", volumes, v -> v.unrecovered().size())
                .description("recorded volumes a restart could not publish again (retried; NodeGetVolumeStats says why)")
                .register(registry));
        gauge("csi_erofs_image_mounts", mounts, ImageMounts::count);
        gauge("csi_erofs_opens_passthrough", sharing, s -> s.stats().passthroughOpens());
        gauge("csi_erofs_opens_cached", sharing, s -> s.stats().cachedOpens());
        gauge("csi_erofs_shared_bytes", sharing, s -> s.stats().sharedBytes());
        gauge("csi_erofs_store_fallbacks", sharing, s -> s.stats().fallbacks());
        gauge("csi_erofs_page_cache_bytes", sharing, s -> s.stats().pageCacheBytes());
        gauge("csi_erofs_page_cache_hit_ratio", sharing, s -> s.stats().pageCacheHitRatio());
        gauge("csi_erofs_page_cache_max_bytes", sharing, s -> s.stats().pageCacheMax());
        gauge("csi_erofs_blob_bytes", blobs, b -> b.stats().bytes());
        gauge("csi_erofs_blob_budget_bytes", blobs, b -> b.stats().budget());
        gauge("csi_erofs_blobs", blobs, b -> b.stats().blobs());
        gauge("csi_erofs_blobs_held", blobs, b -> b.stats().held());
        meters.add(io.micrometer.core.instrument.FunctionCounter.builder("csi_erofs_blob_downloads", blobs, b -> b.stats().downloads())
                .description("downloads of https:// images completed and verified").register(registry));
        meters.add(io.micrometer.core.instrument.FunctionCounter.builder("csi_erofs_blob_download_failures", blobs,
                b -> b.stats().downloadFailures()).description("downloads that failed (network, HTTP status, digest mismatch)")
                .register(registry));
        meters.add(io.micrometer.core.instrument.FunctionCounter.builder("csi_erofs_blob_downloaded_bytes", blobs,
                b -> b.stats().downloadedBytes()).register(registry));
        if (sharing.store() != null) {
            var store = sharing.store();
            gauge("csi_erofs_store_bytes", store, x -> x.stats().sizeBytes());
            gauge("csi_erofs_store_budget_bytes", store, x -> x.stats().budget());
            gauge("csi_erofs_store_files", store, x -> x.stats().files());
            gauge("csi_erofs_store_hits", store, x -> x.stats().hits());
            gauge("csi_erofs_store_misses", store, x -> x.stats().misses());
            gauge("csi_erofs_store_materialized_bytes", store, x -> x.stats().materializedBytes());
            gauge("csi_erofs_store_corrupt_files", store, x -> x.stats().corrupt());
            gauge("csi_erofs_store_repaired_files", store, x -> x.stats().repaired());
            gauge("csi_erofs_store_full", store, x -> x.stats().full());
            gauge("csi_erofs_store_verity", store, x -> x.verity() ? 1 : 0);
        }
    }

    /** Meters this bean registered: removed at its end, so that a later application in the same JVM (tests) registers its own. */
    private final java.util.List<io.micrometer.core.instrument.Meter> meters = new java.util.ArrayList<>();

    private <T> void gauge(String name, T source, java.util.function.ToDoubleFunction<T> value) {
        meters.add(io.micrometer.core.instrument.Gauge.builder(name, source, value).register(registry));
    }

    /**
     * At start: checks that FUSE can be used at all, then publishes again what the previous
     * process had published; Probe says ready after. Without /dev/fuse the plugin never says
     * ready (so the liveness sidecar restarts it, with this reason in its log).
     */
    void onStart(@jakarta.enterprise.event.Observes io.quarkus.runtime.StartupEvent started) {
        var log = java.util.logging.Logger.getLogger(NodeState.class.getName());
        log.info("node " + config.nodeId().orElse("?") + ", driver " + config.driverName() + ": state in " + config.stateDir()
                + ", images under " + config.imageRoot() + (java.nio.file.Files.isDirectory(config.imageRoot()) ? ""
                        : " (which does not exist: local images cannot be served until it does)")
                + "; content store budget " + Units.size(config.storeBudget()) + ", page cache " + Units.size(config.pageCache())
                + ", downloaded images " + Units.size(config.blobBudget()) + ", unused image mounts kept "
                + Units.duration(config.unmountGrace()) + ", publishes with readonly=false: " + config.writableRequests()
                + ", targets " + config.kubeletDir().map(d -> "only under " + d + " (--kubelet-dir)").orElse("anywhere (no --kubelet-dir)"));
        try (var fuse = dev.csierofs.sys.FuseDevice.open()) {
            problem = null;
        } catch (dev.csierofs.sys.SyscallException | RuntimeException e) {
            problem = "cannot open " + dev.csierofs.sys.FuseDevice.PATH + " (" + e.getMessage() + "): the plugin needs the host's "
                    + "/dev/fuse in its container (the chart mounts it) and the fuse module loaded on the node (modprobe fuse)";
            java.util.logging.Logger.getLogger(NodeState.class.getName()).severe(problem + "; not ready");
            return;
        }
        try {
            Volumes.Recovery r = volumes().recover();
            if (!r.republished().isEmpty() || !r.failed().isEmpty()) {
                java.util.logging.Logger.getLogger(NodeState.class.getName()).info("after restart: " + r.republished().size()
                        + " volume(s) published again, " + r.failed().size() + " could not be: " + r.failed());
            }
        } catch (IOException | RuntimeException e) {
            java.util.logging.Logger.getLogger(NodeState.class.getName()).severe("recovering volume state failed: " + e.getMessage());
        }
        retries.scheduleWithFixedDelay(this::retryUnrecovered, Volumes.RETRY_SECONDS, Volumes.RETRY_SECONDS,
                java.util.concurrent.TimeUnit.SECONDS);
        ready = true;
    }

    /** Publishes again, in the background, what the start-up recovery could not. */
    private final java.util.concurrent.ScheduledExecutorService retries = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(
            r -> Thread.ofPlatform().daemon().name("recovery-retry").unstarted(r));

    private void retryUnrecovered() {
        try {
            if (!volumes().unrecovered().isEmpty()) {
                volumes().retryUnrecovered();
            }
        } catch (RuntimeException e) {
            java.util.logging.Logger.getLogger(NodeState.class.getName()).warning("retrying recovery: " + e.getMessage());
        }
    }

    /** Whether the start-up recovery has run. */
    boolean ready() {
        return ready;
    }

    /** Why the plugin cannot serve at all (no /dev/fuse), or null. */
    String problem() {
        return problem;
    }

    synchronized ImageMounts mounts() {
        volumes();
        return mounts;
    }

    synchronized BlobStore blobs() {
        volumes();
        return blobs;
    }

    @PreDestroy
    synchronized void close() {
        retries.shutdownNow();
        // the image mounts end with this process (their FUSE connections do); the volume records
        // stay, so the next process publishes the targets again (keeping them readable across the
        // restart itself, by handing the /dev/fuse fds over, is a later step)
        if (mounts != null) {
            mounts.close();
        }
        if (sharing != null) {
            sharing.close();
        }
        if (blobs != null) {
            blobs.close();
        }
        meters.forEach(registry::remove);
        meters.clear();
    }
}
