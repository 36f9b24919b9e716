package dev.csierofs.cli;

import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/** Names for a terminal: valid UTF-8 without control characters as is, anything else escaped. */
final class Display {
    private Display() {
    }

    static String name(byte[] b) {
        boolean plain = true;
        for (byte x : b) {
            int c = x & 0xff;
            if (c < 0x20 || c == 0x7f || c == '\\') {
                plain = false;
                break;
            }
        }
        if (plain) {
            try {
                return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
            } catch (CharacterCodingException e) {
                // fall through to the escaped form
            }
        }
        StringBuilder sb = new StringBuilder();
        for (byte x : b) {
            int c = x & 0xff;
            if (c >= 0x20 && c < 0x7f && c != '\\') {
                sb.append((char) c);
            } else {
                sb.append(String.format("\\x%02x", c));
            }
        }
        return sb.toString();
    }
}
