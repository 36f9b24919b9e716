#!/bin/sh
# Prints the JVM options of the plugin's container (the same as bin/csi-driver-erofs gives `serve`):
# native access (libc through java.lang.foreign); serial GC and a small heap whose young
# generation does not promote decoding garbage; freed malloc memory returned every 5 s; the class
# cache mapped where it was made (relocating it would copy its pages); C2 only, from 1,000 calls
# (as fast as tiers once warm, with a third of the compiled code); no decoded-extent cache (files
# are decoded once, into the content store); NIO's temporary direct buffers cached per thread
# up to 64 KiB only; protobuf's sun.misc.Unsafe allowed; the AOT class
# cache when the image has one. bin/csi-driver-erofs says more of why.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
echo --enable-native-access=ALL-UNNAMED -XX:+UseSerialGC -Xlog:aot=off -Xlog:cds=off \
  -Xms8m -Xmn4m -XX:SurvivorRatio=2 -Xmx1g -XX:MinHeapFreeRatio=10 -XX:MaxHeapFreeRatio=30 -XX:TrimNativeHeapInterval=5000 \
  -XX:+UnlockDiagnosticVMOptions -XX:ArchiveRelocationMode=0 -XX:-TieredCompilation -XX:CompileThreshold=1000 \
  -Dcsierofs.zcache.bytes=0 -Djdk.nio.maxCachedBufferSize=65536 --sun-misc-unsafe-memory-access=allow
if [ -f "$here/plugin.aot" ]; then echo "-XX:AOTCache=$here/plugin.aot"; fi
