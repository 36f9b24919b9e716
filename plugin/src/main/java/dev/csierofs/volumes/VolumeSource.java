package dev.csierofs.volumes;

import dev.csierofs.cas.Digest;
import dev.csierofs.fs.NodeIds;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.InvalidPathException;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;

/**
 * What a volume shows, from its volume context (the pod's volumeAttributes):
 * <ul>
 * <li>{@code image}: one EROFS image, or {@code layers}: several, lowest first, comma-separated;
 * each a path under the node's image root, or an {@code https://} URL;</li>
 * <li>{@code digest} ({@code sha256:...}) for {@code image}, or {@code digests} for
 * {@code layers} (comma-separated, in the same order): required for URLs, checked for local files
 * when given;</li>
 * <li>{@code devices}: the extra devices of a multi-device {@code image}, comma-separated paths
 * under the image root.</li>
 * </ul>
 * Local paths are resolved inside the image root only: {@code ..}, and symlinks leading out of
 * the root, are refused. Keys under {@code csi.storage.k8s.io/} (added by kubelet) are ignored;
 * any other unknown key is refused, so that a misspelt attribute is not silently ignored.
 */
public record VolumeSource(List<Layer> layers) {
    public static final String IMAGE = "image";
    public static final String LAYERS = "layers";
    public static final String DIGEST = "digest";
    public static final String DIGESTS = "digests";
    public static final String DEVICES = "devices";
    private static final Set<String> KNOWN = Set.of(IMAGE, LAYERS, DIGEST, DIGESTS, DEVICES);
    private static final String KUBELET_PREFIX = "csi.storage.k8s.io/";

    /** One layer: a local file (real path inside the image root) or a URL, with its digest if given. */
    public record Layer(Path file, URI url, Optional<Digest> digest, List<Path> devices) {
        public boolean isLocal() {
            return file != null;
        }

        /** The layer as the request named it (for messages and state). */
        public String describe() {
            return isLocal() ? file.toString() : url.toString();
        }
    }

    public VolumeSource {
        layers = List.copyOf(layers);
    }

    public static VolumeSource parse(Map<String, String> context, Path imageRoot) throws InvalidVolumeException {
        for (String key : context.keySet()) {
            if (!KNOWN.contains(key) && !key.startsWith(KUBELET_PREFIX)) {
                throw new InvalidVolumeException("unknown volume attribute '" + key + "' (known: image, layers, digest, digests, devices)");
            }
        }
        boolean single = context.containsKey(IMAGE);
        if (single == context.containsKey(LAYERS)) {
            throw new InvalidVolumeException(single ? "give either 'image' or 'layers', not both"
                    : "volume attribute 'image' (one EROFS image) or 'layers' (several, lowest first) is required");
        }
        if (single && context.containsKey(DIGESTS)) {
            throw new InvalidVolumeException("'digests' goes with 'layers'; for 'image' use 'digest'");
        }
        if (!single && (context.containsKey(DIGEST) || context.containsKey(DEVICES))) {
            throw new InvalidVolumeException("'" + (context.containsKey(DIGEST) ? DIGEST : DEVICES) + "' goes with 'image'; "
                    + "for 'layers' use 'digests'");
        }
        Path root = null; // resolved at the first local path: volumes of URLs only need no image root
        List<String> names = single ? List.of(context.get(IMAGE).trim()) : split(context.get(LAYERS), LAYERS);
        List<String> digests = single ? (context.containsKey(DIGEST) ? List.of(context.get(DIGEST).trim()) : List.of())
                : context.containsKey(DIGESTS) ? split(context.get(DIGESTS), DIGESTS) : List.of();
        if (names.size() > NodeIds.MAX_LAYERS) {
            throw new InvalidVolumeException("'layers' names " + names.size() + " layers; a stack has at most " + NodeIds.MAX_LAYERS
                    + " (flatten some of them into one image)");
        }
        if (!digests.isEmpty() && digests.size() != names.size()) {
            throw new InvalidVolumeException("'digests' has " + digests.size() + " entries for " + names.size() + " layers");
        }
        String attr = single ? IMAGE : LAYERS;
        List<Layer> out = new ArrayList<>();
        for (int i = 0; i < names.size(); i++) {
            Optional<Digest> d = Optional.empty();
            if (!digests.isEmpty()) {
                d = Optional.of(digest(digests.get(i), single ? DIGEST : DIGESTS));
            }
            String name = names.get(i);
            if (name.startsWith("https://")) {
                URI url;
                try {
                    url = new URI(name);
                } catch (URISyntaxException e) {
                    throw new InvalidVolumeException("'" + attr + "': " + name + " is not a valid URL: " + e.getReason());
                }
                if (url.getHost() == null) {
                    throw new InvalidVolumeException("'" + attr + "': " + name + " has no host");
                }
                if (d.isEmpty()) {
                    throw new InvalidVolumeException("'" + attr + "': " + name + " is a URL, so its digest is required ('"
                            + (single ? DIGEST : DIGESTS) + "')");
                }
                out.add(new Layer(null, url, d, List.of()));
            } else if (name.contains("://")) {
                throw new InvalidVolumeException("'" + attr + "': " + name + ": only https:// URLs and paths under the image root are accepted");
            } else {
                if (root == null) {
                    root = realRoot(imageRoot);
                }
                List<Path> devices = List.of();
                if (single && context.containsKey(DEVICES)) {
                    devices = new ArrayList<>();
                    for (String dev : split(context.get(DEVICES), DEVICES)) {
                        devices.add(inside(root, dev, DEVICES));
                    }
                }
                out.add(new Layer(inside(root, name, attr), null, d, devices));
            }
        }
        return new VolumeSource(out);
    }

    private static Path realRoot(Path imageRoot) throws InvalidVolumeException {
        try {
            return imageRoot.toRealPath();
        } catch (IOException e) {
            throw new InvalidVolumeException("the node's image root " + imageRoot + " does not exist (plugin option --image-root)");
        }
    }

    private static List<String> split(String value, String attr) throws InvalidVolumeException {
        List<String> parts = new ArrayList<>();
        // -1: trailing empty entries count too, so "a," is refused and "," is not a volume of no layers
        for (String p : value.split(",", -1)) {
            if (p.isBlank()) {
                throw new InvalidVolumeException("'" + attr + "' has an empty entry: '" + value + "'");
            }
            parts.add(p.trim());
        }
        return parts;
    }

    private static Digest digest(String value, String attr) throws InvalidVolumeException {
        if (!value.startsWith("sha256:")) {
            throw new InvalidVolumeException("'" + attr + "': " + value + " is not a digest (sha256:<64 hex digits>)");
        }
        try {
            return Digest.parse(value);
        } catch (IllegalArgumentException e) {
            throw new InvalidVolumeException("'" + attr + "': " + value + " is not a digest (sha256:<64 hex digits>)");
        }
    }

    /**
     * A path named relative to the image root (a leading / also means the root), which after
     * resolving symlinks must still lie inside it and be a regular file.
     */
    static Path inside(Path root, String name, String attr) throws InvalidVolumeException {
        String rel = name.startsWith("/") ? name.substring(1) : name;
        if (rel.isEmpty()) {
            throw new InvalidVolumeException("'" + attr + "' is empty");
        }
        Path p;
        try {
            p = Path.of(rel);
        } catch (InvalidPathException e) {
            throw new InvalidVolumeException("'" + attr + "': " + name + " is not a valid path");
        }
        for (Path part : p) {
            if (part.toString().equals("..")) {
                throw new InvalidVolumeException("'" + attr + "': " + name + " contains '..'; paths are relative to the image root");
            }
        }
        Path real;
        try {
            real = root.resolve(p).toRealPath();
        } catch (NoSuchFileException e) {
            throw new InvalidVolumeException("'" + attr + "': " + name + " does not exist under the image root " + root);
        } catch (IOException e) {
            throw new InvalidVolumeException("'" + attr + "': " + name + ": " + e.getMessage());
        }
        if (!real.startsWith(root)) {
            throw new InvalidVolumeException("'" + attr + "': " + name + " leads out of the image root (through a symlink)");
        }
        if (!Files.isRegularFile(real)) {
            throw new InvalidVolumeException("'" + attr + "': " + name + " is not a regular file");
        }
        return real;
    }
}
