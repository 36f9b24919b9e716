#!/usr/bin/env bash
# The install path end to end on a kind cluster: build the plugin image, create a cluster, put
# the demo images on its node, install the Helm chart, apply the examples, and check with the
# same assertions as the node-level run (e2e/lib/check.py):
#   - every pod reads the expected content (sha256 of every file against the image's tree);
#   - /proc/1/maps in each pod names the program under the pod's own volume path (/app/...);
#   - the plugin's metrics: more replicas on the same images grow the shared bytes while the
#     content store does not grow;
#   - deleting the pods leaves no mount of ours on the node;
# then uninstall and delete the cluster. Needs Docker, kind, kubectl, helm (v3.8+ or v4),
# mkfs.erofs, python3 and a static busybox (busybox-static). Run as root (the demo images' trees
# carry owners and device nodes): sudo -E e2e/kind/run.sh
#   E2E_KEEP=1         keep the cluster and the work directory
#   KIND_CLUSTER=NAME  cluster name (default csi-erofs-e2e)
# It cannot run on the development machine (no Docker there); e2e/node/run.sh checks the same
# things there without Kubernetes.
# shellcheck disable=SC2317  # the step functions are called through `step NAME FUNCTION`
set -euo pipefail
here=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
top=$(cd "$here/../.." && pwd)
lib=$top/e2e/lib
cluster=${KIND_CLUSTER:-csi-erofs-e2e}
node=$cluster-control-plane
ns=csi-driver-erofs
release=csi-driver-erofs
image=csi-driver-erofs:e2e
busybox_image=busybox:1.36.1
work=$(mktemp -d /tmp/csi-kind-e2e.XXXXXX)
results=()
failed=0

for tool in docker kind kubectl helm mkfs.erofs python3; do
  command -v "$tool" >/dev/null || { echo "kind e2e: $tool is missing" >&2; exit 2; }
done

cleanup() {
  if [ "${E2E_KEEP:-0}" = 1 ]; then
    echo "kept: cluster $cluster, work directory $work"
    return
  fi
  helm uninstall "$release" -n "$ns" --wait >/dev/null 2>&1 || true
  kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

# step NAME FUNCTION: runs FUNCTION, prints PASS or FAIL with its duration
step() {
  local name=$1 fn=$2 start=$SECONDS
  echo "---- $name"
  if "$fn"; then
    echo "PASS $name ($((SECONDS - start)) s)"; results+=("PASS $name")
  else
    echo "FAIL $name ($((SECONDS - start)) s)"; results+=("FAIL $name"); failed=1
  fi
}

summary() {
  echo "==== summary"
  printf '%s\n' "${results[@]}"
  if [ $failed = 0 ]; then echo "e2e/kind: PASS"; else echo "e2e/kind: FAIL"; fi
}

# ---------------------------------------------------------------- helpers
plugin_pod() {
  kubectl -n "$ns" get pods -l app.kubernetes.io/name=csi-driver-erofs --field-selector "spec.nodeName=$node" \
    -o jsonpath='{.items[0].metadata.name}'
}

# metrics FILE: the plugin's Prometheus metrics, through the API server's pod proxy
metrics() {
  kubectl get --raw "/api/v1/namespaces/$ns/pods/$(plugin_pod):9808/proxy/q/metrics" >"$1"
}

# pods_of SELECTOR: names of the running pods matching SELECTOR in the default namespace
pods_of() {
  kubectl get pods -l "$1" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'
}

# check_pod POD SUMS: every file of the pod's volume has the expected sha256, and its program is
# mapped from /app (the pod's own path), never from the plugin's state directory
check_pod() {
  local pod=$1 sums=$2
  kubectl exec "$pod" -- /app/bin/busybox sh -c 'cd /app && /app/bin/busybox find . -type f -exec /app/bin/busybox sha256sum {} +' \
    >"$work/$pod.sums" || { echo "  error: cannot read the volume of $pod"; return 1; }
  kubectl exec "$pod" -- /app/bin/busybox cat /proc/1/maps >"$work/$pod.maps" || { echo "  error: no maps from $pod"; return 1; }
  python3 "$lib/check.py" contents "$sums" "$work/$pod.sums" && python3 "$lib/check.py" maps "$work/$pod.maps" /app/bin/busybox /var/lib/csi-driver-erofs
}

# layer_sums FILE: sha256sum of every regular file of demo/base.erofs under demo/top.erofs, as
# the host kernel's overlayfs shows them
layer_sums() {
  local m=$work/kernel rc=0
  mkdir -p "$m/base" "$m/top" "$m/merged"
  mount -t erofs -o ro "$work/demo/demo/base.erofs" "$m/base" || return 1
  mount -t erofs -o ro "$work/demo/demo/top.erofs" "$m/top" || { umount "$m/base"; return 1; }
  if mount -t overlay overlay -o "lowerdir=$m/top:$m/base" "$m/merged"; then
    (cd "$m/merged" && find . -type f -exec sha256sum {} +) >"$1" || rc=1
    umount "$m/merged"
  else
    rc=1
  fi
  umount "$m/top" "$m/base"
  return "$rc"
}

# our_mounts: mounts of ours left on the node (bind mounts into pods, FUSE mounts) and in the
# plugin's container, where the image mounts live (its state directory does not propagate)
our_mounts() {
  docker exec "$node" cat /proc/self/mountinfo | grep -E 'fuse\.erofs|kubernetes\.io~csi' || true
  kubectl -n "$ns" exec "$(plugin_pod)" -c plugin -- cat /proc/self/mountinfo | grep -E 'fuse\.erofs' || true
}

# ---------------------------------------------------------------- steps
step_build() {
  (cd "$top" && ./mvnw -B -q -ntp package -DskipTests) &&
    docker build -q -t "$image" -f "$top/plugin/src/main/docker/Dockerfile" "$top/plugin" >/dev/null &&
    docker pull -q "$busybox_image" >/dev/null
}

step_images() {
  "$top/examples/make-demo-images.sh" "$work/demo" >/dev/null
}

step_cluster() {
  kind create cluster --name "$cluster" --config "$here/cluster.yaml" --wait 120s &&
    kind load docker-image --name "$cluster" "$image" "$busybox_image" &&
    docker exec "$node" test -c /dev/fuse &&
    docker exec "$node" mkdir -p /var/lib/csi-driver-erofs/images &&
    docker cp "$work/demo/demo" "$node:/var/lib/csi-driver-erofs/images/"
}

step_install() {
  helm install "$release" "$top/charts/csi-driver-erofs" -n "$ns" --create-namespace \
    --set image.repository="${image%%:*}" --set image.tag="${image##*:}" --set image.pullPolicy=Never \
    --set unmountGrace=0s --wait --timeout 5m || return 1
  kubectl -n "$ns" wait --for=condition=Ready pod -l app.kubernetes.io/name=csi-driver-erofs --timeout 180s || return 1
  kubectl get csidriver erofs.csierofs.dev >/dev/null || { echo "  error: no CSIDriver object"; return 1; }
}

step_examples() {
  local f bad=0
  for f in inline-volume static-pv layered-volume; do
    kubectl apply -f "$top/examples/$f.yaml" >/dev/null || bad=1
  done
  kubectl wait --for=condition=Ready pod/erofs-inline pod/erofs-pvc pod/erofs-layers --timeout 180s || bad=1
  check_pod erofs-inline "$work/demo/sums/v1.sha256" || bad=1
  check_pod erofs-pvc "$work/demo/sums/v1.sha256" || bad=1
  # the stack's expected files, as the kernel's overlayfs of kernel EROFS mounts of the two layers
  # shows them (the oracle of the node-level run too)
  layer_sums "$work/layers.sha256" || bad=1
  check_pod erofs-layers "$work/layers.sha256" || bad=1
  return "$bad"
}

step_sharing() {
  local bad=0 pod v
  kubectl apply -f "$top/examples/sharing-demo.yaml" >/dev/null || return 1
  kubectl scale deployment erofs-demo-v1 erofs-demo-v2 --replicas=1 >/dev/null
  kubectl rollout status deployment/erofs-demo-v1 --timeout 180s >/dev/null || return 1
  kubectl rollout status deployment/erofs-demo-v2 --timeout 180s >/dev/null || return 1
  for v in v1 v2; do
    for pod in $(pods_of "app=erofs-demo,version=$v"); do check_pod "$pod" "$work/demo/sums/$v.sha256" || bad=1; done
  done
  metrics "$work/metrics-2-pods.txt" || { echo "  error: no metrics from the plugin"; return 1; }
  kubectl scale deployment erofs-demo-v1 erofs-demo-v2 --replicas=10 >/dev/null
  kubectl rollout status deployment/erofs-demo-v1 --timeout 300s >/dev/null || return 1
  kubectl rollout status deployment/erofs-demo-v2 --timeout 300s >/dev/null || return 1
  for v in v1 v2; do
    for pod in $(pods_of "app=erofs-demo,version=$v"); do check_pod "$pod" "$work/demo/sums/$v.sha256" || bad=1; done
  done
  metrics "$work/metrics-20-pods.txt" || { echo "  error: no metrics from the plugin"; return 1; }
  if grep -Eq '^csi_erofs_opens_passthrough [1-9]' "$work/metrics-20-pods.txt"; then
    python3 "$lib/check.py" growth "$work/metrics-2-pods.txt" "$work/metrics-20-pods.txt" || bad=1
  else
    # without passthrough (Linux before 6.9) pods share through the daemon's page cache, which
    # these counters do not show; the plugin logs which mode each mount uses
    echo "  note: no passthrough opens on this kernel ($(docker exec "$node" uname -r)): the growth check needs FUSE passthrough"
  fi
  return "$bad"
}

step_cleanup() {
  local left
  kubectl delete -f "$top/examples/sharing-demo.yaml" --wait --timeout 180s >/dev/null
  for f in inline-volume static-pv layered-volume; do
    kubectl delete -f "$top/examples/$f.yaml" --wait --timeout 180s >/dev/null
  done
  # unpublish is done when the pods are gone; the image mounts go right after (unmountGrace=0s)
  for _ in $(seq 30); do
    left=$(our_mounts)
    [ -z "$left" ] && break
    sleep 2
  done
  if [ -n "$left" ]; then
    echo "  error: mounts of ours left on the node:"
    printf '    %s\n' "$left"
    return 1
  fi
  echo "  ok: no fuse.erofs mount and no CSI volume mount left on $node"
}

step_uninstall() {
  helm uninstall "$release" -n "$ns" --wait --timeout 3m >/dev/null &&
    ! kubectl get csidriver erofs.csierofs.dev >/dev/null 2>&1
}

step "build: plugin image $image" step_build
step "images: demo v1, v2 and two layers (examples/make-demo-images.sh)" step_images
[ $failed = 0 ] && step "cluster: kind cluster $cluster, images loaded, demo images on the node" step_cluster
[ $failed = 0 ] && step "install: helm install of charts/csi-driver-erofs, plugin ready" step_install
[ $failed = 0 ] && step "examples: inline, PersistentVolume and layered pods read their images; maps name /app" step_examples
[ $failed = 0 ] && step "sharing: 2 then 20 replicas; shared bytes grow, the store does not" step_sharing
[ $failed = 0 ] && step "clean-up: pods deleted, no mount of ours left on the node" step_cleanup
[ $failed = 0 ] && step "uninstall: helm uninstall removes the driver" step_uninstall
if [ $failed != 0 ] && kind get clusters 2>/dev/null | grep -qx "$cluster"; then
  echo "---- plugin log (last 50 lines)"
  kubectl -n "$ns" logs -l app.kubernetes.io/name=csi-driver-erofs -c plugin --tail 50 2>/dev/null || true
fi
summary
exit $failed
