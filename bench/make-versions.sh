#!/usr/bin/env bash
# Builds the two image versions that bench/memory.sh mounts, from real ELF binaries and shared
# libraries of this machine (/usr/bin, /usr/sbin, /usr/libexec, /usr/lib/x86_64-linux-gnu and the
# JDK 17 libraries), kept at their own paths so the trees look like a distribution's:
#   $work/mem/v1           about 150 MB of ELF files, picked at random with a fixed seed, plus the
#                          symlinks that point at them (kept as symlinks, e.g. libfoo.so.1)
#   $work/mem/v2           v1 with about 20% of its files changed, like an image update: a third
#                          modified (half with a few bytes rewritten, half holding another real
#                          file's content), a third removed, a third added (real files not in v1)
#   $work/mem/v{1,2}.erofs mkfs.erofs -zlz4hc of each tree (Debian's erofs-utils 1.5), with a fixed
#                          timestamp and UUID so the same machine gives the same images
#   $work/mem/unique-bytes the sum of the sizes of the distinct regular-file contents (by sha256)
#                          over v1 ∪ v2: the least page cache that reading both versions can cost
#   $work/mem/execs        binaries (in both versions, never changed) memory.sh runs from mounts
# Only one path per inode is taken (the 20 hard links of Mesa's dri driver would otherwise weigh
# the trees with duplicates), files over 24 MiB are skipped (libLLVM, node) so no single file
# dominates, and setuid/setgid bits are dropped. Skips everything when the outputs are newer than
# this script, unless --force.
# Needs root (reads root-only files, keeps owners).
#
#   bench/make-versions.sh [--force]      (MEM_TREE_MB=150, MEM_SEED=42 override size and seed)
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
work=${BENCH_WORK:-$top/bench/work}
mem=$work/mem
size_mb=${MEM_TREE_MB:-150}
seed=${MEM_SEED:-42}
force=0
case ${1:-} in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: bench/make-versions.sh [--force]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
mkfs=/usr/bin/mkfs.erofs
[ -x "$mkfs" ] || { echo "bench: install erofs-utils ($mkfs)" >&2; exit 1; }
self=$(readlink -f "$0")

up_to_date() {
  local f
  for f in v1.erofs v2.erofs unique-bytes execs summary; do
    [ "$mem/$f" -nt "$self" ] || return 1
  done
  [ "$(cat "$mem/params" 2>/dev/null)" = "$size_mb $seed" ]   # built with this size and seed
}
if [ "$force" = 0 ] && up_to_date; then
  echo "== $mem is up to date (--force rebuilds)"
  cat "$mem/summary"
  exit 0
fi

mkdir -p "$mem"
rm -rf "$mem/v1" "$mem/v2" "$mem"/v{1,2}.erofs "$mem/unique-bytes" "$mem/summary"
echo "$size_mb $seed" > "$mem/params"
start=$(date +%s)
echo "== building v1 (${size_mb} MB of ELF files, seed $seed) and v2 in $mem"

# Binaries that memory.sh execs from each mount: they run with --version, exit 0, and only need
# libraries from the host (the dynamic loader does not look in the mount).
execs="usr/bin/bash usr/bin/ls usr/bin/sort usr/bin/tar usr/bin/grep usr/bin/find usr/bin/gzip
usr/bin/perl usr/bin/python3.11 usr/bin/zstd usr/bin/git usr/bin/gpg usr/bin/vim.basic"

python3 - "$mem" "$size_mb" "$seed" "$execs" <<'PY' | tee "$mem/summary"
import hashlib, os, random, shutil, stat, sys

mem, budget, seed, execs = sys.argv[1], int(sys.argv[2]) << 20, int(sys.argv[3]), sys.argv[4].split()
SOURCES = ["/usr/bin", "/usr/sbin", "/usr/libexec", "/usr/lib/x86_64-linux-gnu",
           "/usr/lib/jvm/java-17-openjdk-amd64"]
MAX_FILE = 24 << 20
CHANGED = 0.20

def is_elf(path):
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:          # unreadable: skipped
        return False

# The candidates, walked in sorted order so the pool (and with the seed, the pick) is stable.
# rel paths are relative to /, e.g. usr/bin/ls; files are keyed by their resolved path so that
# symlinks can be matched to them.
pool, links, seen = [], [], set()
for src in SOURCES:
    for d, dirs, names in os.walk(src):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(d, n)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            if stat.S_ISLNK(st.st_mode):
                links.append(p)
            elif stat.S_ISREG(st.st_mode) and 0 < st.st_size <= MAX_FILE:
                if (st.st_dev, st.st_ino) in seen or not is_elf(p):
                    continue
                seen.add((st.st_dev, st.st_ino))
                pool.append(os.path.realpath(p))
            # devices, fifos, sockets, empty and too large files: not taken

size = {p: os.path.getsize(p) for p in pool}
rel = lambda p: p.lstrip("/")
rnd = random.Random(seed)

forced = [p for p in pool if rel(p) in execs]
missing = set(execs) - {rel(p) for p in forced}
if missing:
    sys.exit("make-versions: not found or not ELF here: " + " ".join(sorted(missing)))
order = [p for p in pool if rel(p) not in execs]
rnd.shuffle(order)
v1, total = list(forced), sum(size[p] for p in forced)
extras = []
for p in order:
    if total < budget and total + size[p] <= budget + (4 << 20):
        v1.append(p); total += size[p]
    else:
        extras.append(p)   # not in v1: the files v2 adds, or whose content it borrows

# v2: about 20% of v1's files change, a third each modified, removed, added.
changeable = [p for p in v1 if rel(p) not in execs]
rnd.shuffle(changeable)
third = round(len(v1) * CHANGED / 3)
modified, removed = changeable[:third], changeable[third:2 * third]
added, donors = extras[:third], extras[third:2 * third]

# A version is {rel path: (content source, patch)}; patch = [(offset, bytes)] rewritten after copy.
v1_spec = {rel(p): (p, None) for p in v1}
v2_spec = dict(v1_spec)
for p in removed:
    del v2_spec[rel(p)]
for i, p in enumerate(modified):
    if i % 2 == 0:   # a few bytes rewritten: 8 spots of 16 random bytes
        patch = [(rnd.randrange(max(1, size[p] - 16)), rnd.randbytes(16)) for _ in range(8)]
        v2_spec[rel(p)] = (p, patch)
    else:            # the content of another real file, under the same path and mode
        v2_spec[rel(p)] = (donors[i // 2], None)
for p in added:
    v2_spec[rel(p)] = (p, None)

def build(tree, spec):
    for r, (src, patch) in sorted(spec.items()):
        dst = os.path.join(tree, r)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        if patch:
            with open(dst, "r+b") as fh:
                for off, data in patch:
                    fh.seek(off); fh.write(data)
        st = os.stat("/" + r)   # mode and owner of the path on the host (no setuid/setgid)
        os.chown(dst, st.st_uid, st.st_gid)
        os.chmod(dst, stat.S_IMODE(st.st_mode) & 0o1777)
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
    # symlinks that lead to a file of this version, with their original target text
    n = 0
    for l in links:
        target = os.path.realpath(l)
        if rel(target) in spec and rel(l) not in spec:
            dst = os.path.join(tree, rel(l))
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            os.symlink(os.readlink(l), dst)
            n += 1
    return n

def census(tree, uniq):
    files = dirs = nbytes = 0
    for d, ds, fs in os.walk(tree):
        dirs += len(ds)
        for f in fs:
            p = os.path.join(d, f)
            if os.path.islink(p):
                continue
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                while chunk := fh.read(1 << 20):
                    h.update(chunk)
            files += 1; nbytes += os.path.getsize(p)
            uniq[h.hexdigest()] = os.path.getsize(p)
    return files, dirs, nbytes

uniq = {}
for name, spec in (("v1", v1_spec), ("v2", v2_spec)):
    nlinks = build(os.path.join(mem, name), spec)
    files, dirs, nbytes = census(os.path.join(mem, name), uniq)
    print(f"{name}: {files} files, {nbytes / 2**20:.1f} MiB; {nlinks} symlinks, {dirs} directories")
print(f"v2 vs v1: {len(modified)} modified ({(len(modified) + 1) // 2} bytes rewritten, "
      f"{len(modified) // 2} another file's content), {len(removed)} removed, {len(added)} added")
unique = sum(uniq.values())
print(f"unique content over v1 ∪ v2: {unique} bytes ({unique / 2**20:.1f} MiB, {len(uniq)} contents)")
with open(os.path.join(mem, "unique-bytes"), "w") as fh:
    fh.write(f"{unique}\n")
with open(os.path.join(mem, "execs"), "w") as fh:
    fh.write("\n".join(execs) + "\n")
PY

for v in v1 v2; do
  # fixed timestamp and UUID: the same trees give byte-identical images
  "$mkfs" --quiet -zlz4hc -T1710000000 -U 5f0e7a52-3c1d-4e8b-9a64-0b1e2c3d4e5f "$mem/$v.erofs.tmp" "$mem/$v"
  mv "$mem/$v.erofs.tmp" "$mem/$v.erofs"
done
echo "images (lz4hc): v1.erofs $(($(stat -c %s "$mem/v1.erofs") >> 20)) MiB, v2.erofs $(($(stat -c %s "$mem/v2.erofs") >> 20)) MiB" | tee -a "$mem/summary"
touch "$mem/unique-bytes" "$mem/execs" "$mem/summary"   # newer than the images: up to date next time
echo "built in $(($(date +%s) - start)) s"
