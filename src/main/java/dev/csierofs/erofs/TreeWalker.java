package dev.csierofs.erofs;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Depth-first walk of an image's tree, parents before children, entries in on-disk (sorted)
 * order. A directory reached twice (a cycle or a hard-linked directory in a hostile image) is
 * an error, so a walk always ends.
 */
public final class TreeWalker {

    /** What a walk reports for each path. {@code path} is "/" for the root, else "/a/b". */
    @FunctionalInterface
    public interface Visitor {
        void visit(byte[] path, Inode inode) throws java.io.IOException;
    }

    /** Told about a path that could not be read; the walk then skips it (and its subtree). */
    @FunctionalInterface
    public interface ErrorHandler {
        void onError(byte[] path, ErofsException e) throws ErofsException;
    }

    private final ErofsImage image;
    private final ErrorHandler errors;
    private final Set<Long> seenDirs = new HashSet<>();

    /** A walk that stops at the first error. */
    public TreeWalker(ErofsImage image) {
        this(image, (path, e) -> {
            throw e;
        });
    }

    /** A walk that reports errors to {@code errors} and goes on with the rest of the tree. */
    public TreeWalker(ErofsImage image, ErrorHandler errors) {
        this.image = image;
        this.errors = errors;
    }

    /** Walks the subtree at {@code start} (whose path is {@code startPath}). */
    public void walk(byte[] startPath, Inode start, Visitor visitor) throws java.io.IOException {
        visitor.visit(startPath, start);
        if (start.isDirectory()) {
            walkDir(startPath, start, visitor);
        }
    }

    public void walk(Visitor visitor) throws java.io.IOException {
        walk(new byte[] {'/'}, image.root(), visitor);
    }

    private void walkDir(byte[] path, Inode dir, Visitor visitor) throws java.io.IOException {
        if (!seenDirs.add(dir.nid())) {
            errors.onError(path, new ErofsException(dir.label(), dir.iloc(), "directory reached twice (cycle in the tree)"));
            return;
        }
        List<Dirent> children = new ArrayList<>();
        try {
            image.directory(dir).readdir(0, d -> {
                if (!d.isDot() && !d.isDotDot()) {
                    children.add(d);
                }
                return true;
            });
        } catch (ErofsException e) {
            errors.onError(path, e); // entries read before the error are still walked
        }
        for (Dirent d : children) {
            byte[] child = join(path, d.name());
            Inode inode;
            try {
                inode = image.inode(d.nid());
            } catch (ErofsException e) {
                errors.onError(child, e);
                continue;
            }
            visitor.visit(child, inode);
            if (inode.isDirectory()) {
                walkDir(child, inode, visitor);
            }
        }
    }

    public static byte[] join(byte[] parent, byte[] name) {
        boolean root = parent.length == 1 && parent[0] == '/';
        byte[] r = Arrays.copyOf(parent, parent.length + (root ? 0 : 1) + name.length);
        if (!root) {
            r[parent.length] = '/';
        }
        System.arraycopy(name, 0, r, r.length - name.length, name.length);
        return r;
    }
}
