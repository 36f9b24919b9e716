#!/usr/bin/env bash
# FUSE benchmark: our `mount` against the kernel's EROFS mount of the same image, in one run,
# for the uncompressed and the lz4hc image of bench/extract.sh's 200 MB tree:
#   walk      find -printf '%s' (a stat of every path)
#   tar       tar cf - . | wc -c (reads every file; GNU tar skips reading when writing /dev/null)
#   seq       cat of the largest file
#   random    20,000 random 4 KiB preads over the largest files (python)
# each with caches dropped ("cold") and right after a first pass ("warm"); prints ours/kernel.
# Ours runs twice: with passthrough to the content store (its files are stored by the first
# pass; "first" is a whole-tree read with an empty store), and with --no-passthrough (the daemon
# serves every READ from its own page cache).
# Needs root. Usage: bench/fuse.sh [RUNS]   (best of RUNS, default 3)
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
runs=${1:-3}
work=${BENCH_WORK:-$top/bench/work}
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
{ [ -f "$work/plain.erofs" ] && [ -f "$work/lz4hc.erofs" ]; } || { echo "bench: run bench/extract.sh first (it builds the images)" >&2; exit 1; }
"$top/bin/csi-driver-erofs" --version >/dev/null
kmnt=$work/kernel-mnt; fmnt=$work/fuse-mnt
mkdir -p "$kmnt" "$fmnt"
daemon=
cleanup() { [ -n "$daemon" ] && kill "$daemon" 2>/dev/null; umount "$kmnt" 2>/dev/null || true; umount -l "$fmnt" 2>/dev/null || true; }
trap cleanup EXIT

drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
timeit() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
walk() { find "$1" -printf '%s\n' | wc -l; }
tarall() { tar cf - -C "$1" . | wc -c; }
seqread() { cat "$1/$biggest"; }
random_reads() {
  python3 - "$1" "$work/random-files" <<'PY'
import os, random, sys
root = sys.argv[1]
files = [os.path.join(root, l.rstrip("\n")) for l in open(sys.argv[2])]
fds = [(os.open(p, os.O_RDONLY), os.path.getsize(p)) for p in files]
rnd = random.Random(42)
for _ in range(20000):
    fd, size = fds[rnd.randrange(len(fds))]
    os.pread(fd, 4096, rnd.randrange(0, size - 4096) & ~4095)
PY
}
best() { # $1 mode cold|warm, rest: command
  local mode=$1; shift; local t b=
  for _ in $(seq "$runs"); do
    if [ "$mode" = cold ]; then drop; else "$@" >/dev/null 2>&1; fi
    t=$(timeit "$@")
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}

# the files the read tests use, chosen once from the source tree (outside the timings)
tree=$work/tree
biggest=$(cd "$tree" && find . -type f -printf '%s %P\n' | sort -n | tail -1 | cut -d' ' -f2-)
(cd "$tree" && find . -type f -size +64k -printf '%s %P\n' | sort -n | tail -50 | cut -d' ' -f2-) > "$work/random-files"

store=$work/fuse-store
printf '%-7s %-15s %-13s %-5s %9s %9s %9s\n' image ours test cache ours kernel ratio
for name in plain lz4hc; do
  image=$work/$name.erofs
  mount -t erofs -o ro "$image" "$kmnt"
  for mode in passthrough no-passthrough; do
    rm -rf "$store"
    opts=(--store "$store"); [ "$mode" = no-passthrough ] && opts+=(--no-passthrough)
    "$top/bin/csi-driver-erofs" mount "${opts[@]}" "$image" "$fmnt" 2>/dev/null &
    daemon=$!
    for _ in $(seq 100); do grep -q " $fmnt " /proc/self/mountinfo && break; sleep 0.1; done
    if [ "$mode" = passthrough ]; then # the first read of everything, store empty: decode, hash, store
      drop; o=$(timeit tarall "$fmnt"); drop; k=$(timeit tarall "$kmnt")
      printf '%-7s %-15s %-13s %-5s %9.3f %9.3f %9.2f\n' "$name" "$mode" tarall first "$o" "$k" "$(echo "$o / $k" | bc -l)"
    fi
    for test in walk tarall seqread random_reads; do
      for cache in cold warm; do
        o=$(best "$cache" "$test" "$fmnt")
        k=$(best "$cache" "$test" "$kmnt")
        printf '%-7s %-15s %-13s %-5s %9.3f %9.3f %9.2f\n' "$name" "$mode" "$test" "$cache" "$o" "$k" "$(echo "$o / $k" | bc -l)"
      done
    done
    "$top/bin/csi-driver-erofs" umount "$fmnt"
    wait "$daemon" || true
    daemon=
  done
  umount "$kmnt"
done
rm -rf "$store"
