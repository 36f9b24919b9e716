#!/usr/bin/python3
"""Generate the edge-case source tree of KernelOracleTest.

usage: make-edge-tree.py OUTDIR      (run as root; OUTDIR must exist and be empty)

Deterministic (fixed seed, fixed times): every run gives the same names, bytes,
owners, modes, times and xattrs.  About 15 MiB of file data (1500 paths):

  sizes/{noise,text}/   files of 0, 1, 511, 512, 513, 4095, 4096, 4097, 65535,
                        65536, 65537 and 1 MiB+3 bytes
  bulk/                 3 MiB compressible text, 2 MiB random bytes, files whose
                        4 KiB / 64 KiB blocks repeat, an identical copy, a
                        4 MiB+5 sparse file with islands, a 1 MiB all-hole file
  dirs/crowd/           1300 entries with names of varied length (many
                        directory blocks): files, empty files, symlinks, dirs
  dirs/deep/            48 nested directories with a file at the bottom;
                        dirs/empty/ (an empty directory)
  names/                1-byte and 254/255-byte names (ASCII, 2- and 3-byte
                        UTF-8), UTF-8 scripts and emoji, non-UTF-8 bytes,
                        space/tab/newline/backslash/'='/',', leading '-', '...'
  links/                symlinks: 1 byte, absolute, 1000 and 4095 bytes,
                        dangling, to a directory, non-UTF-8 target, self loop;
                        hard links: 3 names in 2 directories, empty file,
                        a hard-linked symlink, a hard-linked fifo and device
  nodes/                char 1:3, 0:0 (whiteout), 511:70000, 4095:1048575,
                        block 8:1, 259:12345, fifo, unix socket
  perms/                files 0000 0400 0777 1644 2755 4755 6755 7777,
                        dirs 1777 2775 0500 0000
  owners/               uid/gid 1000, 65534, 65535, 65536, 70000:70001,
                        4000000000:4294967294 (symlink and dir with big ids)
  times/                mtimes 0, -1 s, -0.5 s, 1966 with ns, 2^31-1 s + ns,
                        2^31, 2^32+7, 10^10 (year 2286), T+-1 ns, random ns
  xattrs/               user./trusted./security. (security.capability v2),
                        6 files with one identical xattr set (shared xattrs),
                        50 xattrs on one file, an empty value, a 3000-byte
                        value, NUL bytes, a 255-byte name, xattrs on a
                        directory, symlink, fifo and device node, POSIX ACLs
                        (access on a file, access + default on a directory)

Everything else: owner 0:0, mode 0644 / 0755, mtime T = 1710000000 s exactly
(the -T value of the test's mkfs runs).  POSIX ACLs are written as the
system.posix_acl_* xattrs directly (what setfacl(1) does), so the acl package
is not needed.
"""
import os
import random
import socket
import stat
import struct
import sys

T = 1710000000
T_NS = T * 10**9
SEED = 0x0E50F5

ROOT = os.fsencode(sys.argv[1])
rng = random.Random(SEED)

WORDS = ("erofs inode block cluster extent superblock xattr chunk device lz4 "
         "mount kernel reader page tail inline compact extended directory name "
         "symlink fifo socket owner group mode sparse hole dedupe fragment "
         "the of and to in is that for it as with be on not this").split()

times = {}    # path (bytes) -> mtime in ns; everything else gets T_NS
modes = {}    # path -> mode to apply after chown (chown clears setuid/setgid)
owners = {}   # path -> (uid, gid)


def p(rel):
    rel = os.fsencode(rel) if isinstance(rel, str) else rel
    return ROOT + b"/" + rel


def noise(n):
    return rng.randbytes(n)


def text(n):
    out = []
    size = 0
    line = []
    while size < n:
        w = rng.choice(WORDS)
        line.append(w)
        if len(line) >= rng.randint(6, 14):
            s = " ".join(line) + "\n"
            out.append(s)
            size += len(s)
            line = []
    return "".join(out).encode()[:n]


def mkdirs(rel, mode=0o755):
    os.makedirs(p(rel), exist_ok=True)
    modes[p(rel)] = mode


def put(rel, data, mode=0o644, owner=None, mtime=None, xattrs=()):
    path = p(rel)
    with open(path, "wb") as f:
        f.write(data)
    modes[path] = mode
    if owner:
        owners[path] = owner
    if mtime is not None:
        times[path] = mtime
    for k, v in xattrs:
        os.setxattr(path, k, v)
    return path


def link(rel, target, owner=None, mtime=None, xattrs=()):
    path = p(rel)
    os.symlink(os.fsencode(target) if isinstance(target, str) else target, path)
    if owner:
        owners[path] = owner
    if mtime is not None:
        times[path] = mtime
    for k, v in xattrs:
        os.setxattr(path, k, v, follow_symlinks=False)
    return path


def node(rel, kind, major=0, minor=0, mode=0o644, xattrs=()):
    path = p(rel)
    os.mknod(path, mode | kind, os.makedev(major, minor))
    modes[path] = mode
    for k, v in xattrs:
        os.setxattr(path, k, v)
    return path


def acl(entries):
    """Binary POSIX ACL xattr (version 2): (tag, perm, id) entries."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", t, pm, i) for t, pm, i in entries)


A_USER_OBJ, A_USER, A_GROUP_OBJ, A_GROUP, A_MASK, A_OTHER = 1, 2, 4, 8, 0x10, 0x20
NOID = 0xFFFFFFFF

# ------------------------------------------------------------------ sizes/
SIZES = (0, 1, 511, 512, 513, 4095, 4096, 4097, 65535, 65536, 65537, (1 << 20) + 3)
mkdirs("sizes/noise")
mkdirs("sizes/text")
for n in SIZES:
    put("sizes/noise/%d" % n, noise(n))
    put("sizes/text/%d" % n, text(n))

# ------------------------------------------------------------------ bulk/
mkdirs("bulk")
put("bulk/text.txt", text(3 << 20))
put("bulk/noise.bin", noise(2 << 20))
blk4k = noise(4096)
put("bulk/repeat-4k.bin", blk4k * 64)
blk64k = noise(65536)
put("bulk/repeat-64k.bin", blk64k * 8 + blk64k[:1000])
put("bulk/copy-of-65537", open(p("sizes/noise/65537"), "rb").read())
put("bulk/shifted-65537", b"x" + open(p("sizes/noise/65537"), "rb").read())
with open(p("bulk/sparse.img"), "wb") as f:
    f.truncate((4 << 20) + 5)
    f.seek((1 << 20) + 1)
    f.write(b"ISLAND-1M+1")
    f.seek((3 << 20) - 3)
    f.write(noise(70000))          # crosses block and 64 KiB chunk boundaries
    f.seek((4 << 20) + 2)
    f.write(b"END")
modes[p("bulk/sparse.img")] = 0o600
with open(p("bulk/hole.img"), "wb") as f:
    f.truncate(1 << 20)
modes[p("bulk/hole.img")] = 0o644

# ------------------------------------------------------------------ dirs/
mkdirs("dirs/crowd")
for i in range(1300):
    name = "e%04d-%s" % (i, "n" * rng.randint(0, 60))
    kind = i % 5
    if kind == 0:
        put("dirs/crowd/" + name, text(rng.randint(1, 300)))
    elif kind in (1, 2):
        put("dirs/crowd/" + name, b"")
    elif kind == 3:
        link("dirs/crowd/" + name, "../missing/%d" % i)
    else:
        mkdirs("dirs/crowd/" + name)
deep = "dirs/deep"
for i in range(48):
    deep += "/level-%02d" % i
    mkdirs(deep)
put(deep + "/bottom.txt", b"at the bottom\n")
mkdirs("dirs/empty")

# ------------------------------------------------------------------ names/
mkdirs("names")
NAMES = [
    b"a",
    b"N" * 255,
    "\u00e9".encode() * 127 + b"z",           # 255 bytes, 2-byte UTF-8
    b"M" * 254,
    "\u00e9".encode() * 127,                  # 254 bytes
    "\u03b1\u03b2\u03b3-\u0436\u0437-\u6f22\u5b57-\U0001F600".encode(),
    "caf\u00e9".encode(),                     # NFC
    "cafe\u0301".encode(),                    # NFD twin
    b"latin1-\xe9\xff\xfe\x80",               # not UTF-8
    b"with space", b"tab\there", b"new\nline", b"back\\slash", b"eq=and,comma",
    b"-dash", b"...", b".hidden", b"\x01ctrl\x7f",
]
for i, n in enumerate(NAMES):
    put(b"names/" + n, b"name %d\n" % i)
mkdirs("names/" + "\u6f22" * 84)   # 252-byte 3-byte-UTF-8 directory
put("names/" + "\u6f22" * 84 + "/" + "q" * 255, b"long inside long\n")
mkdirs(b"names/dir-\xff")
put(b"names/dir-\xff/x", b"x\n")

# ------------------------------------------------------------------ links/
mkdirs("links")
link("links/one", "x")
link("links/abs", "/opt/erofs-oracle/absent")   # absolute (and dangling)
link("links/long-1000", "/".join(["seg%04d" % i for i in range(125)])[:1000])
link("links/long-4095", ("/" + "L" * 63) * 63 + "/" + "t" * 62)
link("links/dangling", "no/such/file")
link("links/to-dir", "../dirs")
link("links/self", "self")
link("links/non-utf8", b"target-\xff\xfe")
link("links/utf8", "\u6f22\u5b57/\u00e9")
put("links/hard-a", b"three names\n", mode=0o640, xattrs=[("user.hard", b"linked")])
os.link(p("links/hard-a"), p("links/hard-b"))
os.link(p("links/hard-a"), p("dirs/hard-c"))
put("links/hard-empty-1", b"")
os.link(p("links/hard-empty-1"), p("links/hard-empty-2"))
link("links/sym-hl-1", "hard-a")
os.link(p("links/sym-hl-1"), p("links/sym-hl-2"), follow_symlinks=False)

# ------------------------------------------------------------------ nodes/
mkdirs("nodes")
node("nodes/null", stat.S_IFCHR, 1, 3, 0o666)
node("nodes/whiteout", stat.S_IFCHR, 0, 0, 0o000)
node("nodes/char-big", stat.S_IFCHR, 511, 70000, 0o600)
node("nodes/char-max", stat.S_IFCHR, 4095, 1048575, 0o600)
node("nodes/sda1", stat.S_IFBLK, 8, 1, 0o660)
node("nodes/blk-big", stat.S_IFBLK, 259, 12345, 0o660, xattrs=[("trusted.dev", b"block")])
node("nodes/fifo", stat.S_IFIFO, mode=0o600, xattrs=[("trusted.fifo", b"pipe")])
os.link(p("nodes/fifo"), p("nodes/fifo-2"))
os.link(p("nodes/null"), p("nodes/null-2"))
cwd = os.getcwd()
os.chdir(p("nodes"))
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(b"sock")
s.close()
os.chdir(cwd)
modes[p("nodes/sock")] = 0o755

# ------------------------------------------------------------------ perms/
mkdirs("perms")
for m in (0o000, 0o400, 0o777, 0o1644, 0o2755, 0o4755, 0o6755, 0o7777):
    put("perms/f%04o" % m, b"mode %o\n" % m, mode=m)
for m in (0o1777, 0o2775, 0o500, 0o000):
    mkdirs("perms/d%04o" % m, mode=m)
owners[p("perms/d2775")] = (0, 100)
owners[p("perms/f2755")] = (0, 50)

# ------------------------------------------------------------------ owners/
mkdirs("owners")
for u, g in ((1000, 1000), (65534, 65534), (65535, 65535), (65536, 65536), (70000, 70001),
             (4000000000, 4294967294), (0, 70000), (70000, 0)):
    put("owners/u%d-g%d" % (u, g), b"%d:%d\n" % (u, g), owner=(u, g))
link("owners/big-link", "u70000-g70001", owner=(123456, 654321))
mkdirs("owners/big-dir")
owners[p("owners/big-dir")] = (100000, 100000)
put("owners/big-dir/inner", b"inner\n", owner=(4000000000, 1))

# ------------------------------------------------------------------ times/
mkdirs("times")
TIMES = {
    "epoch": 0,
    "minus-1s": -10**9,
    "minus-half": -5 * 10**8,
    "y1966": -110000000 * 10**9 + 123456789,
    "y2038-last": (2**31 - 1) * 10**9 + 999999999,
    "y2038": 2**31 * 10**9,
    "y2106": (2**32 + 7) * 10**9 + 1,
    "y2286": 10**10 * 10**9 + 5,
    "t-plus-1ns": T_NS + 1,
    "t-minus-1ns": T_NS - 1,
    "nanos": 1234567890 * 10**9 + 987654321,
}
for n, t in TIMES.items():
    put("times/" + n, n.encode() + b"\n", mtime=t)
link("times/link-2040", "epoch", mtime=2208988800 * 10**9 + 42)
node("times/fifo-ns", stat.S_IFIFO, mode=0o644)
times[p("times/fifo-ns")] = 1600000000 * 10**9 + 999
mkdirs("times/dir-old")
times[p("times/dir-old")] = -2 * 10**9 + 7
times[p("times")] = 1900000000 * 10**9 + 123

# ------------------------------------------------------------------ xattrs/
mkdirs("xattrs")
capv2 = struct.pack("<IIIII", 0x02000001, (1 << 10) | (1 << 13), 0, 0, 0)  # v2 + effective; net_bind_service, net_raw
SAME = [("user.same.one", b"1"), ("user.same.two", b"second value"), ("trusted.same", b"t")]
for i in range(6):
    put("xattrs/same-%d" % i, b"same %d\n" % i, xattrs=SAME)
put("xattrs/cap", b"#!/bin/sh\n", mode=0o4755, xattrs=[("security.capability", capv2)])
put("xattrs/security", b"sec\n", xattrs=[("security.test", b"label"), ("security.selinux", b"system_u:object_r:bin_t:s0\0")])
# 50 xattrs (ext4 keeps all of a file's xattrs in one 4 KiB block: names and values stay short)
put("xattrs/many", text(5000), xattrs=[("user.m%02d-%s" % (i, "k" * rng.randint(0, 12)), noise(rng.randint(0, 24)))
                                       for i in range(50)])
put("xattrs/long-value", b"long\n", xattrs=[("user.long", noise(3000))])
put("xattrs/odd-values", b"odd\n", xattrs=[("user.empty", b""), ("user.nul", b"\0a\0b\0"),
                                           ("user." + "n" * 250, b"255-byte name"),
                                           ("trusted.t", bytes(range(256)))])
put("xattrs/tail-and-xattrs", text(4095), xattrs=[("user.t%d" % i, noise(30)) for i in range(8)])
mkdirs("xattrs/dir")
os.setxattr(p("xattrs/dir"), "user.on-dir", b"dir")
os.setxattr(p("xattrs/dir"), "trusted.overlay.opaque", b"y")
link("xattrs/link", "same-0", xattrs=[("trusted.link", b"on a symlink")])
node("xattrs/char", stat.S_IFCHR, 10, 200, 0o600, xattrs=[("trusted.node", b"char"), ("security.x", b"")])
put("xattrs/acl-file", b"acl\n", mode=0o640,
    xattrs=[("system.posix_acl_access",
             acl([(A_USER_OBJ, 6, NOID), (A_USER, 4, 1000), (A_USER, 6, 70000), (A_GROUP_OBJ, 4, NOID),
                  (A_GROUP, 4, 100), (A_MASK, 6, NOID), (A_OTHER, 0, NOID)])),
            ("user.with-acl", b"1")])
mkdirs("xattrs/acl-dir", mode=0o750)
os.setxattr(p("xattrs/acl-dir"), "system.posix_acl_access",
            acl([(A_USER_OBJ, 7, NOID), (A_USER, 5, 1000), (A_GROUP_OBJ, 5, NOID), (A_MASK, 5, NOID),
                 (A_OTHER, 0, NOID)]))
os.setxattr(p("xattrs/acl-dir"), "system.posix_acl_default",
            acl([(A_USER_OBJ, 7, NOID), (A_GROUP_OBJ, 5, NOID), (A_GROUP, 7, 2000), (A_MASK, 7, NOID),
                 (A_OTHER, 5, NOID)]))

# ------------------------------------------------------------------ top level
link("bin", "sizes/noise")
modes[ROOT] = 0o755

# ------------------------------------------------------------------ owners, modes, times
for path, (u, g) in owners.items():
    os.chown(path, u, g, follow_symlinks=False)
for path, m in modes.items():
    os.chmod(path, m)
everything = []
for d, dirs, files in os.walk(ROOT):
    for n in dirs + files:
        everything.append(d + b"/" + n)
everything.sort(key=lambda x: -x.count(b"/"))   # deepest first, so parents are stamped last
everything.append(ROOT)
for path in everything:
    t = times.get(path, T_NS)
    os.utime(path, ns=(t, t), follow_symlinks=False)
