package dev.csierofs.fuse;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.MemorySegment;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/** Builds request bytes by hand, little-endian, the way the kernel lays them out. */
final class Msg {
    static final int UID = 1000;
    static final int GID = 100;
    static final int PID = 4242;

    private final ByteArrayOutputStream out = new ByteArrayOutputStream();

    static Msg body() {
        return new Msg();
    }

    Msg u16(int v) {
        out.write(v);
        out.write(v >>> 8);
        return this;
    }

    Msg u32(int v) {
        return u16(v).u16(v >>> 16);
    }

    Msg u64(long v) {
        return u32((int) v).u32((int) (v >>> 32));
    }

    Msg bytes(byte[] b) {
        out.writeBytes(b);
        return this;
    }

    /** A name as the kernel sends it: its bytes and a NUL. */
    Msg cstr(String s) {
        return bytes(s.getBytes(StandardCharsets.UTF_8)).bytes(new byte[1]);
    }

    byte[] toBytes() {
        return out.toByteArray();
    }

    /** A whole request: a 40-byte fuse_in_header (len covers header and body) and the body. */
    static byte[] request(int opcode, long unique, long nodeid, Msg body) {
        byte[] b = body.toBytes();
        return Msg.body().u32(InHeader.SIZE + b.length).u32(opcode).u64(unique).u64(nodeid).u32(UID).u32(GID).u32(PID)
                .u16(0).u16(0).bytes(b).toBytes();
    }

    static byte[] request(Opcode op, Msg body) {
        return request(op.code(), 77, 5, body);
    }

    static MemorySegment seg(byte[] b) {
        return MemorySegment.ofArray(b);
    }

    /** A reply buffer full of 0xAA, so that bytes an encoder forgets to write show up. */
    static byte[] dirty(int size) {
        byte[] b = new byte[size];
        Arrays.fill(b, (byte) 0xAA);
        return b;
    }

    static ByteBuffer le(byte[] b) {
        return ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN);
    }
}
