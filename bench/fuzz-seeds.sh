#!/usr/bin/env bash
# Rebuilds the committed seed images of the reader fuzz target (ImageFuzzTest#readImage): one
# tiny tree (inline, multi-block and empty files, a symlink, a hard link, xattrs, a nested
# directory, a whiteout) through mkfs.erofs in each layout it can write, plus the two small
# metadata-only fixtures. Kept tiny on purpose: a fuzzer runs thousands of these per second.
# Usage: bench/fuzz-seeds.sh [fixtures-dir]
set -euo pipefail
top=$(cd "$(dirname "$(readlink -f "$0")")/.." && pwd)
fixtures=${1:-$top/../shared/fixtures}
out=$top/core/src/test/resources/dev/csierofs/erofs/ImageFuzzTestInputs/readImage
mkdir -p "$out"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
t=$work/tree
mkdir -p "$t/dir/sub" "$t/empty-dir"
printf 'hello\n' >"$t/hello"
: >"$t/empty"
# compressible text across blocks, and a deterministic incompressible-ish block
for i in $(seq 1 200); do printf 'line %04d of a compressible file\n' "$i"; done >"$t/dir/text"
python3 -c 'import sys,random; r=random.Random(7); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(1500)))' >"$t/dir/sub/noise"
ln -s ../hello "$t/dir/link"
ln "$t/hello" "$t/dir/sub/hardlink"
setfattr -n user.note -v "a value" "$t/hello"
setfattr -n trusted.overlay.opaque -v y "$t/dir/sub"
mknod "$t/whiteout" c 0 0
touch -h -d @1710000000 "$t" "$t"/* "$t"/*/* "$t"/*/*/*
build() {
  local name=$1
  shift
  mkfs.erofs --quiet -T1710000000 -U5f0e1d2c-3b4a-4968-8776-a5b4c3d2e1f0 --all-root "$@" "$out/$name.erofs" "$t"
}
build plain
build extended -Eforce-inode-extended
build compact-noinline -Eforce-inode-compact -Enoinline_data
build chunked --chunksize=4096
build lz4 -zlz4
build lz4hc-pcluster -zlz4hc,9 -C16384
build lz4-ztailpacking -zlz4 -Eztailpacking
build lz4-legacy -zlz4 -Elegacy-compress
for f in blobdev tar-index; do
  install -m 0644 "$fixtures/$f.erofs" "$out/fixture-$f.erofs"
done
ls -l "$out"
