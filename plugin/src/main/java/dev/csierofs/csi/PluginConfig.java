package dev.csierofs.csi;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

import java.nio.file.Path;
import java.util.Optional;

/**
 * The plugin's settings ({@code csi.*}): from the command line (PluginMain turns options into
 * these properties), the environment ({@code CSI_NODE_ID} for {@code csi.node-id}, and so on) or
 * application.properties, in that order of precedence.
 */
@ConfigMapping(prefix = "csi")
public interface PluginConfig {
    /** The CSI driver name, as StorageClasses and CSIDriver objects name it. */
    @WithDefault("erofs.csierofs.dev")
    String driverName();

    /** This node's name as Kubernetes knows it (NodeGetInfo); required. */
    Optional<String> nodeId();

    /** The directory volume attributes name local images in; nothing outside it is served. */
    @WithDefault("/var/lib/csi-driver-erofs/images")
    Path imageRoot();

    /** Disk the content store may use, in bytes (suffixes K, M, G, T accepted on the command line). */
    @WithDefault("10737418240")
    long storeBudget();

    /** Disk the store of downloaded ({@code https://}) images may use, in bytes; blobs in use are kept beyond it. */
    @WithDefault("21474836480")
    long blobBudget();

    /** PEM certificates trusted for {@code https://} sources in addition to the JVM's default certificate authorities. */
    Optional<Path> caFile();

    /** Memory of the daemon's own page cache (files that cannot pass through), in bytes. */
    @WithDefault("268435456")
    long pageCache();

    /** How long an image mount that no volume uses stays mounted. */
    @WithDefault("5m")
    java.time.Duration unmountGrace();

    /**
     * What a publish asking for readonly=false gets: {@code refuse} (INVALID_ARGUMENT), or
     * {@code read-only}: published read-only all the same (csi-sanity cannot ask for read-only).
     */
    @WithDefault("refuse")
    String writableRequests();

    /**
     * The kubelet's root directory: when set, target paths must lie inside it (once resolved), so
     * that no request can mount over, or unpublish, anything else on the node.
     */
    Optional<Path> kubeletDir();

    /** Where volume state, the content store and downloaded layers live. */
    @WithDefault("/var/lib/csi-driver-erofs")
    Path stateDir();
}
