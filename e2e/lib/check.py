#!/usr/bin/env python3
"""Checks of the end-to-end runs that are easier in Python than in bash, shared by the node run
(e2e/node) and the kind run (e2e/kind). Each prints what it found and exits 1 when the check
fails (2 on bad usage).

  check.py readonly TARGET...           writes into each target fail with EROFS
  check.py mountinfo TARGET...          each target is exactly one mount, read-only
  check.py leftovers ROOT               no mount under ROOT, no fuse.erofs mount of a file under ROOT
  check.py ours ROOT                    prints the mount points of those mounts, in mount order (for clean-up)
  check.py scrape URL FILE              saves the plugin's Prometheus metrics
  check.py metrics URL NAME=VALUE...    the named metrics have exactly these values
  check.py sharing BEFORE AFTER MANIFEST:TARGETS...
                                        the content-sharing check (see sharing() below)
  check.py contents EXPECTED SUMS       SUMS (`sha256sum` of every regular file, paths relative to the
                                        volume) names exactly EXPECTED's regular files with their digests;
                                        EXPECTED is a manifest.py manifest or such a sums file
  check.py maps MAPS PATH [NOT]...      a /proc/<pid>/maps copy maps PATH, and no line names a NOT prefix
  check.py growth BEFORE AFTER          more volumes reading the same images: shared bytes grew, while
                                        the store's files and bytes did not
"""
import errno
import os
import re
import sys
import urllib.request


def fail(msg):
    print("  error: " + msg)
    return 1


# --- /proc/self/mountinfo ---

def unescape(s):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), s)


def mounts():
    """(mount point, per-mount options, fs type, source, superblock options) per mount, in mount order."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-", 6)
            out.append((unescape(fields[4]), fields[5].split(","), fields[sep + 1], unescape(fields[sep + 2]),
                        fields[sep + 3].split(",")))
    return out


def under(path, root):
    return path == root or path.startswith(root.rstrip("/") + "/")


def readonly(targets):
    """Creating a file, opening an existing file for writing and making a directory: each must fail with EROFS."""
    bad = 0
    for t in targets:
        existing = None
        for dirpath, _, files in os.walk(t):
            regular = [f for f in sorted(files) if os.path.isfile(os.path.join(dirpath, f))
                       and not os.path.islink(os.path.join(dirpath, f))]
            if regular:
                existing = os.path.join(dirpath, regular[0])
                break
        new_file = os.path.join(t, f".e2e-write-test-{os.getpid()}")
        new_dir = os.path.join(t, f".e2e-mkdir-test-{os.getpid()}")
        attempts = [("create a file", lambda: os.close(os.open(new_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)),
                     lambda: os.unlink(new_file)),
                    ("make a directory", lambda: os.mkdir(new_dir), lambda: os.rmdir(new_dir))]
        if existing:
            attempts.append(("open " + os.path.relpath(existing, t) + " for writing", lambda: os.close(os.open(existing, os.O_WRONLY)),
                             lambda: None))
        else:
            bad += fail(f"{t}: no regular file to try writing to")
        for what, attempt, undo in attempts:
            try:
                attempt()
                undo()
                bad += fail(f"{t}: could {what}: the volume is writable")
            except OSError as e:
                if e.errno != errno.EROFS:
                    bad += fail(f"{t}: {what} failed with {errno.errorcode.get(e.errno, e.errno)} ({e.strerror}), not EROFS")
    if not bad:
        print(f"  ok: {len(targets)} target(s): creating a file, making a directory and opening a file for writing fail with EROFS")
    return 1 if bad else 0


def mountinfo(targets):
    """Each target is exactly one mount in /proc/self/mountinfo (nothing stacked on it), and that mount
    is read-only: 'ro' in its per-mount options, or in its superblock options."""
    bad = 0
    table = mounts()
    kinds = {}
    for t in targets:
        t = os.path.realpath(t)
        at = [m for m in table if m[0] == t]
        if len(at) != 1:
            bad += fail(f"{t}: {len(at)} mounts in /proc/self/mountinfo, expected exactly 1: "
                        + "; ".join(f"{m[2]} {m[3]} {','.join(m[1])}" for m in at))
            continue
        point, opts, fstype, source, sbopts = at[0]
        if "ro" not in opts and "ro" not in sbopts:
            bad += fail(f"{t}: mounted read-write ({fstype} {source}, mount options {','.join(opts)}, superblock {','.join(sbopts)})")
        kind = f"{fstype} ({'ro' if 'ro' in opts else 'rw'} mount, {'ro' if 'ro' in sbopts else 'rw'} superblock)"
        kinds[kind] = kinds.get(kind, 0) + 1
    if not bad:
        print(f"  ok: each of {len(targets)} target(s) is one read-only mount: "
              + ", ".join(f"{n} x {k}" for k, n in sorted(kinds.items())))
    return 1 if bad else 0


def ours(root):
    """Mounts of ours: any mount point under ROOT, and any fuse.erofs mount whose source is under ROOT."""
    root = os.path.realpath(root)
    return [m for m in mounts() if under(m[0], root) or (m[2] == "fuse.erofs" and under(m[3], root))]


def leftovers(root):
    left = ours(root)
    for m in left:
        fail(f"left mounted: {m[0]} ({m[2]} from {m[3]})")
    if not left:
        print(f"  ok: no mount under {os.path.realpath(root)} and no fuse.erofs mount of an image under it in /proc/self/mountinfo")
    return 1 if left else 0


# --- metrics ---

def scrape(url, path=None):
    text = urllib.request.urlopen(url, timeout=10).read().decode()
    if path:
        with open(path, "w") as f:
            f.write(text)
    return text


def parse(text):
    values = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def metrics(url, expectations):
    got = parse(scrape(url))
    bad = 0
    for e in expectations:
        name, _, want = e.partition("=")
        if name not in got:
            bad += fail(f"metric {name} is missing from {url}")
        elif got[name] != float(want):
            bad += fail(f"metric {name} is {got[name]:g}, expected {want}")
    if not bad:
        print("  ok: metrics " + ", ".join(expectations))
    return 1 if bad else 0


def load_manifest(path):
    """The regular files of a manifest.py manifest: (path, size, sha256, inode) where inode is the
    first path of its hard links (the hlink column), or the path itself."""
    files = []
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            c = line.rstrip("\n").split("\t")
            if c[1] == "reg":
                files.append((c[0], int(c[5]), c[11], c[12] if c[12] != "-" else c[0]))
    return files


def sharing(before_file, after_file, images):
    """The content-sharing check, for a fresh state directory (empty store) and images whose
    targets were each read once, completely (manifest.py opens every regular file once), one image
    after the other, in the order given, between the two scrapes, and no other file opened:

      csi_erofs_image_mounts       = the number of images (one FUSE mount per image, however many targets)
      csi_erofs_volumes_published  = the number of targets
      csi_erofs_store_files        = 0 before; after: D, the distinct non-empty file contents of all images
      csi_erofs_store_bytes        = 0 before; after: B, the sum of those D contents' sizes
      csi_erofs_store_materialized_bytes = B (each content written to the store once)
      csi_erofs_store_fallbacks    = 0
      csi_erofs_opens_passthrough  grew by exactly the opens of non-empty files (sum over targets)
      csi_erofs_opens_cached       grew by exactly the opens of empty files (nothing to pass through)
      csi_erofs_shared_bytes       >= the bytes of inodes whose content was stored already when their
                                   image first opened them (the same content earlier in the same image
                                   or in an image read before)
    """
    before, after = parse(open(before_file).read()), parse(open(after_file).read())
    distinct, targets, opens_full, opens_empty, shared_min, seen, listed = {}, 0, 0, 0, 0, set(), 0
    for spec in images:
        path, _, count = spec.rpartition(":")
        count = int(count)
        files = load_manifest(path)
        targets += count
        listed += count * len(files)
        opens_full += count * sum(1 for f in files if f[1] > 0)
        opens_empty += count * sum(1 for f in files if f[1] == 0)
        inodes = {}
        for p, size, sha, inode in files:
            if size > 0:
                inodes[inode] = (size, sha)
                distinct[sha] = size
        by_content = {}
        for size, sha in inodes.values():
            by_content.setdefault(sha, []).append(size)
        for sha, sizes in by_content.items():
            shared_min += sum(sizes) if sha in seen else sum(sizes[1:])
        seen.update(by_content)
    d, b = len(distinct), sum(distinct.values())
    checks = [
        ("csi_erofs_store_files before reading", before.get("csi_erofs_store_files"), "==", 0),
        ("csi_erofs_store_bytes before reading", before.get("csi_erofs_store_bytes"), "==", 0),
        ("csi_erofs_volumes_published", after.get("csi_erofs_volumes_published"), "==", targets),
        ("csi_erofs_image_mounts", after.get("csi_erofs_image_mounts"), "==", len(images)),
        ("csi_erofs_store_files", after.get("csi_erofs_store_files"), "==", d),
        ("csi_erofs_store_bytes", after.get("csi_erofs_store_bytes"), "==", b),
        ("csi_erofs_store_materialized_bytes", after.get("csi_erofs_store_materialized_bytes"), "==", b),
        ("csi_erofs_store_fallbacks", after.get("csi_erofs_store_fallbacks"), "==", 0),
        ("csi_erofs_opens_passthrough growth", delta(before, after, "csi_erofs_opens_passthrough"), "==", opens_full),
        ("csi_erofs_opens_cached growth", delta(before, after, "csi_erofs_opens_cached"), "==", opens_empty),
        ("csi_erofs_shared_bytes", after.get("csi_erofs_shared_bytes"), ">=", shared_min),
    ]
    bad = 0
    for name, got, op, want in checks:
        if got is None:
            bad += fail(f"{name}: metric missing")
        elif not (got == want if op == "==" else got >= want):
            bad += fail(f"{name} is {got:.0f}, expected {op} {want}")
        else:
            print(f"  ok: {name} = {got:.0f} ({op} {want})")
    print(f"  {targets} targets showed {listed} regular files; the store holds {d} files, {b} bytes: "
          f"the distinct non-empty contents of the {len(images)} images, once")
    return 1 if bad else 0


def delta(before, after, name):
    if name not in before or name not in after:
        return None
    return after[name] - before[name]


def load_sums(path):
    """`sha256sum` output: relative path -> digest."""
    sums = {}
    for line in open(path):
        line = line.rstrip("\n")
        if line:
            sha, _, name = line.partition("  ")
            sums[name[2:] if name.startswith("./") else name.lstrip("/")] = sha
    return sums


def contents(expected, sums_file):
    """Every regular file expected, and nothing else, with the expected sha256."""
    with open(expected) as f:
        is_manifest = f.readline().startswith("#path")
    want = {p.lstrip("/"): sha for p, _, sha, _ in load_manifest(expected)} if is_manifest else load_sums(expected)
    got = load_sums(sums_file)
    bad = 0
    for path in sorted(set(want) | set(got)):
        if path not in got:
            bad += fail(f"{path}: in the image, not read from the volume")
        elif path not in want:
            bad += fail(f"{path}: read from the volume, not in the image")
        elif got[path] != want[path]:
            bad += fail(f"{path}: sha256 {got[path]}, the image has {want[path]}")
    if not bad:
        print(f"  ok: {len(got)} regular files, each with the image's sha256")
    return 1 if bad else 0


def maps(maps_file, path, forbidden):
    """The mapping names the volume's own path, never a store or other internal path."""
    lines = open(maps_file).read().splitlines()
    bad = 0
    if not any(line.endswith(" " + path) for line in lines):
        bad += fail(f"no mapping of {path} in {maps_file}")
    for prefix in forbidden:
        for line in lines:
            if prefix in line:
                bad += fail(f"a mapping names {prefix}: {line}")
    if not bad:
        print(f"  ok: {path} is mapped under its own path" + (f"; nothing under {', '.join(forbidden)}" if forbidden else ""))
    return 1 if bad else 0


def growth(before_file, after_file):
    """Pods added on the same images: memory shared, nothing stored twice."""
    before, after = parse(open(before_file).read()), parse(open(after_file).read())
    checks = [
        ("csi_erofs_shared_bytes", delta(before, after, "csi_erofs_shared_bytes"), ">", 0),
        ("csi_erofs_store_files", delta(before, after, "csi_erofs_store_files"), "==", 0),
        ("csi_erofs_store_bytes", delta(before, after, "csi_erofs_store_bytes"), "==", 0),
        ("csi_erofs_image_mounts", delta(before, after, "csi_erofs_image_mounts"), "==", 0),
    ]
    bad = 0
    for name, got, op, want in checks:
        if got is None:
            bad += fail(f"{name}: metric missing")
        elif not (got > want if op == ">" else got == want):
            bad += fail(f"{name} changed by {got:.0f}, expected {op} {want}")
        else:
            print(f"  ok: {name} changed by {got:.0f} ({op} {want})")
    return 1 if bad else 0


def main():
    if len(sys.argv) < 3:
        print(__doc__)
        return 2
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "readonly":
        return readonly(args)
    if cmd == "mountinfo":
        return mountinfo(args)
    if cmd == "leftovers" and len(args) == 1:
        return leftovers(args[0])
    if cmd == "ours" and len(args) == 1:
        for m in ours(args[0]):
            print(m[0])
        return 0
    if cmd == "scrape" and len(args) == 2:
        scrape(args[0], args[1])
        return 0
    if cmd == "metrics" and args:
        return metrics(args[0], args[1:])
    if cmd == "sharing" and len(args) >= 3:
        return sharing(args[0], args[1], args[2:])
    if cmd == "contents" and len(args) == 2:
        return contents(args[0], args[1])
    if cmd == "maps" and len(args) >= 2:
        return maps(args[0], args[1], args[2:])
    if cmd == "growth" and len(args) == 2:
        return growth(args[0], args[1])
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
