package dev.csierofs.erofs;

import java.nio.charset.StandardCharsets;

/** One extended attribute as the kernel shows it: full name (with its namespace prefix) and value. */
public record Xattr(byte[] name, byte[] value) {
    public String nameString() {
        return new String(name, StandardCharsets.UTF_8);
    }
}
