#!/usr/bin/env bash
# Runs csi-sanity's Identity and Node specs against the packaged plugin. Not part of .ci/run:
# csi-sanity is Go and comes from GitHub, which CI cannot reach. Run as root, from a machine with
# a checkout of kubernetes-csi/csi-test v5.3.1 (the newest tag Debian 12's Go 1.19 builds; it
# vendors its dependencies, so no module download is needed):
#
#   CSI_TEST_SRC=/path/to/csi-test-v5.3.1 e2e/sanity/run.sh [extra csi-sanity arguments]
#
# csi-sanity v5.3.1 asks for controller capabilities even from node-only plugins, and gets its
# test volumes from CreateVolume, so fake-controller/ (ours) answers CreateVolume with the
# volume context {image: app.erofs}. csi-sanity always publishes with readonly=false, which the
# plugin refuses by default; here it runs with --writable-requests read-only (publish read-only
# anyway). Expected: every Identity and Node spec that applies passes (docs/csi-sanity.md).
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/../.." && pwd)
src=${CSI_TEST_SRC:?set CSI_TEST_SRC to a csi-test v5.3.1 source tree}
fixtures=${FIXTURES_DIR:-$top/../shared/fixtures}
run=$(mktemp -d /tmp/csi-sanity.XXXXXX)
command -v go >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null; }

build=$run/build
cp -r "$src" "$build"
mkdir -p "$build/cmd/fake-controller" && cp "$top/e2e/sanity/fake-controller/main.go" "$build/cmd/fake-controller/"
export GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 GOCACHE=$run/gocache
(cd "$build" && go build -o "$run/csi-sanity" ./cmd/csi-sanity && go build -o "$run/fake-controller" ./cmd/fake-controller)

mkdir -p "$run/images"
cp "$fixtures/lz4.erofs" "$run/images/app.erofs"
printf 'image: app.erofs\n' > "$run/volume-params.yaml"
"$top/bin/csi-driver-erofs" serve --endpoint "unix://$run/csi.sock" --node-id sanity-node --state-dir "$run/state" \
  --image-root "$run/images" --metrics-port 0 --unmount-grace 0s --writable-requests read-only > "$run/plugin.log" 2>&1 &
plugin=$!
"$run/fake-controller" -endpoint "$run/fake-controller.sock" > "$run/fake-controller.log" 2>&1 &
fake=$!
trap 'kill $plugin $fake 2>/dev/null; wait $plugin $fake 2>/dev/null || true; echo "logs: $run"' EXIT
for _ in $(seq 120); do
  [ -S "$run/csi.sock" ] && [ -S "$run/fake-controller.sock" ] && grep -q 'started in' "$run/plugin.log" && break
  kill -0 $plugin 2>/dev/null || { cat "$run/plugin.log"; exit 1; }
  sleep 0.5
done
"$run/csi-sanity" -csi.endpoint "unix://$run/csi.sock" -csi.controllerendpoint "unix://$run/fake-controller.sock" \
  -csi.testvolumeparameters "$run/volume-params.yaml" -csi.mountdir "$run/mnt" -csi.stagingdir "$run/staging" \
  -ginkgo.focus 'Identity Service|Node Service' -ginkgo.junit-report "$run/junit.xml" "$@"
