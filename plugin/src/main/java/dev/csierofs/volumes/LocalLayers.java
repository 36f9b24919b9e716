package dev.csierofs.volumes;

import dev.csierofs.blobs.BlobStore;

import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * A volume's layers as local files: each {@code https://} layer replaced by its downloaded and
 * verified blob (file = the blob; the URL and digest kept, which tells the image mounts that the
 * blob store has checked it, and names its content for sharing by digest), local layers as they are. Holds
 * those blobs, so that none is evicted, until closed.
 */
public final class LocalLayers implements AutoCloseable {
    private final List<VolumeSource.Layer> layers;
    private final List<BlobStore.Blob> held;

    private LocalLayers(List<VolumeSource.Layer> layers, List<BlobStore.Blob> held) {
        this.layers = List.copyOf(layers);
        this.held = List.copyOf(held);
    }

    /**
     * Fetches every URL layer of {@code layers} (in order; downloads a blob store does not have
     * yet). On failure the blobs already taken are let go again, and the failure is thrown.
     */
    public static LocalLayers resolve(List<VolumeSource.Layer> layers, BlobStore blobs) throws IOException {
        List<VolumeSource.Layer> local = new ArrayList<>();
        List<BlobStore.Blob> held = new ArrayList<>();
        try {
            for (VolumeSource.Layer layer : layers) {
                if (layer.isLocal()) {
                    local.add(layer);
                    continue;
                }
                // VolumeSource requires a digest with every URL
                BlobStore.Blob blob = blobs.fetch(layer.url(), layer.digest().orElseThrow());
                held.add(blob);
                local.add(new VolumeSource.Layer(blob.path(), layer.url(), Optional.of(blob.digest()), List.of()));
            }
        } catch (IOException | RuntimeException e) {
            held.forEach(BlobStore.Blob::release);
            throw e;
        }
        return new LocalLayers(local, held);
    }

    /** The layers, lowest first, every one a local file. */
    public List<VolumeSource.Layer> layers() {
        return layers;
    }

    /** Lets the blobs go (idempotent). */
    @Override
    public void close() {
        held.forEach(BlobStore.Blob::release);
    }
}
