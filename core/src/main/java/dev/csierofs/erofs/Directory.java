package dev.csierofs.erofs;

import java.nio.charset.StandardCharsets;
import java.util.Arrays;
import java.util.HashSet;
import java.util.List;
import java.util.Optional;
import java.util.Set;

/**
 * A directory's data: blocks of sorted dirents followed by their names. Lookup is a binary
 * search over blocks (by each block's first name), then within the block; readdir walks the
 * blocks from a cookie (see {@link Dirent#nextCookie()}).
 */
public final class Directory {
    /** Cookie that resumes right after the synthesized "." of a dot-omitted directory. */
    private static final long AFTER_SYNTHETIC_DOT = 1;

    /** Receives entries; returns false to stop (for example when a reply buffer is full). */
    @FunctionalInterface
    public interface Visitor {
        boolean accept(Dirent d) throws ErofsException;
    }

    private final Inode dir;
    private final FileData data;
    private final int blksz;
    private final long blocks;

    Directory(ErofsImage image, Inode dir) throws ErofsException {
        if (!dir.isDirectory()) {
            throw new ErofsException(dir.label(), dir.iloc(), "not a directory");
        }
        this.dir = dir;
        this.data = image.openData(dir);
        this.blksz = image.blockSize();
        this.blocks = dir.size() / blksz + (dir.size() % blksz != 0 ? 1 : 0); // no overflow for i_size near 2^63
    }

    /** One parsed directory block. */
    private final class Block {
        final long index;
        final byte[] b;
        final int len;
        final int count;

        Block(long index) throws ErofsException {
            this.index = index;
            long start = index * blksz;
            this.len = (int) Math.min(blksz, dir.size() - start);
            this.b = new byte[len];
            if (data.read(start, b, 0, len) != len) {
                throw new ErofsException(where(), start, "directory data ends early");
            }
            if (len < Dirent.SIZE) {
                throw new ErofsException(where(), start, "block of " + len + " bytes cannot hold a dirent");
            }
            int nameoff0 = Le.u16(b, 8);
            if (nameoff0 < Dirent.SIZE || nameoff0 % Dirent.SIZE != 0 || nameoff0 >= len) {
                throw new ErofsException(where(), start + 8, "bad first name offset " + nameoff0);
            }
            this.count = nameoff0 / Dirent.SIZE;
        }

        String where() {
            return dir.label() + " directory block " + index;
        }

        int nameOff(int i) {
            return Le.u16(b, i * Dirent.SIZE + 8);
        }

        int nameEnd(int i) throws ErofsException {
            return nameEnd(i, false);
        }

        /** The end of entry i's name; {@code allowEmpty}: an empty name is no error (lookups pass over it, as the kernel's). */
        int nameEnd(int i, boolean allowEmpty) throws ErofsException {
            int start = nameOff(i);
            int end;
            if (i + 1 < count) {
                end = nameOff(i + 1);
            } else {
                end = start;
                while (end < len && b[end] != 0) {
                    end++;
                }
            }
            if (start < count * Dirent.SIZE || end < start || end == start && !allowEmpty || end > len || end - start > 255) {
                throw new ErofsException(where(), index * blksz + i * Dirent.SIZE + 8,
                        "bad name bounds [" + start + ", " + end + ") in a block of " + len + " bytes");
            }
            return end;
        }

        /** Where the last {@link #compare} found the names to differ (or the entry's name to end). */
        int matched;

        /**
         * Compares {@code name} with entry i's name (up to its first NUL) as the kernel's lookup
         * does: from byte {@code from} on, a prefix the binary search takes both to share. In a
         * directory whose names are out of order that skip decides what is found; we find what the
         * kernel finds. Returns the sign of {@code name} against the entry; sets {@link #matched}.
         */
        int compare(int i, byte[] name, int from) throws ErofsException {
            int s = nameOff(i);
            int end = nameEnd(i, true);
            int k = from;
            while (s + k < end && b[s + k] != 0) {
                int q = k < name.length ? name[k] & 0xff : 0;
                int d = b[s + k] & 0xff;
                if (q != d) {
                    matched = k;
                    return q > d ? 1 : -1;
                }
                k++;
            }
            matched = k;
            return k >= name.length ? 0 : 1;
        }

        Dirent entry(int i) throws ErofsException {
            int s = nameOff(i);
            byte[] name = Arrays.copyOfRange(b, s, nameEnd(i));
            long nid = Le.i64(b, i * Dirent.SIZE);
            int ft = Le.u8(b, i * Dirent.SIZE + 10);
            long next = i + 1 < count ? index * blksz + (long) (i + 1) * Dirent.SIZE : (index + 1) * blksz;
            return new Dirent(name, nid, ft, next);
        }
    }

    /** Finds {@code name} (no slashes) in this directory. */
    public Optional<Dirent> lookup(byte[] name) throws ErofsException {
        if (name.length == 0 || name.length > 255) {
            return Optional.empty();
        }
        // the kernel's two binary searches (fs/erofs/namei.c): over blocks by their first name, then
        // within the candidate block, each skipping the prefix both bounds have matched so far
        long lo = 0, hi = blocks - 1;
        int loPrefix = 0, hiPrefix = 0;
        Block candidate = null;
        while (lo <= hi) {
            long mid = (lo + hi) >>> 1;
            Block blk = new Block(mid);
            int c = blk.compare(0, name, Math.min(loPrefix, hiPrefix));
            if (c == 0) {
                return Optional.of(blk.entry(0));
            } else if (c < 0) {
                hi = mid - 1;
                hiPrefix = blk.matched;
            } else {
                candidate = blk;
                lo = mid + 1;
                loPrefix = blk.matched;
            }
        }
        if (candidate == null) {
            return Optional.empty();
        }
        int l = 1, h = candidate.count - 1;
        loPrefix = 0;
        hiPrefix = 0;
        while (l <= h) {
            int mid = (l + h) >>> 1;
            int c = candidate.compare(mid, name, Math.min(loPrefix, hiPrefix));
            if (c == 0) {
                return Optional.of(candidate.entry(mid));
            } else if (c < 0) {
                h = mid - 1;
                hiPrefix = candidate.matched;
            } else {
                l = mid + 1;
                loPrefix = candidate.matched;
            }
        }
        return Optional.empty();
    }

    /** Told about an entry whose name no path can hold; the listing goes on without it. */
    @FunctionalInterface
    public interface BadName {
        void onBadName(Dirent d, ErofsException e) throws ErofsException;
    }

    /**
     * The directory's entries but its own "." and "..", for readers that turn names into paths
     * (a walk, extract, ls): a name that is empty, holds '/' or NUL, is a second "." or ".." (or a
     * "." naming another inode), or repeats another entry's name is a format error, told to
     * {@code bad} and left out.
     * Errors of the directory itself end the listing with the entries before them in {@code out}.
     */
    public void children(List<Dirent> out, BadName bad) throws ErofsException {
        boolean[] seen = new boolean[2]; // ".", ".."
        Set<String> names = new HashSet<>();
        list(0, false, d -> {
            String problem = Dirent.nameProblem(d.name());
            if (problem == null && !d.isDot() && !d.isDotDot() && !names.add(new String(d.name(), StandardCharsets.ISO_8859_1))) {
                problem = "a second entry of that name";
            }
            if (problem == null && (d.isDot() || d.isDotDot())) {
                int k = d.isDot() ? 0 : 1;
                if (seen[k]) {
                    problem = "a second \"" + d.nameString() + "\" entry";
                } else if (d.isDot() && d.nid() != dir.nid()) {
                    problem = "\".\" names inode " + d.nid() + ", not the directory itself";
                } else {
                    seen[k] = true;
                    return true;
                }
            }
            if (problem != null) {
                bad.onBadName(d, new ErofsException(dir.label() + " directory", -1,
                        "entry \"" + Escape.text(d.name()) + "\": " + problem));
                return true;
            }
            out.add(d);
            return true;
        });
    }

    /**
     * Lists entries from {@code cookie} (0 for the start), "." and ".." included as the kernel
     * shows them (a dot-omitted directory gets a synthesized "."). Stops when the visitor does.
     */
    public void readdir(long cookie, Visitor visitor) throws ErofsException {
        list(cookie, true, visitor);
    }

    /**
     * {@link #readdir}; with {@code kernelChecks}, an empty name or one holding '/' ends the
     * listing with an error at that entry, as the kernel's listing of it fails (EUCLEAN, EIO). A
     * name holding NUL the kernel lists cut at the NUL (see {@link Dirent#shownName}).
     */
    private void list(long cookie, boolean kernelChecks, Visitor visitor) throws ErofsException {
        long pos = cookie;
        if (dir.dotOmitted()) {
            if (cookie == 0) {
                if (!visitor.accept(new Dirent(new byte[] {'.'}, dir.nid(), Dirent.FT_DIR, AFTER_SYNTHETIC_DOT))) {
                    return;
                }
            }
            if (pos == AFTER_SYNTHETIC_DOT) {
                pos = 0;
            }
        }
        if (pos < 0) {
            return;
        }
        long blk = pos / blksz;
        int idx = (int) ((pos % blksz) / Dirent.SIZE);
        for (; blk < blocks; blk++, idx = 0) {
            Block b = new Block(blk);
            for (int i = idx; i < b.count; i++) {
                Dirent d = b.entry(i);
                if (kernelChecks && (d.name().length == 0 || Dirent.indexOf(d.name(), (byte) '/') >= 0)) {
                    throw new ErofsException(b.where(), blk * blksz + i * Dirent.SIZE + 8,
                            "entry \"" + Escape.text(d.name()) + "\": " + Dirent.nameProblem(d.name()));
                }
                if (!visitor.accept(d)) {
                    return;
                }
            }
        }
    }
}
