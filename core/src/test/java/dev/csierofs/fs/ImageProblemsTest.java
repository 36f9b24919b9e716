package dev.csierofs.fs;

import dev.csierofs.erofs.CraftedImages;
import dev.csierofs.erofs.ErofsException;
import dev.csierofs.erofs.ErofsImage;
import dev.csierofs.erofs.Inode;
import dev.csierofs.fuse.FuseSession;
import dev.csierofs.fuse.InitNegotiation;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.logging.Handler;
import java.util.logging.Level;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * A real mount of an image whose files point past its end, read over and over: the daemon logs
 * one line per bad file (image, path, reason), no stack trace, and at most
 * {@link ImageProblems#PER_MINUTE} lines a minute for the image.
 */
class ImageProblemsTest {
    private static final int FILES = 30;

    @TempDir
    Path tmp;

    private static void run(String... cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), String.join(" ", cmd) + ": " + out);
    }

    /** An image of FILES plain 8 KiB files whose block addresses are patched to lie far past the image's end. */
    private Path corruptImage() throws Exception {
        Path tree = Files.createDirectories(tmp.resolve("tree/dir"));
        for (int i = 0; i < FILES; i++) {
            Files.write(tree.resolve(String.format("f%02d", i)), String.format("%08d", i).repeat(1024).getBytes(StandardCharsets.US_ASCII));
        }
        Path image = tmp.resolve("bad.erofs");
        run("mkfs.erofs", "--quiet", image.toString(), tmp.resolve("tree").toString());
        byte[] b = Files.readAllBytes(image);
        try (ErofsImage img = ErofsImage.open(image)) {
            for (int i = 0; i < FILES; i++) {
                Inode f = img.resolve(String.format("/dir/f%02d", i)).orElseThrow();
                assertEquals(Inode.FLAT_PLAIN, f.layout());
                int at = (int) f.iloc() + 16; // i_u: the first data block, in compact and extended inodes alike
                b[at] = (byte) 0xf0;
                b[at + 1] = (byte) 0xff;
                b[at + 2] = (byte) 0xff;
                b[at + 3] = (byte) 0x0f;
            }
        }
        CraftedImages.fixChecksum(b); // the inodes may share the superblock's block
        Files.write(image, b);
        return image;
    }

    @Test
    void oneLinePerBadFileWithoutTraceAndRateLimited() throws Exception {
        Path image = corruptImage();
        List<LogRecord> records = Collections.synchronizedList(new ArrayList<>());
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                if (r.getLevel().intValue() >= Level.WARNING.intValue()) {
                    records.add(r);
                }
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger root = Logger.getLogger("dev.csierofs");
        root.addHandler(h);
        Path mnt = Files.createDirectories(tmp.resolve("mnt"));
        try (ErofsImage img = ErofsImage.open(image)) {
            // with the store: the first open hashes the file, the path that logged a stack trace per file
            ContentSharing sharing = ContentSharing.withStore(tmp.resolve("store"), 1L << 30, new ContentSharing.Options(true, 8 << 20, 64 << 20));
            try (FuseSession s = FuseSession.mount(new ErofsFilesystem(img, sharing, "test:" + image), mnt, "erofs", image.toString(), 2,
                    InitNegotiation.Options.defaults())) {
                for (int round = 0; round < 3; round++) {
                    for (int i = 0; i < FILES; i++) {
                        Path f = mnt.resolve(String.format("dir/f%02d", i));
                        assertThrows(IOException.class, () -> Files.readAllBytes(f), f.toString());
                    }
                }
            }
            assertEquals(FILES - ImageProblems.PER_MINUTE, ImageProblems.of(img).suppressed(), "each bad file counted once");
        } finally {
            root.removeHandler(h);
        }
        List<String> lines = new ArrayList<>();
        for (LogRecord r : records) {
            assertNull(r.getThrown(), "a stack trace was logged: " + r.getMessage());
            assertFalse(r.getMessage().contains("\n"), r.getMessage());
            lines.add(r.getMessage());
        }
        assertEquals(ImageProblems.PER_MINUTE, lines.size(), String.join("\n", lines));
        List<String> paths = new ArrayList<>();
        for (String l : lines) {
            assertTrue(l.matches("image " + java.util.regex.Pattern.quote(image.toString())
                    + ": /dir/f\\d\\d: inode \\d+.* bytes needed but .* has only \\d+ bytes"), l);
            paths.add(l.split(": ")[1]);
        }
        assertEquals(paths.size(), paths.stream().distinct().count(), "a file logged twice: " + lines);
    }

    /** Past the limit, problems are counted; the first line of the next minute says how many were left out. */
    @Test
    void nextMinuteSaysHowManyWereLeftOut() throws Exception {
        Path image = corruptImage();
        List<String> lines = Collections.synchronizedList(new ArrayList<>());
        Handler h = new Handler() {
            @Override
            public void publish(LogRecord r) {
                lines.add(r.getMessage());
            }

            @Override
            public void flush() {
            }

            @Override
            public void close() {
            }
        };
        Logger log = Logger.getLogger(ImageProblems.class.getName());
        log.addHandler(h);
        long[] now = {0};
        try (ErofsImage img = ErofsImage.open(image)) {
            ImageProblems problems = new ImageProblems(img, () -> now[0]);
            List<Long> nids = new ArrayList<>();
            for (int i = 0; i < FILES; i++) {
                nids.add(img.resolve(String.format("/dir/f%02d", i)).orElseThrow().nid());
            }
            ErofsException bad = new ErofsException("inode", 0, "broken");
            for (int i = 0; i < 15; i++) {
                problems.report(nids.get(i), bad);
                problems.report(nids.get(i), bad); // the same problem again: not counted twice
            }
            assertEquals(ImageProblems.PER_MINUTE, lines.size(), String.join("\n", lines));
            assertEquals(5, problems.suppressed());
            now[0] += 61_000_000_000L;
            problems.report(nids.get(20), bad);
            assertEquals("image " + image + ": 5 more problem(s) not logged (at most 10 a minute)", lines.get(ImageProblems.PER_MINUTE));
            assertEquals("image " + image + ": /dir/f20: inode at offset 0: broken", lines.get(ImageProblems.PER_MINUTE + 1));
            assertEquals(0, problems.suppressed());
        } finally {
            log.removeHandler(h);
        }
    }
}
