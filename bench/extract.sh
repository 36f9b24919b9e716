#!/usr/bin/env bash
# Extract benchmark, all in one run on the same images:
#   ours      bin/csi-driver-erofs extract (JVM start-up included)
#   fsck      fsck.erofs --extract (erofs-utils, C)
#   kernel    mount -t erofs + cp -a out of the mount + umount
# Each run extracts into a tmpfs (so ext4 writeback of earlier runs does not add noise) with
# the image's page cache dropped first ("cold") or kept ("warm"). Then steady-state extraction
# inside one warm JVM, and decoding throughput per algorithm. Prints ratios ours/other.
# Needs root (mounts), erofs-utils, Java 25.
#
#   bench/extract.sh [SIZE_MB] [RUNS]      (defaults: 200 MB of real files, best of 3)
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
size=${1:-200}
runs=${2:-3}
work=${BENCH_WORK:-$top/bench/work}
fixtures=${FIXTURES_DIR:-$top/../shared/fixtures}
JAVA_HOME=$("$top/bin/java-home"); export JAVA_HOME
[ "$(id -u)" = 0 ] || { echo "bench: run as root (kernel and tmpfs mounts)" >&2; exit 1; }
command -v fsck.erofs >/dev/null || { echo "bench: install erofs-utils" >&2; exit 1; }
command -v bc >/dev/null || { echo "bench: install bc" >&2; exit 1; }
(cd "$top" && { ./mvnw -q -B -o package -DskipTests 2>/dev/null || ./mvnw -q -B package -DskipTests; })
"$top/bin/csi-driver-erofs" --version >/dev/null   # builds the start-up cache once

mkdir -p "$work"
tree=$work/tree
if [ ! -d "$tree" ]; then
  echo "== building a ${size} MB tree of real files in $tree"
  "$top/bench/make-tree.sh" "$tree" "$size"
fi
[ -f "$work/lz4hc.erofs" ] || mkfs.erofs -zlz4hc -T1710000000 "$work/lz4hc.erofs" "$tree" >/dev/null
[ -f "$work/plain.erofs" ] || mkfs.erofs -T1710000000 "$work/plain.erofs" "$tree" >/dev/null
echo "tree: $(du -sm "$tree" | cut -f1) MB, $(find "$tree" | wc -l) paths; images: lz4hc $(($(stat -c %s "$work/lz4hc.erofs") >> 20)) MB, plain $(($(stat -c %s "$work/plain.erofs") >> 20)) MB"

out=$work/out
mnt=$work/mnt
mkdir -p "$out" "$mnt"
mountpoint -q "$out" || mount -t tmpfs -o size=2g tmpfs "$out"
trap 'umount "$mnt" 2>/dev/null || true; umount "$out" 2>/dev/null || true' EXIT

prepare() { # $1 image, $2 cold|warm
  rm -rf "${out:?}"/*
  if [ "$2" = cold ]; then dd if="$1" iflag=nocache count=0 status=none; else cat "$1" >/dev/null; fi
}
timeit() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
kernel_cp() { mount -t erofs -o ro "$1" "$mnt"; cp -a "$mnt/." "$out/x"; umount "$mnt"; }
run_tool() { # $1 tool, $2 image
  case $1 in
    ours) timeit "$top/bin/csi-driver-erofs" extract "$2" "$out/x" ;;
    fsck) timeit fsck.erofs --extract="$out/x" "$2" ;;
    kernel) timeit kernel_cp "$2" ;;
  esac
}

printf '\n== extract into tmpfs, best of %s runs (seconds); ratio = ours / other\n' "$runs"
printf '%-7s %-5s %8s %8s %8s %11s %13s\n' image cache ours fsck kernel ours/fsck ours/kernel
for name in plain lz4hc; do
  image=$work/$name.erofs
  for cache in cold warm; do
    declare -A best=()
    for tool in ours fsck kernel; do
      for _ in $(seq "$runs"); do prepare "$image" "$cache"; run_tool "$tool" "$image"; done | sort -n | head -1 > "$work/t"
      best[$tool]=$(cat "$work/t")
    done
    printf '%-7s %-5s %8.2f %8.2f %8.2f %11.2f %13.2f\n' "$name" "$cache" "${best[ours]}" "${best[fsck]}" "${best[kernel]}" \
      "$(echo "${best[ours]} / ${best[fsck]}" | bc -l)" "$(echo "${best[ours]} / ${best[kernel]}" | bc -l)"
  done
done

cp="$(printf '%s:' "$top"/app/target/quarkus-app/lib/main/*.jar "$top"/app/target/quarkus-app/app/*.jar)$top/core/target/test-classes"
jvm=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC)
printf '\n== steady state: the same extraction repeated in one JVM (image warm), seconds per run\n'
for name in plain lz4hc; do
  rm -rf "${out:?}"/*
  times=$("${jvm[@]}" -cp "$cp" dev.csierofs.bench.ExtractLoop "$work/$name.erofs" "$out" 6 | tr '\n' ' ')
  prepare "$work/$name.erofs" warm
  f=$(for _ in $(seq "$runs"); do prepare "$work/$name.erofs" warm; run_tool fsck "$work/$name.erofs"; done | sort -n | head -1)
  last=$(echo "$times" | awk '{print $NF}')
  printf '%-7s runs: %s  last/fsck = %.2f\n' "$name" "$times" "$(echo "$last / $f" | bc -l)"
done

printf '\n== decoding throughput in one warm JVM (every file, sequential 128 KiB reads, extent cache off)\n'
"${jvm[@]}" -Dcsierofs.zcache.bytes=0 -cp "$cp" dev.csierofs.bench.DecodeThroughput \
  "$work/lz4hc.erofs" "$work/plain.erofs" "$fixtures"/{lz4,lz4hc,lzma,deflate,zstd,48bit}.erofs
