package dev.csierofs.erofs;

import java.util.ArrayDeque;
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

    /** Longest path a walk goes into: PATH_MAX less its NUL, as fsck.erofs; deeper paths are reported and skipped. */
    public static final int MAX_PATH = 4095;

    /** A directory being walked: its entries and the next one to visit. */
    private static final class Frame {
        final byte[] path;
        final Inode dir;
        final List<Dirent> children;
        int next;

        Frame(byte[] path, Inode dir, List<Dirent> children) {
            this.path = path;
            this.dir = dir;
            this.children = children;
        }
    }

    // An explicit stack, not recursion: a hostile image can nest directories deeper than any thread stack.
    private void walkDir(byte[] path, Inode dir, Visitor visitor) throws java.io.IOException {
        ArrayDeque<Frame> stack = new ArrayDeque<>();
        Frame top = enter(path, dir);
        if (top != null) {
            stack.push(top);
        }
        while (!stack.isEmpty()) {
            Frame f = stack.peek();
            if (f.next == f.children.size()) {
                stack.pop();
                continue;
            }
            Dirent d = f.children.get(f.next++);
            byte[] child = join(f.path, d.name());
            if (child.length > MAX_PATH) {
                errors.onError(child, new ErofsException(f.dir.label(), f.dir.iloc(),
                        "path of " + child.length + " bytes exceeds PATH_MAX (" + (MAX_PATH + 1) + ")"));
                continue;
            }
            Inode inode;
            try {
                inode = image.inode(d.nid());
            } catch (ErofsException e) {
                errors.onError(child, e);
                continue;
            }
            visitor.visit(child, inode);
            if (inode.isDirectory()) {
                Frame c = enter(child, inode);
                if (c != null) {
                    stack.push(c);
                }
            }
        }
    }

    /** Lists a directory to walk, or returns null when it was reached before (reported as an error). */
    private Frame enter(byte[] path, Inode dir) throws ErofsException {
        if (!seenDirs.add(dir.nid())) {
            errors.onError(path, new ErofsException(dir.label(), dir.iloc(), "directory reached twice (cycle in the tree)"));
            return null;
        }
        List<Dirent> children = new ArrayList<>();
        try {
            image.directory(dir).children(children, (d, e) -> errors.onError(path, e));
        } catch (ErofsException e) {
            errors.onError(path, e); // entries read before the error are still walked
        }
        return new Frame(path, dir, children);
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
