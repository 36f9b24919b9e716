#!/usr/bin/env bash
# Makes the images the examples use: demo/v1.erofs and demo/v2.erofs (two versions of one small
# root-file-system-like image, most files the same) and demo/base.erofs, demo/top.erofs (two
# layers: top replaces, adds, and hides files of base with a whiteout and an opaque directory).
# Each carries a static busybox as bin/busybox, which the example pods run from their volume.
#
#   examples/make-demo-images.sh OUTDIR      (as root: the trees have owners, a device node,
#                                             trusted.* xattrs; OUTDIR must not exist)
#
# Then copy OUTDIR/demo to every node's image root (default /var/lib/csi-driver-erofs/images),
# e.g. with kind: docker cp OUTDIR/demo NODE:/var/lib/csi-driver-erofs/images/
# OUTDIR/sums/*.sha256 list every regular file's sha256 (relative paths), as `sha256sum` inside a
# pod prints them: e2e/lib/check.py contents compares the two.
# Needs mkfs.erofs (erofs-utils), python3 and a static busybox (BUSYBOX=PATH, default
# /bin/busybox; Debian and Ubuntu: apt-get install busybox-static).
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
out=${1:?usage: make-demo-images.sh OUTDIR}
busybox=${BUSYBOX:-/bin/busybox}
[ "$(id -u)" = 0 ] || { echo "make-demo-images.sh: run as root (owners, device nodes, trusted.* xattrs)" >&2; exit 1; }
command -v mkfs.erofs >/dev/null || { echo "make-demo-images.sh: no mkfs.erofs: apt-get install erofs-utils" >&2; exit 1; }
if [ ! -x "$busybox" ] || ldd "$busybox" >/dev/null 2>&1; then
  echo "make-demo-images.sh: $busybox is not a static executable: apt-get install busybox-static, or set BUSYBOX" >&2
  exit 1
fi
[ ! -e "$out" ] || { echo "make-demo-images.sh: $out exists" >&2; exit 1; }
E2E_BUSYBOX=$busybox python3 "$top/e2e/lib/make_trees.py" "$out/trees"
mkdir -p "$out/demo" "$out/sums"
for name in v1 v2 base top; do
  mkfs.erofs --quiet -zlz4hc "$out/demo/$name.erofs" "$out/trees/$name"
  (cd "$out/trees/$name" && find . -type f -exec sha256sum {} + | sort -k2) >"$out/sums/$name.sha256"
done
(cd "$out/demo" && sha256sum ./*.erofs)
