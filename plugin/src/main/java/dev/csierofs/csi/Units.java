package dev.csierofs.csi;

import java.time.Duration;

/**
 * Sizes and durations as a user writes them, for the start log: "10 GiB", "5m", not
 * 10737418240 or PT5M. Each in the largest unit that holds it exactly, so that what was given
 * on the command line (10G, 1500M, 90s) reads back the same.
 */
final class Units {
    private static final String[] SIZE_UNITS = {"bytes", "KiB", "MiB", "GiB", "TiB"};

    private Units() {
    }

    static String size(long bytes) {
        int unit = 0;
        while (unit < SIZE_UNITS.length - 1 && bytes != 0 && bytes % 1024 == 0) {
            bytes /= 1024;
            unit++;
        }
        return bytes + " " + SIZE_UNITS[unit];
    }

    static String duration(Duration d) {
        long ms = d.toMillis();
        if (ms == 0) {
            return "0s";
        }
        if (ms % 3_600_000 == 0) {
            return ms / 3_600_000 + "h";
        }
        if (ms % 60_000 == 0) {
            return ms / 60_000 + "m";
        }
        return ms % 1000 == 0 ? ms / 1000 + "s" : ms + "ms";
    }
}
