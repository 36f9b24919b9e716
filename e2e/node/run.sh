#!/usr/bin/env bash
# Node-level end-to-end run of the CSI plugin, without Kubernetes: starts the packaged plugin
# (bin/csi-driver-erofs serve), drives it over its unix socket as kubelet does (CsiDriver.java,
# grpc-java), and checks every published target against the kernel's own mount of the same
# image(s). See e2e/node/README.md for the steps and what each checks.
#
# usage: e2e/node/run.sh        (as root)
#   E2E_SKIP=https,layers,hostile,restart   leave these steps out (comma-separated; any of the four)
#   E2E_BUILD=1                     rebuild the plugin first (./mvnw package -DskipTests); otherwise
#                                   an existing build is used, and one is made only if there is none
#   E2E_KEEP=1                      keep the work directory (logs, manifests) instead of deleting it
#   FIXTURES_DIR=DIR                the shared fixtures (manifest.py, cmp_manifest.py); default ../shared/fixtures
# Prints PASS/FAIL/SKIP per step and exits 1 if any step failed (2 on bad usage).
# shellcheck disable=SC2317,SC2016  # step functions are called through `step NAME FUNCTION`; hostile_case evaluates its check
set -uo pipefail

here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
top=$(cd "$here/../.." && pwd)
e2elib=$top/e2e/lib   # make_trees.py and check.py, shared with the kind run (e2e/kind)
fixtures=${FIXTURES_DIR:-$top/../shared/fixtures}
E2E_SKIP=${E2E_SKIP:-}
skip=",$E2E_SKIP,"
for s in ${E2E_SKIP//,/ }; do
  case $s in https|layers|restart) ;; *) echo "run.sh: E2E_SKIP: unknown step '$s' (https, layers, restart can be skipped)" >&2; exit 2 ;; esac
done
skipped() { [[ $skip == *",$1,"* ]]; }

# ---------------------------------------------------------------- preconditions
if [ "$(id -u)" != 0 ]; then
  echo "run.sh: must run as root (mounts, device nodes, trusted.* xattrs)" >&2; exit 2
fi
need=(mkfs.erofs python3 mount umount)
skipped https || need+=(openssl)
for tool in "${need[@]}"; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool is missing (apt-get install -y erofs-utils python3 openssl util-linux)" >&2; exit 2; }
done
for f in manifest.py cmp_manifest.py; do
  [ -f "$fixtures/$f" ] || { echo "run.sh: $fixtures/$f not found (set FIXTURES_DIR)" >&2; exit 2; }
done
JAVA_HOME=$("$top/bin/java-home") || exit 2
java=$JAVA_HOME/bin/java

work=$(mktemp -d /tmp/csi-e2e.XXXXXX) && work=$(realpath "$work") || exit 2
node_id=e2e-node
driver_name=erofs.csierofs.dev
socket=$work/csi/csi.sock
state=$work/state
images=$work/images      # the plugin's --image-root
kubelet=$work/kubelet    # a kubelet root: pods/<uid>/volumes/kubernetes.io~csi/<volume>/mount
lib=$top/plugin/target/quarkus-app/lib/main
plugin_pid=
https_pid=
ca_option=no   # whether this plugin has --ca-file (serve --help says so)
kubelet_option=no   # whether it has --kubelet-dir
metrics_port=
metrics=
trap cleanup EXIT   # (defined below) plugin, HTTPS server, mounts, work directory: whatever happens
trap 'echo "interrupted"; exit 130' INT TERM
mkdir -p "$work"/{logs,manifests,kernel,csi} "$images" "$kubelet/pods"
# every (attempted) publish: "VOLUME_ID TARGET EXPECTED_MANIFEST", the list unpublish works through
published=$work/published
: >"$published"

# ---------------------------------------------------------------- reporting
results=()
errors=0
run_ok=0
error() { echo "  error: $*"; errors=$((errors + 1)); }
note() { echo "  $*"; }

# step NAME FUNCTION [SKIP_KEY]: runs FUNCTION; the step fails if it returns non-zero or reported an error
step() {
  local name=$1 fn=$2 key=${3:-}
  if [ -n "$key" ] && skipped "$key"; then
    echo "SKIP $name (E2E_SKIP=$E2E_SKIP)"; results+=("SKIP $name"); return 0
  fi
  echo "---- $name"
  errors=0
  local t0=$SECONDS rc
  "$fn"; rc=$?
  if [ $rc -eq 0 ] && [ $errors -eq 0 ]; then
    echo "PASS $name ($((SECONDS - t0)) s)"; results+=("PASS $name"); return 0
  fi
  echo "FAIL $name ($((SECONDS - t0)) s)"; results+=("FAIL $name"); return 1
}

finish() {
  echo "==== summary"
  local r failed=0
  for r in "${results[@]}"; do
    echo "$r"
    [[ $r == FAIL* ]] && failed=1
  done
  if [ $failed = 0 ]; then run_ok=1; echo "e2e/node: PASS"; exit 0; fi
  echo "e2e/node: FAIL"; exit 1
}

# ---------------------------------------------------------------- clean-up, whatever happened
cleanup() {
  set +e
  trap - EXIT INT TERM
  if [ -n "$plugin_pid" ] && kill -0 "$plugin_pid" 2>/dev/null; then
    kill -TERM "$plugin_pid"
    for _ in $(seq 50); do kill -0 "$plugin_pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$plugin_pid" 2>/dev/null
    wait "$plugin_pid" 2>/dev/null
  fi
  [ -n "$https_pid" ] && kill "$https_pid" 2>/dev/null && wait "$https_pid" 2>/dev/null
  if [ "$run_ok" = 0 ] && [ -s "$work/logs/plugin.log" ]; then
    echo "==== the end of the plugin's log (E2E_KEEP=1 keeps all logs)"
    tail -n 30 "$work/logs/plugin.log" | sed 's/^/  /'
  fi
  # every mount under the work dir (targets, image mounts, kernel mounts), the latest first
  python3 "$e2elib/check.py" ours "$work" | tac | while read -r m; do umount -l "$m" || echo "clean-up: cannot unmount $m" >&2; done
  if [ -n "$(python3 "$e2elib/check.py" ours "$work")" ]; then
    echo "clean-up: mounts are left under $work; not deleting it" >&2
  elif [ "${E2E_KEEP:-0}" = 1 ]; then
    echo "work directory kept: $work (plugin log: $work/logs/plugin.log)"
  else
    rm -rf --one-file-system "$work"
  fi
}
# ---------------------------------------------------------------- helpers
# csi [--parallel N] < REQUESTS: one CsiDriver run (see CsiDriver.java for the requests). Every
# answer goes to logs/csi.log; shown here: failures, answers to other requests than (un)publish,
# and a count of successful (un)publishes
csi() {
  "$java" --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -cp "$work/driver:$lib/*" \
      CsiDriver "$socket" "$@" 2>>"$work/logs/driver.log" | tee -a "$work/logs/csi.log" \
    | awk '/^OK (publish|unpublish) / { split($0, w, " "); n[w[2]]++; next } { print "  " $0 }
           END { for (k in n) print "  OK " k ": " n[k] " request(s)" }'
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start_plugin() {
  local args=(serve --endpoint "unix://$socket" --node-id "$node_id" --driver-name "$driver_name" --state-dir "$state"
              --image-root "$images" --metrics-port "$metrics_port" --unmount-grace 0s)
  # the CA of the HTTPS server (a plugin without the option would refuse to start: the https step fails instead)
  skipped https || [ "$ca_option" = no ] || args+=(--ca-file "$work/tls/ca.pem")
  # targets only inside the kubelet tree
  [ "$kubelet_option" = no ] || args+=(--kubelet-dir "$kubelet")
  echo "==== $(date -u +%FT%TZ) bin/csi-driver-erofs ${args[*]}" >>"$work/logs/plugin.log"
  # the management interface (metrics) listens on 0.0.0.0 by default: loopback is enough here
  QUARKUS_MANAGEMENT_HOST=127.0.0.1 "$top/bin/csi-driver-erofs" "${args[@]}" >>"$work/logs/plugin.log" 2>&1 &
  plugin_pid=$!
  note "plugin started: pid $plugin_pid, socket $socket, metrics $metrics"
  if ! echo "wait-ready 120 $plugin_pid" | csi; then
    error "the plugin did not become ready; the end of its log:"
    tail -n 20 "$work/logs/plugin.log" | sed 's/^/    /'
    return 1
  fi
}

# kernel_manifest OUT IMAGE: the manifest of the kernel's own EROFS mount of IMAGE
kernel_manifest() {
  local out=$1 image=$2 dir
  dir=$work/kernel/$(basename "$image" .erofs)
  mkdir -p "$dir"
  mount -t erofs -o ro "$image" "$dir" || { error "the kernel cannot mount $image"; return 1; }
  python3 "$fixtures/manifest.py" "$dir" >"$out"; local rc=$?
  umount "$dir"
  [ "$rc" = 0 ] || error "manifest.py failed on the kernel's mount of $image"
  return "$rc"
}

# kernel_overlay_manifest OUT BASE TOP: the manifest of a kernel overlayfs of the kernel's EROFS
# mounts of TOP over BASE (lowerdir=TOP:BASE, the leftmost is the top), what a two-layer volume must show
kernel_overlay_manifest() {
  local out=$1 base=$2 top_image=$3 k=$work/kernel rc=1
  mkdir -p "$k/layer-base" "$k/layer-top" "$k/overlay"
  if mount -t erofs -o ro "$base" "$k/layer-base"; then
    if mount -t erofs -o ro "$top_image" "$k/layer-top"; then
      if mount -t overlay overlay -o "lowerdir=$k/layer-top:$k/layer-base" "$k/overlay"; then
        python3 "$fixtures/manifest.py" "$k/overlay" >"$out"; rc=$?
        [ "$rc" = 0 ] || error "manifest.py failed on the kernel's overlay"
        umount "$k/overlay"
      else error "the kernel cannot mount the overlay of $top_image over $base"; fi
      umount "$k/layer-top"
    else error "the kernel cannot mount $top_image"; fi
    umount "$k/layer-base"
  else error "the kernel cannot mount $base"; fi
  return "$rc"
}

digest_of() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }

# pod_volume POD_NAME VOLUME_NAME MODE EXPECTED_MANIFEST KEY=VALUE...: the publish request kubelet
# makes for a pod's inline CSI volume (ephemeral; volume id csi-sha256(pod uid + volume name), its
# target under the pod's directory, kubelet's pod info keys in the volume context), recorded in
# $published. Prints the request line.
pod_volume() {
  local pod=$1 vol=$2 mode=$3 expected=$4; shift 4
  local uid id dir
  uid=$(cat /proc/sys/kernel/random/uuid)
  id=csi-$(printf '%s%s' "$uid" "$vol" | sha256sum | cut -d' ' -f1)
  dir=$kubelet/pods/$uid/volumes/kubernetes.io~csi/$vol
  mkdir -p "$dir"   # kubelet makes the volume's directory; the plugin makes (and removes) mount/ in it
  echo "$id $dir/mount $expected" >>"$published"
  echo "publish $id $dir/mount $mode $* csi.storage.k8s.io/pod.name=$pod csi.storage.k8s.io/pod.namespace=e2e" \
       "csi.storage.k8s.io/pod.uid=$uid csi.storage.k8s.io/serviceAccount.name=default csi.storage.k8s.io/ephemeral=true"
}

# compare TARGET EXPECTED_MANIFEST: the target's manifest equals the kernel's (directory sizes aside)
compare() {
  local target=$1 expected=$2 out verdict pod=${1%/volumes/*}
  out=$work/manifests/target-${pod##*/}.manifest   # named by the pod's uid
  if ! python3 "$fixtures/manifest.py" "$target" >"$out" 2>"$out.err"; then
    error "manifest.py failed on $target: $(tail -n 1 "$out.err")"; return 1
  fi
  verdict=$(python3 "$fixtures/cmp_manifest.py" "$expected" "$out")
  if [ "$(head -n 1 <<<"$verdict")" != identical ]; then
    error "$target differs from the kernel's mount ($(basename "$expected")): $(tr '\n' ' ' <<<"$verdict")"; return 1
  fi
}

# targets_of NAME...: the targets in $published that should show the kernel's manifests/NAME.manifest
targets_of() {
  local name
  for name in "$@"; do awk -v m="$work/manifests/$name.manifest" '$3 == m { print $2 }' "$published"; done
}

# mount_type PATH: the file system type of the last mount at PATH and how many mounts there are ("none 0")
mount_type() {
  python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import check
t = [m[2] for m in check.mounts() if m[0] == sys.argv[2]]
print(t[-1] if t else "none", len(t))' "$e2elib" "$1"
}

# hostile_case CHECK DESCRIPTION: evaluates the shell test CHECK and reports it
hostile_case() {
  if eval "$1"; then note "ok: $2"; else error "$2: does not hold ($1)"; fi
}

# Requests a wrong or malicious caller could send, each with the code it must get, then checks
# that nothing the plugin did not publish was touched. vol-a stays published, through a path
# with /./ in it, so that the restart step checks it is published again by its canonical path.
step_hostile() {
  local h=$kubelet/pods/hostile victim=$work/victim requests=$work/hostile.requests i long d1 names=() n
  local a=$h-a/volumes/kubernetes.io~csi/a/mount b=$h-b/volumes/kubernetes.io~csi/b/mount
  d1=$(digest_of "$images/v1.erofs")
  mkdir -p "$victim/empty-dir" "$victim/outside" "$h-a/volumes/kubernetes.io~csi/a" "$h-t/tmpfs" "$h-s" "$h-n/full" \
    "$h-e/empty" "$h-l" "$h-b/volumes/kubernetes.io~csi/b"
  echo "a file the plugin must never delete" >"$victim/file"
  echo "a file inside the kubelet tree the plugin must never delete" >"$h-f"
  echo "content a mount must not hide" >"$h-n/full/keep"
  ln -s "$a" "$h-s/mount"                  # a symlink to vol-a's target
  ln -s "$h-a" "$h-l/pod"                  # a symlinked pod directory: another spelling of vol-a's target
  ln -s "$victim" "$kubelet/pods/escape"   # a symlink out of the kubelet tree
  : >"$images/empty.erofs"
  head -c 65536 /dev/urandom >"$images/random.erofs"
  long=$(printf 'l%.0s' $(seq 200))
  for i in $(seq 1 127); do ln -f "$images/base.erofs" "$images/$long-$i.erofs"; names+=("$long-$i.erofs"); done
  # what a stack of copies of one layer shows (merged directories as overlayfs counts their links)
  # (of a copy: the kernel refuses an overlay whose layers are one file system)
  cp "$images/base.erofs" "$work/kernel/base-copy.erofs"
  kernel_overlay_manifest "$work/manifests/stack.manifest" "$images/base.erofs" "$work/kernel/base-copy.erofs" || return 1
  if ! mount -t tmpfs -o size=1m e2e-foreign "$h-t/tmpfs"; then error "cannot mount a tmpfs at $h-t/tmpfs"; return 1; fi
  echo "the foreign tmpfs" >"$h-t/tmpfs/marker"
  echo "vol-a $a $work/manifests/v1.manifest" >>"$published"
  {
    echo "expect OK publish vol-a $h-a/volumes/./kubernetes.io~csi/a/mount SINGLE_NODE_READER_ONLY image=v1.erofs digest=$d1"
    echo "# item 1: unpublish acts only on what the plugin published, for that volume id"
    echo "expect OK unpublish no-such-volume $victim/file"
    echo "expect OK unpublish no-such-volume $h-f"
    echo "expect OK unpublish no-such-volume $h-e/empty"
    echo "expect NOT_FOUND~wrong-id~vol-a unpublish wrong-id $a"
    echo "expect NOT_FOUND~wrong-id~vol-a unpublish wrong-id $h-a/volumes/kubernetes.io~csi/a/./mount"
    echo "expect OK unpublish no-such-volume $h-t/tmpfs"
    echo "expect OK unpublish no-such-volume $h-s/mount"
    echo "expect OK unpublish no-such-volume $h-n/full"
    echo "# item 2: targets compared and mounted by their canonical path; symlinks, foreign mounts, escapes refused"
    echo "expect OK publish vol-a $a SINGLE_NODE_READER_ONLY image=v1.erofs digest=$d1"
    echo "expect ALREADY_EXISTS~vol-a publish vol-b $h-a/volumes/kubernetes.io~csi/a/./mount SINGLE_NODE_READER_ONLY image=v2.erofs"
    echo "expect ALREADY_EXISTS~vol-a publish vol-b $h-l/pod/volumes/kubernetes.io~csi/a/mount SINGLE_NODE_READER_ONLY image=v2.erofs"
    echo "expect FAILED_PRECONDITION~symlink publish vol-b $h-s/mount SINGLE_NODE_READER_ONLY image=v2.erofs"
    echo "expect FAILED_PRECONDITION~tmpfs publish vol-b $h-t/./tmpfs SINGLE_NODE_READER_ONLY image=v2.erofs"
    echo "expect FAILED_PRECONDITION~tmpfs publish vol-b $h-t/../hostile-t/tmpfs SINGLE_NODE_READER_ONLY image=v2.erofs"
    echo "expect FAILED_PRECONDITION~$a publish vol-b $h-a SINGLE_NODE_READER_ONLY image=v2.erofs"
    if [ "$kubelet_option" = yes ]; then
      echo "expect INVALID_ARGUMENT~--kubelet-dir publish vol-c $victim/outside/mount SINGLE_NODE_READER_ONLY image=v2.erofs"
      echo "expect INVALID_ARGUMENT~--kubelet-dir publish vol-c $kubelet/pods/../../victim/dotdot SINGLE_NODE_READER_ONLY image=v2.erofs"
      echo "expect INVALID_ARGUMENT~--kubelet-dir publish vol-c $kubelet/pods/escape/escaped SINGLE_NODE_READER_ONLY image=v2.erofs"
    fi
    echo "expect INVALID_ARGUMENT~absolute publish vol-c relative/mount SINGLE_NODE_READER_ONLY image=v2.erofs"
    echo "# item 6: the caller's and the node's mistakes get their own codes, with what to do"
    echo "expect FAILED_PRECONDITION~$h-f publish vol-c $h-f SINGLE_NODE_READER_ONLY image=v2.erofs"
    echo "expect FAILED_PRECONDITION~not~empty publish vol-c $h-n/full SINGLE_NODE_READER_ONLY image=v2.erofs"
    echo "expect INVALID_ARGUMENT~empty.erofs~too~small publish vol-c $b SINGLE_NODE_READER_ONLY image=empty.erofs"
    echo "expect INVALID_ARGUMENT~random.erofs~bad~magic publish vol-c $b SINGLE_NODE_READER_ONLY image=random.erofs"
    echo "expect INVALID_ARGUMENT~127 publish vol-c $b SINGLE_NODE_READER_ONLY layers=$(printf 'base.erofs,%.0s' $(seq 999))base.erofs"
    echo "expect OK publish vol-127 $b SINGLE_NODE_READER_ONLY layers=$(IFS=,; echo "${names[*]}")"
  } >"$requests"
  csi <"$requests" || error "a hostile request was not answered as it should be (the FAIL lines above)"
  # nothing the plugin did not publish was touched
  hostile_case '[ "$(cat "$victim/file" 2>/dev/null)" = "a file the plugin must never delete" ]' "$victim/file is still there, unchanged"
  hostile_case '[ -f "$h-f" ]' "$h-f (a regular file in the kubelet tree) is still there"
  hostile_case '[ -f "$h-n/full/keep" ] && [ "$(mount_type "$h-n/full")" = "none 0" ]' "$h-n/full keeps its file, nothing mounted on it"
  hostile_case '[ "$(mount_type "$h-t/tmpfs")" = "tmpfs 1" ] && [ -f "$h-t/tmpfs/marker" ]' \
    "the foreign tmpfs is still mounted, alone, with its file"
  hostile_case '[ -L "$h-s/mount" ] && [ -L "$h-l/pod" ] && [ -L "$kubelet/pods/escape" ]' "the symlinks are still there"
  hostile_case '[ "$(mount_type "$a")" = "fuse.erofs 1" ]' "vol-a's target is exactly one mount (nothing stacked, not unmounted)"
  hostile_case '[ "$(mount_type "$h-a")" = "none 0" ]' "nothing was mounted over vol-a's pod directory"
  hostile_case '[ -z "$(ls -A "$victim/outside")" ] && [ ! -e "$victim/dotdot" ] && [ ! -e "$victim/escaped" ] && [ ! -e relative ]' \
    "no target was made outside the kubelet tree"
  compare "$a" "$work/manifests/v1.manifest" && note "ok: vol-a still reads as the kernel's mount of v1"
  n=$(grep -c '^OK expect' "$work/logs/csi.log")
  note "$n of $(grep -c '^expect' "$requests") hostile request(s) answered as expected"
  # a stack of 127 layers whose names are 200 bytes long: the mount source does not limit it
  if [ "$(mount_type "$b" | cut -d' ' -f1)" = fuse.erofs ]; then
    compare "$b" "$work/manifests/stack.manifest" && note "ok: the stack of 127 copies of base.erofs reads as the kernel's overlayfs of two"
    echo "expect OK unpublish vol-127 $b" | csi || error "unpublishing the 127-layer stack failed"
  fi
  umount "$h-t/tmpfs"
  # (never into a mount: the clean-up at the end detaches whatever a failure left)
  rm -rf --one-file-system "${h:?}"-[bestfnl] "$kubelet/pods/escape" "$victim" "$images"/*l-*.erofs "$images"/{empty,random}.erofs 2>/dev/null
}

# A second plugin refused at start leaves nothing behind; the start log shows settings as given.
step_hostile_starts() {
  local other=$work/other rc port
  mkdir -p "$other"
  # the same state directory, another socket (timeout: a plugin that wrongly starts would serve on)
  timeout 60 "$top/bin/csi-driver-erofs" serve --endpoint "unix://$other/csi/csi.sock" --node-id "$node_id" --state-dir "$state" \
    --image-root "$images" --metrics-port 0 >"$work/logs/refused-1.log" 2>&1
  rc=$?
  hostile_case '[ "$rc" != 0 ] && grep -q "another plugin uses the state directory" "$work/logs/refused-1.log"' \
    "a second plugin on the state directory is refused: $(tail -n 1 "$work/logs/refused-1.log")"
  hostile_case '[ -z "$(ls -A "$other")" ]' "the refused start left nothing in $other: $(find "$other" -mindepth 1 | tr '\n' ' ')"
  # a busy metrics port
  port=${metrics#http://127.0.0.1:}
  port=${port%%/*}
  QUARKUS_MANAGEMENT_HOST=127.0.0.1 timeout 60 "$top/bin/csi-driver-erofs" serve --endpoint "unix://$other/csi/csi.sock" --node-id "$node_id" \
    --state-dir "$other/state" --image-root "$images" --metrics-port "$port" >"$work/logs/refused-2.log" 2>&1
  rc=$?
  hostile_case '[ "$rc" != 0 ] && grep -q "metrics port" "$work/logs/refused-2.log"' \
    "a busy metrics port is refused: $(tail -n 1 "$work/logs/refused-2.log")"
  hostile_case '[ -z "$(ls -A "$other")" ]' "the refused start left nothing in $other: $(find "$other" -mindepth 1 | tr '\n' ' ')"
  hostile_case 'grep -q "unused image mounts kept 0s" "$work/logs/plugin.log"' \
    "the start log shows --unmount-grace as given: $(grep -o 'unused image mounts kept [^,]*' "$work/logs/plugin.log" | head -n 1)"
  hostile_case 'grep -q "content store budget 10 GiB" "$work/logs/plugin.log"' \
    "the start log shows budgets in units: $(grep -o 'content store budget [^,]*' "$work/logs/plugin.log" | head -n 1)"
  rm -rf "$other"
}

# ---------------------------------------------------------------- steps
step_build() {
  if [ "${E2E_BUILD:-0}" = 1 ]; then
    (cd "$top" && ./mvnw -B -q -ntp package -DskipTests) || { error "the build failed"; return 1; }
  fi
  # builds the plugin if it is not built yet, then prints its usage
  "$top/bin/csi-driver-erofs" serve --help >"$work/logs/serve-help.txt" 2>&1 || { error "bin/csi-driver-erofs serve --help failed"; return 1; }
  [ -d "$lib" ] || { error "$lib not found after the build"; return 1; }
  grep -q -- '--ca-file' "$work/logs/serve-help.txt" && ca_option=yes
  grep -q -- '--kubelet-dir' "$work/logs/serve-help.txt" && kubelet_option=yes
  "$JAVA_HOME/bin/javac" -d "$work/driver" -cp "$lib/*" "$here/CsiDriver.java" || { error "CsiDriver.java does not compile"; return 1; }
  note "plugin: $top/plugin/target/quarkus-app; driver compiled against its grpc-java, netty and csi-proto jars"
}

step_images() {
  python3 "$e2elib/make_trees.py" "$work/trees" || { error "make_trees.py failed"; return 1; }
  mkdir -p "$work/www"
  local name img
  for name in v1 v2 v3 base top; do
    img=$images/$name.erofs
    [ "$name" = v3 ] && img=$work/www/v3.erofs   # served over HTTPS only, not under the image root
    mkfs.erofs -zlz4hc "$img" "$work/trees/$name" >"$work/logs/mkfs-$name.log" 2>&1 \
      || { error "mkfs.erofs $name failed: $(tail -n 3 "$work/logs/mkfs-$name.log")"; return 1; }
  done
  for name in v1 v2; do kernel_manifest "$work/manifests/$name.manifest" "$images/$name.erofs" || return 1; done
  kernel_manifest "$work/manifests/v3.manifest" "$work/www/v3.erofs" || return 1
  kernel_overlay_manifest "$work/manifests/layers.manifest" "$images/base.erofs" "$images/top.erofs" || return 1
  for name in v1 v2 v3 layers; do
    note "$name: $(($(wc -l <"$work/manifests/$name.manifest") - 1)) paths in the kernel's mount"
  done
  local sizes=
  for img in "$images"/*.erofs "$work/www/v3.erofs"; do sizes+=" $(basename "$img") $(($(stat -c %s "$img") / 1024)) KiB,"; done
  note "images (mkfs.erofs -zlz4hc):${sizes%,}"
}

step_https_server() {
  local t=$work/tls
  mkdir -p "$t"
  cat >"$t/openssl.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
  # a CA made for this run only, and the server's certificate (for 127.0.0.1) signed by it
  { openssl req -x509 -config "$t/openssl.cnf" -extensions ca -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$t/ca.key" -out "$t/ca.pem" -days 2 -subj "/CN=csi-driver-erofs e2e CA" &&
    openssl req -new -config "$t/openssl.cnf" -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
      -keyout "$t/server.key" -out "$t/server.csr" -subj "/CN=127.0.0.1" &&
    openssl x509 -req -in "$t/server.csr" -CA "$t/ca.pem" -CAkey "$t/ca.key" -CAcreateserial -extfile "$t/openssl.cnf" \
      -extensions server -days 2 -out "$t/server.pem"; } >"$work/logs/openssl.log" 2>&1 \
    || { error "making the certificates failed: $(tail -n 3 "$work/logs/openssl.log")"; return 1; }
  # shellcheck disable=SC2094  # the server appends its request log and its stderr to one file, never reads it
  python3 "$here/https_server.py" "$work/www" "$t/server.pem" "$t/server.key" "$work/https.port" "$work/logs/https.log" \
    2>>"$work/logs/https.log" &
  https_pid=$!
  for _ in $(seq 100); do [ -f "$work/https.port" ] && break; kill -0 "$https_pid" 2>/dev/null || break; sleep 0.1; done
  [ -f "$work/https.port" ] || { error "the HTTPS server did not start: $(tail -n 3 "$work/logs/https.log")"; return 1; }
  note "https://127.0.0.1:$(cat "$work/https.port")/ serves $work/www with a certificate of a CA made for this run ($t/ca.pem)"
}

step_start() {
  metrics_port=$(free_port)
  metrics=http://127.0.0.1:$metrics_port/q/metrics
  start_plugin
}

step_identity() {
  csi <<EOF
plugin-info name=$driver_name
node-info node-id=$node_id
capabilities absent=STAGE_UNSTAGE_VOLUME
EOF
  # no STAGE_UNSTAGE_VOLUME: kubelet calls NodePublishVolume only, as this run does
}

step_publish_v1_v2() {
  local i requests=$work/publish-v1-v2.requests d1 d2 mode
  d1=$(digest_of "$images/v1.erofs")
  d2=$(digest_of "$images/v2.erofs")
  : >"$requests"
  for i in $(seq 0 9); do
    mode=SINGLE_NODE_READER_ONLY; [ $((i % 2)) = 0 ] && mode=MULTI_NODE_READER_ONLY
    pod_volume "app-v1-$i" app "$mode" "$work/manifests/v1.manifest" image=v1.erofs "digest=$d1" >>"$requests"
  done
  for i in $(seq 0 9); do
    mode=SINGLE_NODE_READER_ONLY; [ $((i % 2)) = 0 ] && mode=MULTI_NODE_READER_ONLY
    pod_volume "app-v2-$i" app "$mode" "$work/manifests/v2.manifest" image=v2.erofs "digest=$d2" >>"$requests"
  done
  # kubelet mounts the volumes of several pods at once
  csi --parallel 4 <"$requests" || error "publishing failed (the FAIL lines above)"
  python3 "$e2elib/check.py" scrape "$metrics" "$work/metrics-before-reading.txt" || error "cannot read the metrics at $metrics"
}

step_kernel_v1_v2() {
  local t n=0 v
  # v1's targets first, then v2's, each read whole once (the sharing step counts on exactly that)
  for v in v1 v2; do
    for t in $(targets_of "$v"); do
      compare "$t" "$work/manifests/$v.manifest" && n=$((n + 1))
    done
  done
  python3 "$e2elib/check.py" scrape "$metrics" "$work/metrics-after-reading.txt" || error "cannot read the metrics at $metrics"
  note "$n of 20 targets equal the kernel's mount of their image (manifest.py + cmp_manifest.py)"
  [ "$n" = 20 ] || error "$((20 - n)) target(s) differ from the kernel's mount"
  # a program runs from a volume (mapped for exec through the FUSE mount)
  t=$(targets_of v1 | head -n 1)
  if [ "$("$t/usr/bin/e2e-ls" -1 "$t/usr/share/doc" 2>&1)" = "$(ls -1 "$t/usr/share/doc")" ]; then
    note "ok: usr/bin/e2e-ls (a copy of the host's ls) runs from $t"
  else
    error "usr/bin/e2e-ls from $t did not run as the host's ls does: $("$t/usr/bin/e2e-ls" -1 "$t/usr/share/doc" 2>&1 | head -n 2)"
  fi
  # shellcheck disable=SC2046  # target paths are made here, without spaces: one word each
  python3 "$e2elib/check.py" readonly $(targets_of v1 v2) || errors=$((errors + 1))
  # shellcheck disable=SC2046
  python3 "$e2elib/check.py" mountinfo $(targets_of v1 v2) || errors=$((errors + 1))
  # the checks the kind run makes inside its pods (e2e/lib/check.py): every file's sha256, and a
  # file mapped from a volume shows under the volume's own path, never the content store's
  t=$(targets_of v2 | head -n 1)
  (cd "$t" && find . -type f -exec sha256sum {} +) >"$work/v2.sums"
  python3 "$e2elib/check.py" contents "$work/manifests/v2.manifest" "$work/v2.sums" || errors=$((errors + 1))
  python3 -c 'import mmap, sys
with open(sys.argv[1], "rb") as f:
    m = mmap.mmap(f.fileno(), 0, prot=mmap.PROT_READ)
    sys.stdout.write(open("/proc/self/maps").read())' "$t/usr/bin/e2e-ls" >"$work/maps.txt"
  python3 "$e2elib/check.py" maps "$work/maps.txt" "$t/usr/bin/e2e-ls" "$state/" || errors=$((errors + 1))
}

step_sharing() {
  local t
  python3 "$e2elib/check.py" sharing "$work/metrics-before-reading.txt" "$work/metrics-after-reading.txt" \
    "$work/manifests/v1.manifest:10" "$work/manifests/v2.manifest:10" || errors=$((errors + 1))
  # more readers of the same images (as more replicas would be): shared bytes grow, the store does not
  for t in $(targets_of v1 v2); do
    find "$t" -type f -exec cat {} + >/dev/null
  done
  python3 "$e2elib/check.py" scrape "$metrics" "$work/metrics-after-rereading.txt" || error "cannot read the metrics at $metrics"
  python3 "$e2elib/check.py" growth "$work/metrics-after-reading.txt" "$work/metrics-after-rereading.txt" || errors=$((errors + 1))
}

step_https() {
  local port url t
  if [ "$ca_option" = no ]; then
    error "the plugin has no --ca-file option (bin/csi-driver-erofs serve --help), so it cannot be given the HTTPS server's CA"
    return 1
  fi
  port=$(cat "$work/https.port")
  url=https://127.0.0.1:$port/v3.erofs
  pod_volume app-v3 app SINGLE_NODE_READER_ONLY "$work/manifests/v3.manifest" "image=$url" "digest=$(digest_of "$work/www/v3.erofs")" \
    | csi || { error "publishing $url failed"; return 1; }
  t=$(targets_of v3)
  compare "$t" "$work/manifests/v3.manifest" && note "ok: $t equals the kernel's mount of v3.erofs"
  note "the HTTPS server answered $(grep -c '^GET' "$work/logs/https.log") GET request(s) for it"
  python3 "$e2elib/check.py" readonly "$t" || errors=$((errors + 1))
  python3 "$e2elib/check.py" mountinfo "$t" || errors=$((errors + 1))
}

step_layers() {
  local t
  pod_volume app-layers app MULTI_NODE_READER_ONLY "$work/manifests/layers.manifest" layers=base.erofs,top.erofs \
    "digests=$(digest_of "$images/base.erofs"),$(digest_of "$images/top.erofs")" | csi || { error "publishing the layer stack failed"; return 1; }
  t=$(targets_of layers)
  compare "$t" "$work/manifests/layers.manifest" \
    && note "ok: $t equals the kernel's overlayfs (lowerdir=top:base) of the kernel's EROFS mounts of the two layers"
  python3 "$e2elib/check.py" readonly "$t" || errors=$((errors + 1))
  python3 "$e2elib/check.py" mountinfo "$t" || errors=$((errors + 1))
}

step_restart() {
  local t id expected n=0 requests out live=()
  # the targets published now (a publish that failed, in a step that failed, made no target directory)
  while read -r id t expected; do [ -d "$t" ] && live+=("$t"); done <"$published"
  [ ${#live[@]} -gt 0 ] || { error "no volume is published: nothing to restart with"; return 1; }
  kill -0 "$plugin_pid" 2>/dev/null || { error "the plugin is not running"; return 1; }
  python3 "$e2elib/check.py" metrics "$metrics" "csi_erofs_volumes_published=${#live[@]}" || errors=$((errors + 1))
  kill -KILL "$plugin_pid"; wait "$plugin_pid" 2>/dev/null
  note "plugin killed (SIGKILL) with ${#live[@]} volume(s) published"
  # today a target's FUSE connection ends with the process; keeping targets readable through the
  # restart itself is a later capability: reported here, not checked
  if out=$(cat "${live[0]}/etc/hostname" 2>&1); then note "while the plugin was down, ${live[0]} still read ($out)"
  else note "while the plugin was down, reading ${live[0]} failed: ${out##*: }"; fi
  start_plugin || return 1
  # the plugin publishes every recorded target again before Probe says ready
  python3 "$e2elib/check.py" metrics "$metrics" "csi_erofs_volumes_published=${#live[@]}" || errors=$((errors + 1))
  while read -r id t expected; do
    [ -d "$t" ] && compare "$t" "$expected" && n=$((n + 1))
  done <"$published"
  note "$n of ${#live[@]} target(s) published before the kill equal the kernel's mount again"
  python3 "$e2elib/check.py" mountinfo "${live[@]}" || errors=$((errors + 1))
  # new publishes work
  requests=$work/publish-after-restart.requests
  { pod_volume app-v1-new app SINGLE_NODE_READER_ONLY "$work/manifests/v1.manifest" image=v1.erofs "digest=$(digest_of "$images/v1.erofs")"
    pod_volume app-v2-new app SINGLE_NODE_READER_ONLY "$work/manifests/v2.manifest" image=v2.erofs "digest=$(digest_of "$images/v2.erofs")"
  } >"$requests"
  csi <"$requests" || error "publishing after the restart failed"
  for t in $(tail -n 2 "$published" | awk '{ print $2 }'); do
    compare "$t" "$(awk -v t="$t" '$2 == t { print $3 }' "$published")" && note "ok: new target $t equals the kernel's mount"
  done
}

step_unpublish() {
  local requests=$work/unpublish.requests t left
  awk '{ print "unpublish " $1 " " $2 }' "$published" >"$requests"
  note "unpublishing all $(grep -c . "$requests") target(s) (those published before a restart included)"
  csi --parallel 4 <"$requests" || error "unpublish failed"
  note "and once more: unpublishing what is not published is OK as well"
  csi --parallel 4 <"$requests" || error "a second unpublish failed"
  # image mounts go when their last volume does (--unmount-grace 0s), in the background: wait a little
  for _ in $(seq 50); do
    python3 "$e2elib/check.py" leftovers "$work" >/dev/null && break
    sleep 0.2
  done
  python3 "$e2elib/check.py" leftovers "$work" || errors=$((errors + 1))
  left=0
  while read -r _ t _; do
    if [ -e "$t" ]; then error "target directory left: $t"; left=$((left + 1)); fi
  done <"$published"
  [ "$left" = 0 ] && note "ok: all $(grep -c . "$published") target directories are gone"
  if [ -n "$(find "$state/volumes" -type f 2>/dev/null)" ]; then
    error "volume state left in $state/volumes: $(find "$state/volumes" -type f | head -n 3 | tr '\n' ' ')"
  else
    note "ok: no file under $state/volumes"
  fi
  python3 "$e2elib/check.py" metrics "$metrics" csi_erofs_volumes_published=0 csi_erofs_image_mounts=0 || errors=$((errors + 1))
  # what kubelet then does: remove the volume and pod directories
  rm -rf "$kubelet/pods"/*
}

step_stop() {
  local t0=$SECONDS rc watchdog limit=30
  { [ -n "$plugin_pid" ] && kill -0 "$plugin_pid" 2>/dev/null; } || { error "the plugin is not running"; return 1; }
  kill -TERM "$plugin_pid"
  (sleep "$limit"; kill -KILL "$plugin_pid" 2>/dev/null) &
  watchdog=$!
  wait "$plugin_pid"; rc=$?
  kill "$watchdog" 2>/dev/null; wait "$watchdog" 2>/dev/null
  plugin_pid=
  if [ $((SECONDS - t0)) -ge "$limit" ]; then
    error "the plugin did not exit within $limit s of SIGTERM (killed)"
  elif [ "$rc" != 0 ]; then
    error "the plugin exited with status $rc after SIGTERM, expected 0$([ "$rc" = 143 ] && echo ' (143 = 128 + SIGTERM: the JVM ended by the signal without an exit status of its own)')"
  else
    note "ok: the plugin exited 0 within $((SECONDS - t0)) s of SIGTERM"
  fi
  if [ -e "$socket.lock" ] || [ -e "$socket" ]; then error "the clean stop left $(find "$(dirname "$socket")" -mindepth 1 | tr "\n" " ")"
  else note "ok: neither the socket nor its lock file is left"; fi
  python3 "$e2elib/check.py" leftovers "$work" || errors=$((errors + 1))
}

# ---------------------------------------------------------------- the run
echo "e2e/node: work directory $work"
step "build: the packaged plugin and the gRPC driver" step_build || finish
step "images: v1, v2, v3 (lz4hc), two layers; the kernel's manifests of each" step_images || finish
step "https-server: loopback HTTPS server with a CA made for this run" step_https_server https || finish
step "start: plugin on its own socket, state dir, image root and metrics port; Probe until ready" step_start || finish
step "identity: GetPluginInfo, NodeGetInfo, NodeGetCapabilities" step_identity
step "publish: 10 pods showing v1.erofs, 10 showing v2.erofs" step_publish_v1_v2
step "kernel: the 20 targets equal the kernel's mounts, are read-only, and mountinfo says so" step_kernel_v1_v2
step "sharing: one image mount per image, each content stored once, files passed through" step_sharing
step "https: a volume of https://127.0.0.1/v3.erofs equals the kernel's mount of it" step_https https
step "layers: a volume of layers=base.erofs,top.erofs equals the kernel's overlayfs of them" step_layers layers
step "hostile: unpublish of what is not ours, unnormalised and symlinked targets, foreign mounts, bad images" step_hostile hostile
step "hostile-starts: refused starts leave nothing behind; the start log shows settings as given" step_hostile_starts hostile
step "restart: SIGKILL and start again; recorded targets published again, new publishes work" step_restart restart
step "unpublish: everything, twice; no mount, target directory or volume state left" step_unpublish
step "stop: SIGTERM, exit status 0 within 30 s, nothing left mounted" step_stop
finish
