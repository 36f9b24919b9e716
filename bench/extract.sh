#!/usr/bin/env bash
# Extract benchmark: our `extract` against the C fsck.erofs --extract and against copying the
# tree out of a kernel EROFS mount, same image, same run; then decoding throughput per
# algorithm inside one JVM. Needs root (kernel mount, drop_caches), erofs-utils, Java 25.
#
#   bench/extract.sh [SIZE_MB] [RUNS]      (defaults: 200 MB of real files, 3 runs each)
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
size=${1:-200}
runs=${2:-3}
work=${BENCH_WORK:-$top/bench/work}
fixtures=${FIXTURES_DIR:-$top/../shared/fixtures}
JAVA_HOME=$("$top/bin/java-home"); export JAVA_HOME
[ "$(id -u)" = 0 ] || { echo "bench: run as root (kernel mount, drop_caches)" >&2; exit 1; }
command -v fsck.erofs >/dev/null || { echo "bench: install erofs-utils" >&2; exit 1; }
[ -f "$top/target/quarkus-app/quarkus-run.jar" ] && [ -d "$top/target/test-classes" ] \
  || (cd "$top" && ./mvnw -q -B package -DskipTests)

mkdir -p "$work"
tree=$work/tree
if [ ! -d "$tree" ]; then
  echo "== building a ${size} MB tree of real files in $tree"
  "$top/bench/make-tree.sh" "$tree" "$size"
fi
img=$work/lz4hc.erofs
[ -f "$img" ] || mkfs.erofs -zlz4hc -T1710000000 "$img" "$tree" >/dev/null
plain=$work/plain.erofs
[ -f "$plain" ] || mkfs.erofs -T1710000000 "$plain" "$tree" >/dev/null
echo "tree: $(du -sm "$tree" | cut -f1) MB in $(find "$tree" | wc -l) paths; lz4hc image $(($(stat -c %s "$img") >> 20)) MB, plain image $(($(stat -c %s "$plain") >> 20)) MB"

out=$work/out
mnt=$work/mnt
mkdir -p "$mnt"
clean() { rm -rf "$out"; sync; echo 3 > /proc/sys/vm/drop_caches; }
best() { sort -n | head -1; }
timeit() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
kernel_cp() { mount -t erofs -o ro "$1" "$mnt"; cp -a "$mnt/." "$out/"; umount "$mnt"; }

declare -A T
for name in lz4hc plain; do
  image=$work/$name.erofs
  for tool in ours fsck kernel; do
    for _ in $(seq "$runs"); do
      clean
      case $tool in
        ours) t=$(timeit "$top/bin/csi-driver-erofs" extract "$image" "$out") ;;
        fsck) t=$(timeit fsck.erofs --extract="$out" "$image") ;;
        kernel) mkdir -p "$out"; t=$(timeit kernel_cp "$image") ;;
      esac
      echo "$t"
    done > "$work/times.$name.$tool"
    T[$name.$tool]=$(best < "$work/times.$name.$tool")
  done
done
rm -rf "$out"

printf '\n== extract, caches dropped before each run, best of %s (seconds; ratio = ours / other)\n' "$runs"
printf '%-8s %10s %14s %16s %12s %12s\n' image ours fsck.erofs kernel+cp ours/fsck ours/kernel
for name in lz4hc plain; do
  o=${T[$name.ours]} f=${T[$name.fsck]} k=${T[$name.kernel]}
  printf '%-8s %10.2f %14.2f %16.2f %12.2f %12.2f\n' "$name" "$o" "$f" "$k" "$(echo "$o / $f" | bc -l)" "$(echo "$o / $k" | bc -l)"
done

printf '\n== decoding throughput in one warm JVM (all files of the image, read sequentially, page cache warm)\n'
cp="$(ls "$top"/target/quarkus-app/lib/main/*.jar | tr '\n' :)$(ls "$top"/target/quarkus-app/app/*.jar | tr '\n' :)$top/target/test-classes"
"$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -cp "$cp" dev.csierofs.bench.DecodeThroughput \
  "$img" "$plain" "$fixtures"/{plain,lz4,lz4hc,lzma,deflate,zstd,48bit}.erofs
