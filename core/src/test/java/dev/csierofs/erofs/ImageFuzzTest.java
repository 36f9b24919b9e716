package dev.csierofs.erofs;

import com.code_intelligence.jazzer.junit.FuzzTest;
import com.sun.management.ThreadMXBean;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;

/**
 * Coverage-guided fuzzing of the whole reader: the input is an image, opened as the daemon and
 * the command line open one, then read completely: every inode reachable from the root (its
 * metadata, xattrs, content digest, symlink target and file data, SEEK_DATA/SEEK_HOLE), every
 * directory listed and looked up in, the walk fsck and extract use. The only acceptable failure
 * is an {@link ErofsException}. Anything else is a finding: another exception or error, a read
 * that breaks its contract, one input allocating more than {@link #ALLOC_LIMIT} bytes (an
 * allocation sized by an unchecked field), or (when fuzzing) running longer than the timeout.
 *
 * <p>A normal test run replays every input in {@code ImageFuzzTestInputs/readImage/} (the seeds:
 * tiny images from {@code bench/fuzz-seeds.sh}, and every past finding); {@code bench/fuzz.sh}
 * fuzzes. See docs/fuzzing.md.
 */
class ImageFuzzTest {

    /** Decoded bytes read per input at most, so a file claiming 2^62 bytes of holes ends quickly. */
    static final long READ_BUDGET = 4L << 20;
    /** Files up to this size are read in full, larger ones in a few windows. */
    static final long FULL_READ_LIMIT = 1L << 20;
    static final int MAX_INODES = 4096;
    /** Bytes one input may allocate: reading a seed allocates a few MiB; a legal decoded extent is at most 12 MiB. */
    static final long ALLOC_LIMIT = 256L << 20;

    private static final ThreadMXBean THREADS = (ThreadMXBean) ManagementFactory.getThreadMXBean();
    private static final Path FILE = scratchFile();

    /** One scratch file per JVM, on tmpfs where there is one: each input is written to it. */
    private static Path scratchFile() {
        try {
            Path shm = Paths.get("/dev/shm");
            Path dir = Files.isDirectory(shm) && Files.isWritable(shm) ? shm : Paths.get(System.getProperty("java.io.tmpdir"));
            Path f = Files.createTempFile(dir, "erofs-fuzz-", ".img");
            f.toFile().deleteOnExit();
            return f;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    @FuzzTest(maxDuration = "30s")
    void readImage(byte[] image) throws IOException {
        Files.write(FILE, image);
        long allocated = THREADS.getCurrentThreadAllocatedBytes();
        ErofsImage img;
        try {
            img = ErofsImage.open(FILE, List.of(), false);
        } catch (ErofsException e) {
            checkMessage(e);
            return;
        }
        try (img) {
            new Reading(img).all();
        }
        long used = THREADS.getCurrentThreadAllocatedBytes() - allocated;
        if (used > ALLOC_LIMIT) {
            throw new AssertionError("reading one " + image.length + "-byte image allocated " + (used >> 20) + " MiB");
        }
    }

    static void checkMessage(ErofsException e) {
        if (e.getMessage() == null || e.getMessage().isBlank()) {
            throw new AssertionError("ErofsException without a message", e);
        }
    }

    /** Everything a reader of one opened image can be asked, each refusal checked and then ignored. */
    static final class Reading {
        private final ErofsImage img;
        private final byte[] buf = new byte[1 << 16];
        private long budget = READ_BUDGET;

        Reading(ErofsImage img) {
            this.img = img;
        }

        void all() throws IOException {
            img.superblock().volumeName();
            img.deviceSlots().forEach(DeviceSlot::tagText);
            img.xattrPrefixes();
            try {
                // the walk fsck and extract use: errors reported, the rest of the tree walked
                new TreeWalker(img, (path, e) -> checkMessage(e)).walk((path, ino) -> {
                });
            } catch (ErofsException e) {
                checkMessage(e);
            }
            List<Long> todo = new ArrayList<>();
            Set<Long> seen = new HashSet<>();
            todo.add(img.rootNid());
            while (!todo.isEmpty() && seen.size() < MAX_INODES) {
                long nid = todo.removeLast();
                if (!seen.add(nid)) {
                    continue;
                }
                try {
                    visit(img.inode(nid), todo);
                } catch (ErofsException e) {
                    checkMessage(e);
                }
            }
            for (String p : new String[] {"/", "/dir/sub/noise", "/dir/link", "/nothing/here"}) {
                try {
                    img.resolveFollowing(p);
                } catch (ErofsException e) {
                    checkMessage(e);
                }
            }
        }

        private void visit(Inode ino, List<Long> todo) throws ErofsException {
            try {
                // a listed name may still not be found by name: a corrupt name bloom filter says
                // it is absent, and the kernel believes the filter just the same
                for (Xattr x : img.xattrs().list(ino)) {
                    img.xattrs().get(ino, x.nameString());
                }
                img.xattrs().get(ino, "user.absent");
            } catch (ErofsException e) {
                checkMessage(e);
            }
            try {
                img.contentDigest(ino);
            } catch (ErofsException e) {
                checkMessage(e);
            }
            if (ino.isSymlink()) {
                try {
                    byte[] t = img.readlink(ino);
                    if (t.length != ino.size()) {
                        throw new AssertionError(ino.label() + ": readlink gave " + t.length + " bytes for i_size " + ino.size());
                    }
                } catch (ErofsException e) {
                    checkMessage(e);
                }
            }
            if (ino.isRegular()) {
                try {
                    readData(ino);
                } catch (ErofsException e) {
                    checkMessage(e);
                }
            }
            if (ino.isDirectory()) {
                try {
                    listDir(ino, todo);
                } catch (ErofsException e) {
                    checkMessage(e);
                }
            }
        }

        private void listDir(Inode ino, List<Long> todo) throws ErofsException {
            Directory d = img.directory(ino);
            List<Dirent> all = new ArrayList<>();
            d.readdir(0, e -> {
                all.add(e);
                return all.size() < 10_000;
            });
            for (Dirent e : all) {
                if (!e.isDot() && !e.isDotDot()) {
                    todo.add(e.nid());
                }
            }
            for (int i = 0; i < Math.min(all.size(), 64); i++) {
                try {
                    d.lookup(all.get(i).name());
                } catch (ErofsException x) {
                    checkMessage(x);
                }
            }
            if (!all.isEmpty()) {
                int[] left = {16};
                try {
                    d.readdir(all.get(all.size() / 2).nextCookie(), e -> --left[0] > 0);
                } catch (ErofsException x) {
                    checkMessage(x);
                }
            }
        }

        private void readData(Inode ino) throws ErofsException {
            FileData fd = img.openData(ino);
            long size = ino.size();
            if (size <= FULL_READ_LIMIT && size <= budget) {
                budget -= size;
                for (long pos = 0; pos < size; ) {
                    pos += readChecked(fd, ino, pos, buf.length);
                }
            } else {
                int win = 1 << 14;
                for (long s : new long[] {0, Math.max(0, size - win), (size / 2) & ~4095L}) {
                    if (budget < win) {
                        break;
                    }
                    budget -= win;
                    readChecked(fd, ino, s, win);
                }
            }
            if (fd.read(size, buf, 0, 16) != 0) {
                throw new AssertionError(ino.label() + ": read at end of file returned data");
            }
            // SEEK_DATA / SEEK_HOLE, as LSEEK asks them: a few steps, each answer within the file
            long pos = 0;
            for (int i = 0; i < 8 && pos < size; i++) {
                long data = fd.nextData(pos);
                if (data < pos || data > size) {
                    throw new AssertionError(ino.label() + ": nextData(" + pos + ") = " + data + " for size " + size);
                }
                if (data == size) {
                    break;
                }
                long hole = fd.nextHole(data);
                if (hole < data || hole > size) {
                    throw new AssertionError(ino.label() + ": nextHole(" + data + ") = " + hole + " for size " + size);
                }
                pos = hole == data ? hole + 1 : hole;
            }
            if (size > 0) {
                fd.stored(0);
            }
        }

        private int readChecked(FileData fd, Inode ino, long pos, int want) throws ErofsException {
            int n = fd.read(pos, buf, 0, want);
            long expect = Math.min(want, ino.size() - pos);
            if (n != expect) {
                throw new AssertionError(ino.label() + ": read(" + pos + ", " + want + ") returned " + n + ", expected " + expect
                        + " (i_size " + ino.size() + ", layout " + ino.layout() + ")");
            }
            return n;
        }
    }
}
