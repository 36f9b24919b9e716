#!/usr/bin/env python3
"""Writes the source trees of the node e2e's images (run as root: owners, a device node,
trusted.* xattrs).

usage: make_trees.py OUTDIR      (OUTDIR must not exist)

OUTDIR/v1, v2, v3: three versions of one small root-file-system-like image. v2 is v1 with a few
files changed, removed and added; v3 is v2 changed a little more. Most file contents are the same
in all three, which is what the content store should keep only once. Each version carries a real
ELF executable (the host's `ls`) and, if the host has one, its libc.
OUTDIR/base, top: two layers of one volume, for a kernel overlayfs (lowerdir=top:base) to compare
with. top replaces a file, adds files, hides a base file and a base directory with whiteouts
(character devices 0:0) and hides a base directory's content with an opaque directory
(trusted.overlay.opaque=y).

Content is deterministic (seeded), except the host's binaries. With E2E_BUSYBOX=PATH (a static
busybox), every version and the base layer also carry it as bin/busybox: the kind run's pods run
it from their volume, so that its mapping shows in /proc/1/maps.
"""
import glob
import hashlib
import os
import random
import shutil
import stat
import sys

WORDS = ("erofs image layer page cache inode block extent volume mount kubelet pod node digest "
         "store content share read only fuse kernel overlay whiteout opaque directory file data "
         "compressed cluster lz4 superblock xattr symlink device manifest").split()


def text(label, size):
    """Compressible text of `size` bytes, the same for the same label."""
    rnd = random.Random(label)
    out, n = [], 0
    while n < size:
        line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(4, 14))) + "\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()[:size]


def noise(label, size):
    """Incompressible bytes, the same for the same label."""
    return hashlib.shake_256(label.encode()).digest(size)


def host_file(*patterns):
    for p in patterns:
        for hit in sorted(glob.glob(p)):
            if os.path.isfile(hit):
                return os.path.realpath(hit)
    return None


# A tree is a dict: path -> entry. Entries:
#   ("file", bytes, mode[, uid, gid])  ("copy", host path, mode)  ("link", target)
#   ("hard", other path)  ("dir", mode[, xattrs])  ("chr", major, minor)
def version1():
    t = {}
    t["etc/app.conf"] = ("file", b"# app configuration\nversion = 1\nlisten = 127.0.0.1:8080\n" + text("app.conf", 600), 0o644)
    t["etc/hostname"] = ("file", b"e2e-node\n", 0o644)
    t["etc/empty.conf"] = ("file", b"", 0o644)
    for i in range(10):
        t[f"etc/app.d/{i:02d}-part.conf"] = ("file", text(f"part-{i}", 200 + 97 * i), 0o644)
    ls = host_file("/usr/bin/ls", "/bin/ls")
    if not ls:
        sys.exit("make_trees.py: no ls binary on this host (/usr/bin/ls, /bin/ls) to put in the images")
    t["usr/bin/e2e-ls"] = ("copy", ls, 0o755)  # run from a target by run.sh
    for i in range(3):
        t[f"usr/bin/tool-{i:02d}"] = ("file", noise(f"tool-{i}", 20000 + 17000 * i), 0o755)
    libc = host_file("/usr/lib/x86_64-linux-gnu/libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6", "/usr/lib/*/libc.so.6",
                     "/lib/*/libc.so.6")
    if libc:
        t["usr/lib/e2e/libc.so.6"] = ("copy", libc, 0o755)
        t["usr/lib/e2e/libc-e2e.so"] = ("link", "libc.so.6")
    for i in range(30):
        t[f"usr/share/doc/pkg{i:02d}/README"] = ("file", text(f"readme-{i}", 2048 + 509 * i), 0o644)
        t[f"usr/share/doc/pkg{i:02d}/changelog"] = ("file", text(f"changelog-{i}", 8192 + 1913 * i), 0o644)
    for i in range(8):
        t[f"var/lib/data/blob-{i:02d}.bin"] = ("file", noise(f"blob-{i}", 65536 + 24571 * i), 0o644)
    t["var/log/empty.log"] = ("file", b"", 0o640)
    t["srv/dup-a.txt"] = ("file", text("dup", 32768), 0o644)
    t["srv/dup-b.txt"] = ("file", text("dup", 32768), 0o644)  # same content, another inode
    t["srv/hard-1"] = ("file", text("hard", 5000), 0o644)
    t["srv/hard-2"] = ("hard", "srv/hard-1")
    t["srv/owned"] = ("file", text("owned", 3000), 0o640, 1000, 1000)
    t["srv/dangling"] = ("link", "/nonexistent/target")
    t["srv/to-app"] = ("link", "../etc/app.conf")
    t["var/tmp"] = ("dir", 0o1777)
    add_busybox(t)
    return t


def add_busybox(t):
    busybox = os.environ.get("E2E_BUSYBOX")
    if busybox:
        if not os.path.isfile(busybox):
            sys.exit(f"make_trees.py: E2E_BUSYBOX={busybox} is not a file")
        t["bin/busybox"] = ("copy", busybox, 0o755)


def version2():
    t = version1()
    t["etc/app.conf"] = ("file", b"# app configuration\nversion = 2\nlisten = 127.0.0.1:8081\n" + text("app.conf", 600), 0o644)
    for i in range(6):  # new changelog entries: mostly the same bytes, another content
        t[f"usr/share/doc/pkg{i:02d}/changelog"] = ("file", text(f"v2-entry-{i}", 700) + text(f"changelog-{i}", 8192 + 1913 * i), 0o644)
    t["var/lib/data/blob-03.bin"] = ("file", noise("blob-03-v2", 90000), 0o644)
    t["usr/bin/tool-01"] = ("file", noise("tool-1-v2", 37000), 0o755)
    del t["var/lib/data/blob-07.bin"]
    del t["usr/share/doc/pkg29/README"], t["usr/share/doc/pkg29/changelog"]
    t["usr/share/doc/pkg30/README"] = ("file", text("readme-30", 3000), 0o644)
    t["var/lib/data/blob-08.bin"] = ("file", noise("blob-8", 120000), 0o644)
    return t


def version3():
    t = version2()
    t["etc/app.conf"] = ("file", b"# app configuration\nversion = 3\nlisten = 127.0.0.1:8082\n" + text("app.conf", 600), 0o644)
    for i in range(6, 9):
        t[f"usr/share/doc/pkg{i:02d}/changelog"] = ("file", text(f"v3-entry-{i}", 900) + text(f"changelog-{i}", 8192 + 1913 * i), 0o644)
    t["var/lib/data/blob-09.bin"] = ("file", noise("blob-9", 70000), 0o644)
    return t


def base_layer():
    t = {}
    t["etc/app.conf"] = ("file", b"layer = base\n" + text("base-app", 900), 0o644)
    t["etc/keep.conf"] = ("file", text("keep", 400), 0o644)
    t["etc/removed.conf"] = ("file", text("removed", 300), 0o644)
    t["usr/share/doc/hidden/a.txt"] = ("file", text("hidden-a", 1500), 0o644)
    t["usr/share/doc/hidden/b.txt"] = ("file", text("hidden-b", 2500), 0o644)
    t["usr/share/doc/hidden/sub/c.txt"] = ("file", text("hidden-c", 700), 0o644)
    t["usr/share/doc/visible/README"] = ("file", text("visible", 4000), 0o644)
    t["var/cache/old/x.bin"] = ("file", noise("old-x", 30000), 0o644)
    t["var/cache/old/y.bin"] = ("file", noise("old-y", 20000), 0o644)
    for i in range(5):
        t[f"usr/lib/base/data-{i}.bin"] = ("file", noise(f"base-data-{i}", 40000 + 9000 * i), 0o644)
    t["usr/lib/base/current"] = ("link", "data-0.bin")
    t["srv/shared.txt"] = ("file", text("shared", 12000), 0o644)
    add_busybox(t)
    return t


def top_layer():
    t = {}
    t["etc/app.conf"] = ("file", b"layer = top\n" + text("top-app", 1100), 0o644)  # replaces base's
    t["etc/new.conf"] = ("file", text("new-conf", 500), 0o644)
    t["etc/removed.conf"] = ("chr", 0, 0)  # whiteout: hides base's file
    t["var/cache/old"] = ("chr", 0, 0)  # whiteout of a whole base directory
    t["usr/share/doc/hidden"] = ("dir", 0o755, {"trusted.overlay.opaque": b"y"})  # base's content hidden
    t["usr/share/doc/hidden/only-top.txt"] = ("file", text("only-top", 800), 0o644)
    t["opt/new/tool.txt"] = ("file", text("tool", 2000), 0o644)
    t["opt/new/data.bin"] = ("file", noise("top-data", 50000), 0o644)
    t["usr/lib/base/data-5.bin"] = ("file", noise("base-data-5", 30000), 0o644)  # new file in a merged directory
    return t


def write(root, tree):
    os.makedirs(root)
    for path in sorted(tree, key=lambda p: (p.count("/"), p)):
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        e = tree[path]
        kind = e[0]
        if kind == "file":
            with open(full, "wb") as f:
                f.write(e[1])
            os.chmod(full, e[2])
            if len(e) > 3:
                os.chown(full, e[3], e[4])
        elif kind == "copy":
            shutil.copyfile(e[1], full)
            os.chmod(full, e[2])
        elif kind == "link":
            os.symlink(e[1], full)
        elif kind == "hard":
            os.link(os.path.join(root, e[1]), full)
        elif kind == "dir":
            os.makedirs(full, exist_ok=True)
            os.chmod(full, e[1])
            for name, value in (e[2] if len(e) > 2 else {}).items():
                os.setxattr(full, name, value)
        elif kind == "chr":
            os.mknod(full, 0o600 | stat.S_IFCHR, os.makedev(e[1], e[2]))
        else:
            raise ValueError(kind)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make_trees.py OUTDIR")
    out = sys.argv[1]
    if os.path.exists(out):
        sys.exit(f"make_trees.py: {out} exists")
    for name, tree in (("v1", version1()), ("v2", version2()), ("v3", version3()), ("base", base_layer()),
                       ("top", top_layer())):
        write(os.path.join(out, name), tree)


if __name__ == "__main__":
    main()
