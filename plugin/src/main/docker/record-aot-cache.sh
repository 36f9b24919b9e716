#!/bin/sh
# Records the plugin's AOT class cache into $1 (at image build time): starts `serve` on a scratch
# socket, state directory and metrics port, waits until it listens, asks it what kubelet asks,
# stops it with SIGTERM; the JVM writes the cache as it exits. Never fails the build: without a cache the plugin only uses
# more memory.
set -u
out=$1
here=$(cd "$(dirname "$0")" && pwd)
scratch=$(mktemp -d)
# shellcheck disable=SC2046  # java-options.sh prints several options: split them
java $("$here/java-options.sh") -XX:AOTCacheOutput="$out" -jar "$here/quarkus-run.jar" serve \
  --endpoint "unix://$scratch/csi.sock" --node-id aot-training --state-dir "$scratch/state" \
  --image-root "$scratch" --metrics-port 0 >"$scratch/log" 2>&1 &
pid=$!
i=0
while [ ! -S "$scratch/csi.sock" ] && [ $i -lt 600 ] && kill -0 "$pid" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
if [ -S "$scratch/csi.sock" ]; then
  # what kubelet asks (AotTraining): probes, capabilities, a refused publish; no volume, since
  # an image build has no /dev/fuse
  java --enable-native-access=ALL-UNNAMED --sun-misc-unsafe-memory-access=allow -XX:TieredStopAtLevel=1 \
    -cp "$here/app/*:$here/lib/main/*" dev.csierofs.csi.AotTraining "$scratch/csi.sock" >>"$scratch/log" 2>&1
  kill -TERM "$pid"
fi
wait "$pid" || true
if [ -f "$out" ]; then
  echo "record-aot-cache: $out ($(du -k "$out" | cut -f1) KiB)"
else
  echo "record-aot-cache: no cache recorded (the plugin runs without one); its log ends:" >&2
  tail -n 5 "$scratch/log" >&2
fi
rm -rf "$scratch"
