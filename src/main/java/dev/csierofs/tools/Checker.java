package dev.csierofs.tools;

import dev.csierofs.erofs.ContentDigest;
import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Escape;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.TreeWalker;

import java.io.IOException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * Reads everything an image holds, the way fsck.erofs does: every inode, directory, xattr and
 * symlink, every byte of every file, and checks every fingerprint xattr against the SHA-256 of
 * the content. Problems are collected with their path; the walk goes on past them.
 */
public final class Checker {

    public record Problem(String path, String reason) {
    }

    public record Report(long inodes, long bytes, long fingerprints, boolean checksumVerified, List<Problem> problems) {
        public boolean ok() {
            return problems.isEmpty();
        }
    }

    private final ErofsImage image;
    private final List<Problem> problems = new ArrayList<>();
    private final Set<Long> dataChecked = new HashSet<>();
    private final byte[] buf = new byte[1 << 20];
    private final MessageDigest sha;
    private volatile long inodes, bytes, fingerprints; // volatile: read by a progress reporter

    public Checker(ErofsImage image) {
        this.image = image;
        try {
            this.sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** Progress for long checks: inodes and bytes read so far (any thread). */
    public long inodesRead() {
        return inodes;
    }

    public long bytesRead() {
        return bytes;
    }

    public Report check() throws IOException {
        new TreeWalker(image, (path, e) -> problems.add(new Problem(Escape.text(path), e.getMessage()))).walk(this::checkOne);
        return new Report(inodes, bytes, fingerprints, image.superblock().checksumVerified(), List.copyOf(problems));
    }

    private void checkOne(byte[] rawPath, Inode inode) {
        String path = Escape.text(rawPath);
        inodes++;
        try {
            image.xattrs().list(inode);
            if (inode.isSymlink()) {
                image.readlink(inode);
            } else if (inode.isRegular() && dataChecked.add(inode.nid())) {
                checkContent(path, inode);
            }
        } catch (ErofsException e) {
            problems.add(new Problem(path, e.getMessage()));
        }
    }

    private void checkContent(String path, Inode inode) throws ErofsException {
        Optional<ContentDigest> expected = image.contentDigest(inode);
        FileData data = image.openData(inode);
        sha.reset();
        long pos = 0;
        while (pos < inode.size()) {
            if (expected.isEmpty()) {
                pos = data.nextData(pos); // nothing to hash: holes need not be read (a hostile i_size may be 2^62)
                if (pos >= inode.size()) {
                    break;
                }
            }
            int n = data.read(pos, buf, 0, (int) Math.min(buf.length, inode.size() - pos));
            if (n <= 0) {
                throw new ErofsException(inode.label(), pos, "data ends before its size " + inode.size());
            }
            sha.update(buf, 0, n);
            pos += n;
            bytes += n;
        }
        if (expected.isPresent()) {
            fingerprints++;
            ContentDigest actual = new ContentDigest(sha.digest());
            if (!actual.equals(expected.get())) {
                problems.add(new Problem(path, "content " + actual + " does not match its fingerprint xattr " + expected.get()));
            }
        }
    }
}
