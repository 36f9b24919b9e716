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
        void visit(byte[] path, Inode inode) throws ErofsException;
    }

    private final ErofsImage image;
    private final Set<Long> seenDirs = new HashSet<>();

    public TreeWalker(ErofsImage image) {
        this.image = image;
    }

    /** Walks the subtree at {@code start} (whose path is {@code startPath}). */
    public void walk(byte[] startPath, Inode start, Visitor visitor) throws ErofsException {
        visitor.visit(startPath, start);
        if (start.isDirectory()) {
            walkDir(startPath, start, visitor);
        }
    }

    public void walk(Visitor visitor) throws ErofsException {
        walk(new byte[] {'/'}, image.root(), visitor);
    }

    private void walkDir(byte[] path, Inode dir, Visitor visitor) throws ErofsException {
        if (!seenDirs.add(dir.nid())) {
            throw new ErofsException(dir.label(), dir.iloc(), "directory reached twice (cycle in the tree) at " + Escape.text(path));
        }
        List<Dirent> children = new ArrayList<>();
        image.directory(dir).readdir(0, d -> {
            if (!d.isDot() && !d.isDotDot()) {
                children.add(d);
            }
            return true;
        });
        for (Dirent d : children) {
            byte[] child = join(path, d.name());
            Inode inode = image.inode(d.nid());
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
