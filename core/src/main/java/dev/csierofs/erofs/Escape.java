package dev.csierofs.erofs;

/**
 * Printable form of raw names (which may hold any byte but '/' and NUL): bytes outside
 * 0x21..0x7e and the bytes '\', ',' and '=' become \xHH. The same convention as the fixture
 * manifests, so output can be compared with them directly.
 */
public final class Escape {
    private Escape() {
    }

    public static String text(byte[] b) {
        StringBuilder sb = new StringBuilder(b.length + 8);
        for (byte x : b) {
            int c = x & 0xff;
            if (c >= 0x21 && c <= 0x7e && c != '\\' && c != ',' && c != '=') {
                sb.append((char) c);
            } else {
                sb.append(String.format("\\x%02x", c));
            }
        }
        return sb.toString();
    }
}
