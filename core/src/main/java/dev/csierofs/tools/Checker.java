package dev.csierofs.tools;

import dev.csierofs.erofs.ContentDigest;
import dev.csierofs.erofs.Directory;
import dev.csierofs.erofs.Dirent;
import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Escape;
import dev.csierofs.erofs.FileData;
import dev.csierofs.erofs.Inode;
import dev.csierofs.erofs.TreeWalker;
import dev.csierofs.erofs.Xattr;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

/**
 * Reads everything an image holds, the way fsck.erofs does: every inode, directory, xattr and
 * symlink, every byte of every file, and checks every fingerprint xattr against the SHA-256 of
 * the content. Problems are collected with their path; the walk goes on past them. One thread
 * walks the metadata; file contents are read and hashed by a pool, one thread per core.
 */
public final class Checker {

    public record Problem(String path, String reason) {
    }

    /** {@code problems} are sorted by path, so reports of the same image are identical. */
    public record Report(long inodes, long bytes, long fingerprints, boolean checksumVerified, List<Problem> problems) {
        public boolean ok() {
            return problems.isEmpty();
        }
    }

    /** Per-thread scratch: a read buffer and a SHA-256 instance. */
    private static final class Scratch {
        final byte[] buf = new byte[1 << 20];
        final MessageDigest sha;

        Scratch() {
            try {
                sha = MessageDigest.getInstance("SHA-256");
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException("the JDK has no SHA-256", e);
            }
        }
    }

    private static final Set<String> BARE_PREFIXES = Set.of("user.", "trusted.", "security.");

    private final ErofsImage image;
    private final int threads;
    private final List<Problem> problems = new ArrayList<>();
    private final Set<Long> dataChecked = new HashSet<>();
    /** Every further path of a hard-linked file, by nid: a file the kernel cannot read fails under each of its names. */
    private final Map<Long, List<String>> otherNames = new HashMap<>();
    /** Files whose content failed, by nid, with the reason. */
    private final Map<Long, String> contentFailed = new ConcurrentHashMap<>();
    private final Set<Long> linked = new HashSet<>();
    private final ThreadLocal<Scratch> scratch = ThreadLocal.withInitial(Scratch::new);
    private final AtomicLong bytes = new AtomicLong();
    private final AtomicLong fingerprints = new AtomicLong();
    private volatile long inodes; // volatile: read by a progress reporter
    private Workers workers;

    public Checker(ErofsImage image) {
        this(image, Math.max(2, Runtime.getRuntime().availableProcessors()));
    }

    public Checker(ErofsImage image, int threads) {
        this.image = image;
        this.threads = threads;
    }

    /** Progress for long checks: inodes and bytes read so far (any thread). */
    public long inodesRead() {
        return inodes;
    }

    public long bytesRead() {
        return bytes.get();
    }

    public Report check() throws IOException {
        try (Workers w = new Workers(threads, "fsck-reader")) {
            workers = w;
            new TreeWalker(image, (path, e) -> problem(Escape.text(path), e.getMessage())).walk(this::checkOne);
            w.await();
        }
        contentFailed.forEach((nid, reason) -> otherNames.getOrDefault(nid, List.of()).forEach(p -> problem(p, reason)));
        List<Problem> sorted;
        synchronized (problems) {
            sorted = new ArrayList<>(problems);
        }
        sorted.sort(Comparator.comparing(Problem::path));
        return new Report(inodes, bytes.get(), fingerprints.get(), image.superblock().checksumVerified(), List.copyOf(sorted));
    }

    private void problem(String path, String reason) {
        Problem p = new Problem(path, reason);
        synchronized (problems) {
            if (!problems.contains(p)) { // a directory that fails to list is found by the walk and by the lookup check
                problems.add(p);
            }
        }
    }

    private void checkOne(byte[] rawPath, Inode inode) throws IOException {
        String path = Escape.text(rawPath);
        if (inode.isDirectory() || inode.nlink() <= 1 || linked.add(inode.nid())) {
            inodes++; // an inode with several names (hard links) counts once, as inspect and the kernel's inode numbers do
        }
        try {
            for (Xattr x : image.xattrs().list(inode)) {
                // what listxattr shows, getxattr must find: a damaged name or name filter hides it
                String name = x.nameString();
                if (BARE_PREFIXES.contains(name)) {
                    problem(path, "xattr " + name + " has no name after its namespace prefix (getxattr refuses it)");
                } else if (Arrays.equals(name.getBytes(StandardCharsets.UTF_8), x.name()) && image.xattrs().get(inode, name).isEmpty()) {
                    problem(path, "xattr " + Escape.text(x.name()) + " is listed but cannot be read (damaged name or xattr name filter)");
                }
            }
            if (inode.isSymlink()) {
                image.readlink(inode);
            } else if (inode.isRegular() && dataChecked.add(inode.nid())) {
                workers.submit(() -> {
                    try {
                        checkContent(path, inode);
                    } catch (ErofsException e) {
                        contentFailed.put(inode.nid(), e.getMessage());
                        problem(path, e.getMessage());
                    }
                });
            } else if (inode.isRegular()) {
                otherNames.computeIfAbsent(inode.nid(), k -> new ArrayList<>()).add(path);
            } else if (inode.isDirectory()) {
                checkLookups(rawPath, inode);
            }
        } catch (ErofsException e) {
            problem(path, e.getMessage());
        }
    }

    /**
     * Every name the directory lists must be found by a lookup, as the kernel looks names up
     * (a binary search): entries out of order are listed but cannot be opened.
     */
    private void checkLookups(byte[] dirPath, Inode dir) throws ErofsException {
        Directory d = image.directory(dir);
        List<Dirent> entries = new ArrayList<>();
        d.readdir(0, e -> {
            if (!e.isDot() && !e.isDotDot()) {
                entries.add(e);
            }
            return true;
        });
        for (Dirent e : entries) {
            Optional<Dirent> found = d.lookup(e.name());
            if (found.isEmpty() || found.get().nid() != e.nid()) {
                String base = Escape.text(dirPath);
                problem((base.equals("/") ? "" : base) + "/" + Escape.text(e.name()),
                        "listed in its directory but not found by a lookup (directory entries out of order)");
            }
        }
    }

    private void checkContent(String path, Inode inode) throws ErofsException {
        Scratch s = scratch.get();
        Optional<ContentDigest> expected = image.contentDigest(inode);
        FileData data = image.openData(inode);
        s.sha.reset();
        long pos = 0;
        while (pos < inode.size()) {
            if (expected.isEmpty()) {
                pos = data.nextData(pos); // nothing to hash: holes need not be read (a hostile i_size may be 2^62)
                if (pos >= inode.size()) {
                    break;
                }
            }
            int n = data.read(pos, s.buf, 0, (int) Math.min(s.buf.length, inode.size() - pos));
            if (n <= 0) {
                throw new ErofsException(inode.label(), pos, "data ends before its size " + inode.size());
            }
            s.sha.update(s.buf, 0, n);
            pos += n;
            bytes.addAndGet(n);
        }
        if (expected.isPresent()) {
            fingerprints.incrementAndGet();
            ContentDigest actual = new ContentDigest(s.sha.digest());
            if (!actual.equals(expected.get())) {
                problem(path, "content " + actual + " does not match its fingerprint xattr " + expected.get());
            }
        }
    }
}
