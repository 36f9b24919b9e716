#!/usr/bin/env bash
# Memory benchmark, the headline figure: what it costs in RAM to serve two versions of an image
# (bench/make-versions.sh: ~150 MB of real ELF files, v2 = v1 with 20% of the files changed)
# through 8 mounts, 4 of v1 and 4 of v2, like 8 pods on a node. After mounting, caches are
# dropped; then every regular file is read through every mount (cat, which really reads) and a
# few binaries are executed from each mount (so their text is mapped from the mount).
# Measured, per scenario, in one run:
#   page cache  growth of /proc/meminfo Cached: over the reads (node-wide: run on an idle machine)
#   anon        our daemon's private memory (RssAnon: heap, stacks, buffers) after the reads, and
#               its growth during them; its file-backed resident pages (libjvm, jars, the class
#               archive) are page cache shared with every other JVM, shown apart as VmRSS
#   total       page cache growth + anon, also as a multiple of the unique content bytes (the sum
#               of the sizes of the distinct file contents over v1 ∪ v2, the least possible)
# Scenarios:
#   kernel               8 file-backed kernel EROFS mounts: 8 superblocks, nothing shared between
#                        mounts but the images' own page cache. Made with mount(2) directly:
#                        Debian 12's mount(8) (util-linux 2.38) puts a loop device under an image
#                        file, and reuses that loop device for every mount of the same file
#   kernel-loop          mount -t erofs -o ro IMAGE DIR as mount(8) does it: one loop device and
#                        so one superblock (one page cache) per image, shared by its 4 mounts
#   ours                 ONE daemon holding the 8 mounts, content store in $work/mem/store
#                        (emptied first), FUSE passthrough on
#   ours-bind            as the CSI plugin does it: one FUSE mount per distinct image (2), and
#                        the other 6 as read-only bind mounts of those
#   ours-no-passthrough  ours with --no-passthrough
#   ours-plugin          the CSI plugin itself (bin/csi-driver-erofs serve), driven over its socket
#                        as kubelet drives it (e2e/node/CsiDriver.java): 8 volumes published, one
#                        FUSE mount per image and bind mounts, in the plugin's own process
# Then read throughput of one v1 mount, ours (passthrough, store already filled) against the
# kernel's: every file read, caches dropped ("cold") and again ("warm"), best of RUNS.
# Needs root. Usage: bench/memory.sh [RUNS]   (default 3)
#   BENCH_SCENARIOS=ours,ours-plugin   run only these scenarios (comma-separated; default: all)
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
runs=${1:-3}
work=${BENCH_WORK:-$top/bench/work}
mem=$work/mem
[ "$(id -u)" = 0 ] || { echo "bench: run as root" >&2; exit 1; }
command -v bc >/dev/null || { echo "bench: install bc" >&2; exit 1; }
"$top/bench/make-versions.sh"   # builds the trees and images once; quick when up to date
unique=$(cat "$mem/unique-bytes")
store=$mem/store
cli=$top/bin/csi-driver-erofs
JAVA_HOME=$("$top/bin/java-home")

# mount points 1-4 serve v1, 5-8 serve v2
images=() dirs=()
for i in 1 2 3 4 5 6 7 8; do
  images+=("$mem/v$(( i <= 4 ? 1 : 2 )).erofs")
  dirs+=("$mem/mnt/$i")
done
mkdir -p "${dirs[@]}"
# Our daemon is a JVM: its first minutes of work page in JIT-compiler code and classes (about
# 40 MiB of JDK and application files) that a long-running daemon has paged in long before. So
# each of our scenarios first reads a warm-up image of unrelated content (Python's standard
# library) through the same daemon, then caches are dropped and the measured reads begin.
warm_dir=$mem/mnt/warm warm_image=$mem/warm.erofs
mkdir -p "$warm_dir"
if [ ! -f "$warm_image" ]; then
  warm_src=$(find /usr/lib -maxdepth 1 -name 'python3*' -type d 2>/dev/null | sort | head -1)
  mkfs.erofs --quiet -zlz4hc "$warm_image" "${warm_src:-/usr/share/doc}" >/dev/null
fi
warm_up() { # reads the warm-up mount twice (enough calls for the JIT to compile the hot paths)
  find "$warm_dir" -type f -exec cat {} + >/dev/null 2>&1 || true
  find "$warm_dir" -type f -exec cat {} + >/dev/null 2>&1 || true
}

# --- cleanup: never leave a mount behind ---------------------------------------------------------
daemon=
mounted() { awk -v d="$1" '$5 == d { found = 1 } END { exit !found }' /proc/self/mountinfo; }
alive() { grep -qs '^State:[[:space:]]*[^Z]' "/proc/$1/status"; }   # a zombie counts as gone
stop_daemon() { # SIGTERM unmounts and ends it; it serves open files for --grace (10 s) at most
  [ -n "$daemon" ] || return 0
  kill -TERM "$daemon" 2>/dev/null || true
  for _ in $(seq 300); do alive "$daemon" || break; sleep 0.1; done
  if alive "$daemon"; then
    echo "bench: daemon $daemon still running 30 s after SIGTERM, killing it" >&2
    kill -KILL "$daemon" 2>/dev/null || true
  fi
  wait "$daemon" 2>/dev/null || true
  daemon=
}
unmount_all() { # kernel mounts, or whatever a daemon left
  local d
  for d in "${dirs[@]}" "$warm_dir"; do
    while mounted "$d"; do umount "$d" 2>/dev/null || umount -l "$d" || break; done
  done
}
cleanup() { stop_daemon; unmount_all; }
trap cleanup EXIT
trap 'exit 130' INT TERM HUP   # so that the EXIT trap runs on these too
unmount_all   # left over from an interrupted run

# --- can our daemon take part? (its multi-mount, --store and --no-passthrough may not exist yet) ---
ours_skip='' nopt_skip=''
if [ ! -f "$top/app/target/quarkus-app/quarkus-run.jar" ]; then
  ours_skip="not built (app/target/quarkus-app/quarkus-run.jar is missing; bin/csi-driver-erofs --version builds it)"
else
  help=$("$cli" mount --help 2>&1) || true
  if ! grep -q -- '--store' <<<"$help"; then
    ours_skip="this build's 'csi-driver-erofs mount' has no --store option yet (see mount --help)"
  fi
  grep -q -- '--no-passthrough' <<<"$help" || nopt_skip="this build's 'csi-driver-erofs mount' has no --no-passthrough option yet"
fi
[ -z "$nopt_skip" ] && nopt_skip=$ours_skip
[ -n "$ours_skip" ] && echo "bench: skipping ours and ours-no-passthrough: $ours_skip" >&2
[ -z "$ours_skip" ] && [ -n "$nopt_skip" ] && echo "bench: skipping ours-no-passthrough: $nopt_skip" >&2

# the binaries to exec from each mount: those that run here (from the v1 tree) with --version
execs=()
while read -r b; do
  if "$mem/v1/$b" --version </dev/null >/dev/null 2>&1; then execs+=("$b"); fi
done < "$mem/execs"

# --- measuring -----------------------------------------------------------------------------------
drop() { sync; echo 3 > /proc/sys/vm/drop_caches; }
cached_kib() { awk '/^Cached:/ { print $2 }' /proc/meminfo; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
anon_kib() { awk '/^RssAnon:/ { print $2 }' "/proc/$1/status"; }
mib() { echo "scale=1; $1 / 1024" | bc; }   # KiB -> MiB
resident_kib() { # page cache the given files hold (fincore), for the breakdown after the reads
  [ $# -gt 0 ] || { echo 0; return; }
  fincore --bytes --noheadings --output RES "$@" | awk '{ s += $1 } END { print int(s / 1024) }'
}
read_errors=0
read_all() { # every file through every mount, then each binary from each mount
  local d b
  for d in "${dirs[@]}"; do
    find "$d" -type f -exec cat {} + >/dev/null || { echo "bench: reading $d failed" >&2; read_errors=1; }
  done
  for d in "${dirs[@]}"; do
    for b in "${execs[@]}"; do
      "$d/$b" --version </dev/null >/dev/null 2>&1 || { echo "bench: $d/$b --version failed" >&2; read_errors=1; }
    done
  done
}
declare -A cache rss anon anongrowth settled note store_of
measure() { # $1 scenario, $2 daemon pid (empty for the kernel); all 8 mounts are up
  local c0 c1 r0=0 r1=0 a0=0 a1=0 s e b
  drop
  # the binaries run below load the host's shared libraries (libc, libpcre2...): load them now,
  # by running the host's own copies, so that the page cache growth counts only the mounts
  for b in "${execs[@]}"; do "/$b" --version </dev/null >/dev/null 2>&1 || true; done
  c0=$(cached_kib)
  [ -n "$2" ] && { r0=$(rss_kib "$2"); a0=$(anon_kib "$2"); }
  read_errors=0
  s=$(date +%s.%N)
  read_all
  e=$(date +%s.%N)
  c1=$(cached_kib)
  [ -n "$2" ] && { r1=$(rss_kib "$2"); a1=$(anon_kib "$2"); }
  cache[$1]=$((c1 - c0))
  if [ -n "$2" ]; then
    rss[$1]=$r1; anon[$1]=$a1; anongrowth[$1]=$((a1 - a0))
    # a daemon gives back what a burst of work took once it is idle: measure that too, after 8 s
    sleep 8
    settled[$1]=$(anon_kib "$2")
  fi
  [ "$read_errors" = 0 ] || note[$1]="READ ERRORS, see above"
  # where it went: the compressed images' own page cache counts in every scenario, the store's
  # files in ours; anonymous memory is the part of the daemon's RSS that no page cache holds
  printf '   read 8 mounts in %.1f s; page cache +%s MiB, of which images %s MiB\n' "$(echo "$e - $s" | bc)" \
    "$(mib "${cache[$1]}")" "$(mib "$(resident_kib "$mem/v1.erofs" "$mem/v2.erofs")")"
  if [ -n "$2" ]; then
    local stored
    stored=$(find "${store_of[$1]:-$store}" -xdev -type f -print0 | xargs -0 -r fincore --bytes --noheadings --output RES | awk '{ s += $1 } END { print int(s / 1024) }')
    printf '   store: %s MiB on disk, %s MiB in page cache; daemon VmRSS %s MiB (+%s), anonymous %s MiB (+%s)\n' \
      "$(($(du -skx "${store_of[$1]:-$store}" | cut -f1) / 1024))" "$(mib "$stored")" "$(mib "$r1")" "$(mib "$((r1 - r0))")" \
      "$(mib "$a1")" "$(mib "$((a1 - a0))")"
  fi
}

wait_mounted() { # $1 daemon pid, rest: mount points; up to 60 s
  local pid=$1 d missing; shift
  for _ in $(seq 300); do
    missing=0
    for d in "$@"; do mounted "$d" || { missing=1; break; }; done
    [ "$missing" = 0 ] && return 0
    alive "$pid" || return 1
    sleep 0.2
  done
  return 1
}

kmount() { # $1 image, $2 dir: a file-backed, read-only EROFS mount through mount(2)
  python3 - "$1" "$2" <<'PY'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY = 1
if libc.mount(os.path.abspath(sys.argv[1]).encode(), sys.argv[2].encode(), b"erofs", MS_RDONLY, None):
    sys.exit(f"mount {sys.argv[1]} on {sys.argv[2]}: {os.strerror(ctypes.get_errno())}")
PY
}

scenario_kernel() { # $1 kernel (file-backed mounts) or kernel-loop (mount(8), loop devices)
  local i
  if [ "$1" = kernel ]; then
    echo "== kernel: 8 file-backed kernel EROFS mounts (mount(2))"
    for i in "${!dirs[@]}"; do kmount "${images[$i]}" "${dirs[$i]}"; done
  else
    echo "== kernel-loop: 8 kernel EROFS mounts by mount -t erofs -o ro (loop devices)"
    for i in "${!dirs[@]}"; do mount -t erofs -o ro "${images[$i]}" "${dirs[$i]}"; done
  fi
  measure "$1" ""
  unmount_all
}

scenario_ours() { # $1 scenario name, rest: extra mount options
  local name=$1 log=$work/memory-$1.log i args=(); shift
  echo "== $name: one daemon, 8 mounts, store $store $*"
  rm -rf "$store"; mkdir -p "$store"
  for i in "${!dirs[@]}"; do args+=("${images[$i]}" "${dirs[$i]}"); done
  "$cli" mount --store "$store" --stats "$@" "${args[@]}" "$warm_image" "$warm_dir" 2>"$log" &
  daemon=$!
  if wait_mounted "$daemon" "${dirs[@]}" "$warm_dir"; then warm_up; else
    echo "bench: $name: the daemon did not get all 8 mounts up within 60 s (or exited); skipping. $log ends:" >&2
    tail -n 15 "$log" | sed 's/^/   /' >&2
    note[$name]="skipped: no 8 mounts (see $log)"
    stop_daemon; unmount_all
    return 0
  fi
  measure "$name" "$daemon"
  stop_daemon; unmount_all
  echo "   daemon stderr ($log) ends:"
  tail -n 5 "$log" | sed 's/^/   | /'
}

scenario_ours_bind() { # the CSI plugin's layout: one FUSE mount per distinct image, volumes as bind mounts
  local name=ours-bind log=$work/memory-ours-bind.log i
  echo "== $name: one daemon, one FUSE mount per image (v1 at ${dirs[0]}, v2 at ${dirs[4]}), 6 read-only bind mounts"
  rm -rf "$store"; mkdir -p "$store"
  "$cli" mount --store "$store" --stats "${images[0]}" "${dirs[0]}" "${images[4]}" "${dirs[4]}" "$warm_image" "$warm_dir" 2>"$log" &
  daemon=$!
  if wait_mounted "$daemon" "${dirs[0]}" "${dirs[4]}" "$warm_dir"; then warm_up; else
    echo "bench: $name: the daemon did not mount within 60 s; skipping" >&2
    note[$name]="skipped (see $log)"; stop_daemon; unmount_all; return 0
  fi
  for i in 1 2 3 5 6 7; do
    mount --bind "${dirs[$(( i < 4 ? 0 : 4 ))]}" "${dirs[$i]}"
    mount -o remount,bind,ro "${dirs[$i]}"
  done
  measure "$name" "$daemon"
  for i in 1 2 3 5 6 7; do umount "${dirs[$i]}"; done
  stop_daemon; unmount_all
  tail -n 1 "$log" | sed 's/^/   | /'
}

scenario_plugin() { # the CSI plugin: 8 volumes (4 of v1, 4 of v2) published over its socket, like 8 pods
  local name=ours-plugin pw=$work/plugin log=$work/memory-ours-plugin.log lib=$top/plugin/target/quarkus-app/lib/main i port
  echo "== $name: the CSI plugin (serve), 8 volumes published over its socket: 2 FUSE mounts + bind mounts"
  rm -rf "$pw"; mkdir -p "$pw/state" "$pw/driver"
  if ! "$JAVA_HOME/bin/javac" -d "$pw/driver" -cp "$lib/*" "$top/e2e/node/CsiDriver.java" 2>"$log"; then
    echo "bench: $name: e2e/node/CsiDriver.java does not compile against $lib; skipping" >&2
    note[$name]="skipped (see $log)"; return 0
  fi
  csi() { "$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow \
            -cp "$pw/driver:$lib/*" CsiDriver "$pw/csi.sock" >>"$log" 2>&1; }
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  store_of[$name]=$pw/state
  "$cli" serve --endpoint "unix://$pw/csi.sock" --node-id bench --state-dir "$pw/state" --image-root "$mem" \
      --metrics-port "$port" --unmount-grace 0s >>"$log" 2>&1 &
  daemon=$!
  # the warm-up volume first (as for the others), then the 8 measured ones
  if ! { echo "wait-ready 120 $daemon"
         echo "publish bench-warm $warm_dir SINGLE_NODE_READER_ONLY image=warm.erofs"
         for i in "${!dirs[@]}"; do
           echo "publish bench-$i ${dirs[$i]} SINGLE_NODE_READER_ONLY image=$(basename "${images[$i]}")"
         done; } | csi; then
    echo "bench: $name: the plugin did not publish the volumes; skipping. $log ends:" >&2
    tail -n 15 "$log" | sed 's/^/   /' >&2
    note[$name]="skipped: publish failed (see $log)"; stop_daemon; unmount_all; return 0
  fi
  warm_up
  measure "$name" "$daemon"
  { echo "unpublish bench-warm $warm_dir"
    for i in "${!dirs[@]}"; do echo "unpublish bench-$i ${dirs[$i]}"; done; } | csi \
    || echo "bench: $name: unpublishing failed (see $log)" >&2
  stop_daemon; unmount_all
  mkdir -p "${dirs[@]}" "$warm_dir"   # unpublish removes the targets, as kubelet expects
}

want() { [ -z "${BENCH_SCENARIOS:-}" ] || [[ ",$BENCH_SCENARIOS," == *",$1,"* ]]; }
for s in kernel kernel-loop ours ours-bind ours-plugin ours-no-passthrough; do
  want "$s" || note[$s]="not run (BENCH_SCENARIOS)"
done
if want kernel; then scenario_kernel kernel; fi
if want kernel-loop; then scenario_kernel kernel-loop; fi
if ! want ours-no-passthrough; then :; elif [ -z "$nopt_skip" ]; then scenario_ours ours-no-passthrough --no-passthrough; else note[ours-no-passthrough]="skipped: $nopt_skip"; fi
if ! want ours-bind; then :; elif [ -z "$ours_skip" ]; then scenario_ours_bind; else note[ours-bind]="skipped: $ours_skip"; fi
if ! want ours-plugin; then :; elif [ -z "$ours_skip" ]; then scenario_plugin; else note[ours-plugin]="skipped: $ours_skip"; fi
# ours last, so that the throughput test below finds the store it filled
if ! want ours; then :; elif [ -z "$ours_skip" ]; then scenario_ours ours; else note[ours]="skipped: $ours_skip"; fi

printf '\n== memory: 4 mounts of v1 + 4 of v2, every file read and %s binaries run through each\n' "${#execs[@]}"
printf 'unique content over v1 ∪ v2: %s MiB (%s bytes)\n' "$(mib $((unique / 1024)))" "$unique"
printf '%-20s %10s %9s %9s %9s %10s %9s %12s %9s\n' scenario 'cache MiB' 'anon MiB' '(growth)' '(settled)' 'total MiB' 'x unique' 'x (growths)' 'VmRSS MiB'
for s in kernel kernel-loop ours ours-bind ours-plugin ours-no-passthrough; do
  if [ -z "${cache[$s]:-}" ]; then printf '%-20s %s\n' "$s" "${note[$s]}"; continue; fi
  total=$((cache[$s] + ${anon[$s]:-0}))
  growths=$((cache[$s] + ${anongrowth[$s]:-0}))
  printf '%-20s %10s %9s %9s %9s %10s %9.2f %12.2f %9s%s\n' "$s" "$(mib "${cache[$s]}")" \
    "$([ -n "${anon[$s]:-}" ] && mib "${anon[$s]}" || echo -)" \
    "$([ -n "${anongrowth[$s]:-}" ] && mib "${anongrowth[$s]}" || echo -)" \
    "$([ -n "${settled[$s]:-}" ] && mib "${settled[$s]}" || echo -)" \
    "$(mib "$total")" "$(echo "$total * 1024 / $unique" | bc -l)" "$(echo "$growths * 1024 / $unique" | bc -l)" \
    "$([ -n "${rss[$s]:-}" ] && mib "${rss[$s]}" || echo -)" "${note[$s]:+  ${note[$s]}}"
done
echo "anon: the daemon's anonymous memory right after the reads, its growth during them, and 8 s later (settled)"
echo "x (growths): page cache growth + the daemon's anonymous memory growth during the reads, over the unique bytes"
echo "target: ours at most 1.15x the unique bytes; the kernel without inode sharing was measured at about 2.75x for this kind of work"

# --- throughput: one v1 mount, ours (store filled above) against the kernel's ---------------------
timeit() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
readall() { find "$1" -type f -exec cat {} + >/dev/null; }
best() { # $1 cold|warm, rest: command; best of $runs
  local mode=$1; shift; local t b=
  for _ in $(seq "$runs"); do
    if [ "$mode" = cold ]; then drop; else "$@" >/dev/null 2>&1; fi
    t=$(timeit "$@")
    if [ -z "$b" ] || [ "$(echo "$t < $b" | bc)" = 1 ]; then b=$t; fi
  done
  echo "$b"
}
kdir=${dirs[0]} odir=${dirs[1]}
v1mib=$(( $(find "$mem/v1" -type f -printf '%s\n' | awk '{ s += $1 } END { print s }') >> 20 ))
kmount "$mem/v1.erofs" "$kdir"
have_ours=
if [ -z "$ours_skip" ] && [ -n "${cache[ours]:-}" ]; then
  "$cli" mount --store "$store" "$mem/v1.erofs" "$odir" 2>"$work/memory-throughput.log" &
  daemon=$!
  if wait_mounted "$daemon" "$odir"; then have_ours=1; else
    echo "bench: throughput: our mount did not come up, kernel only (see $work/memory-throughput.log)" >&2
    stop_daemon
  fi
fi
printf '\n== read throughput: every file of one v1 mount (%s MiB), best of %s (seconds); ratio = ours / kernel\n' "$v1mib" "$runs"
printf '%-5s %9s %9s %9s %12s %12s\n' cache ours kernel ratio 'ours MiB/s' 'kernel MiB/s'
for c in cold warm; do
  k=$(best "$c" readall "$kdir")
  if [ -n "$have_ours" ]; then
    o=$(best "$c" readall "$odir")
    printf '%-5s %9.3f %9.3f %9.2f %12.0f %12.0f\n' "$c" "$o" "$k" "$(echo "$o / $k" | bc -l)" \
      "$(echo "$v1mib / $o" | bc -l)" "$(echo "$v1mib / $k" | bc -l)"
  else
    printf '%-5s %9s %9.3f %9s %12s %12.0f\n' "$c" - "$k" - - "$(echo "$v1mib / $k" | bc -l)"
  fi
done
