package dev.csierofs.cli;

import picocli.CommandLine;
import picocli.CommandLine.IHelpSectionRenderer;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.UsageMessageSpec;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The help of every command, wrapped at spaces only. Picocli wraps its columns where
 * java.text.BreakIterator allows, which includes after a hyphen, a slash or a dot inside a word
 * ("~/.", "cache/csi-driver-erofs/store" on two lines), and wraps the footer without indent. Here
 * picocli lays the help out on lines too long to wrap, and each line is then wrapped at
 * {@code $COLUMNS} (which bin/csi-driver-erofs sets to the terminal's width when stdout is a
 * terminal) or 80 columns, continuation lines indented under the text they continue.
 */
final class HelpLayout {
    /** Wide enough that picocli wraps nothing. */
    private static final int UNWRAPPED = 100_000;
    private static final String SECTION = "csierofs.wrapped";
    private static final Pattern ANSI = Pattern.compile("\u001b\\[[0-9;]*m");
    /** A table row: an indented label, a gap of two or more spaces, the text. */
    private static final Pattern ROW = Pattern.compile("^ +\\S(?:\\S| (?! ))*( {2,})\\S");

    private HelpLayout() {
    }

    private static final int DEFAULT_WIDTH = 80;
    private static final int MIN_WIDTH = 40;

    /** Applies the layout, and the version, to {@code cl} and all its subcommands. */
    static void apply(CommandLine cl) {
        apply(cl, width(System.getenv("COLUMNS")));
    }

    /** The width to wrap at: {@code columns} if it is a number (at least 40), else 80. */
    static int width(String columns) {
        try {
            return columns == null ? DEFAULT_WIDTH : Math.max(MIN_WIDTH, Integer.parseInt(columns.strip()));
        } catch (NumberFormatException e) {
            return DEFAULT_WIDTH;
        }
    }

    private static void apply(CommandLine cl, int width) {
        CommandSpec spec = cl.getCommandSpec();
        UsageMessageSpec usage = spec.usageMessage();
        usage.width(UNWRAPPED);
        Map<String, IHelpSectionRenderer> sections = new LinkedHashMap<>(usage.sectionMap());
        List<String> keys = List.copyOf(usage.sectionKeys());
        String prefix = usage.synopsisHeading().replace("%n", "") + spec.qualifiedName() + " ";
        Map<String, IHelpSectionRenderer> wrapped = new LinkedHashMap<>();
        wrapped.put(SECTION, help -> {
            StringBuilder all = new StringBuilder();
            for (String key : keys) {
                IHelpSectionRenderer r = sections.get(key);
                if (r != null) {
                    all.append(r.render(help));
                }
            }
            return wrap(all.toString(), width, prefix);
        });
        usage.sectionMap(wrapped);
        usage.sectionKeys(List.of(SECTION));
        // `--version` anywhere (csi-driver-erofs inspect IMAGE --version) prints the version, as at the top
        if (spec.versionProvider() == null && spec.version().length == 0) {
            spec.versionProvider(new VersionProvider());
        }
        for (CommandLine sub : cl.getSubcommands().values()) {
            apply(sub, width);
        }
    }

    /** The usage line of {@code cl} ("Usage: csi-driver-erofs cat [-hV] ... IMAGE PATH"), wrapped as its help is. */
    static String synopsis(CommandLine cl) {
        CommandSpec spec = cl.getCommandSpec();
        String heading = spec.usageMessage().synopsisHeading().replace("%n", "");
        return wrap(cl.getHelp().fullSynopsis().stripTrailing(), width(System.getenv("COLUMNS")),
                heading + spec.qualifiedName() + " ");
    }

    /**
     * Wraps each line of {@code text} longer than {@code width} at spaces. A line starting with
     * {@code synopsis} (the usage line) continues under its first argument; a table row (indented
     * label, two or more spaces, text) continues two columns right of its text, as picocli's rows
     * do; other lines continue at their own indent plus two, or at 0 when not indented. A word
     * longer than a line stays whole.
     */
    static String wrap(String text, int width, String synopsis) {
        StringBuilder out = new StringBuilder();
        String[] lines = text.split("\n", -1);
        for (int i = 0; i < lines.length; i++) {
            String line = lines[i];
            if (i > 0) {
                out.append('\n');
            }
            if (visible(line) <= width) {
                out.append(line);
                continue;
            }
            // classified on the text as shown (picocli styles it with ANSI codes on a terminal)
            String shown = plain(line);
            int column; // where the text to wrap starts
            int indent;
            Matcher row = ROW.matcher(shown);
            if (shown.startsWith(synopsis)) {
                column = synopsis.length();
                indent = column;
            } else if (row.find()) {
                column = row.end() - 1;
                indent = column + 2;
            } else {
                column = 0;
                while (column < shown.length() && shown.charAt(column) == ' ') {
                    column++;
                }
                indent = column == 0 ? 0 : column + 2;
            }
            int start = rawIndex(line, column);
            StringBuilder current = new StringBuilder(line.substring(0, start));
            int used = visible(current.toString());
            boolean empty = true;
            for (String word : line.substring(start).split(" +")) {
                if (word.isEmpty()) {
                    continue;
                }
                int w = visible(word);
                if (!empty && used + 1 + w > width) {
                    out.append(current.toString().stripTrailing()).append('\n');
                    current.setLength(0);
                    current.append(" ".repeat(indent));
                    used = indent;
                    empty = true;
                }
                if (!empty) {
                    current.append(' ');
                    used++;
                }
                current.append(word);
                used += w;
                empty = false;
            }
            out.append(current.toString().stripTrailing());
        }
        return out.toString();
    }

    /** Columns {@code s} takes on a terminal: without picocli's ANSI styles (used when stdout is a terminal). */
    private static int visible(String s) {
        return plain(s).length();
    }

    private static String plain(String s) {
        return ANSI.matcher(s).replaceAll("");
    }

    /** The index in {@code s} after its first {@code columns} visible characters and the styles among them. */
    private static int rawIndex(String s, int columns) {
        Matcher style = ANSI.matcher(s);
        int i = 0;
        int seen = 0;
        while (i < s.length()) {
            if (style.region(i, s.length()).lookingAt()) {
                i = style.end();
            } else if (seen == columns) {
                break;
            } else {
                i++;
                seen++;
            }
        }
        return i;
    }
}
