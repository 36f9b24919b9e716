#!/usr/bin/env bash
# Rebuilds the images in this folder: a small generated tree imaged by erofs-utils >= 1.9.3
# with feature combinations the shared fixtures lack (dedupe with every algorithm, 1 MiB and
# 16 KiB pclusters, 1 KiB blocks, 48-bit extents with each algorithm, metabox with compressed
# directories, fingerprints with fragments, long xattr prefixes kept in the packed inode or the
# metabox, directories without their "." entry). The tests
# mount each image with the kernel as the oracle, so no manifest is stored. Debian 12 ships erofs-utils 1.5, which cannot make these:
#   MKFS=/path/to/erofs-utils-1.9.3/mkfs/mkfs.erofs ./make-images.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
MKFS=${MKFS:?set MKFS to an erofs-utils 1.9.3 mkfs.erofs}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree
python3 - "$tree" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(20261126)
words = ("erofs fuse layer image pod node volume digest block cluster cache page shared "
         "kernel passthrough content store fingerprint extent dedupe fragment").split()
def text(n):
    out, size = [], 0
    while size < n:
        line = " ".join(rnd.choice(words) for _ in range(rnd.randint(4, 14))) + "\n"
        out.append(line); size += len(line)
    return "".join(out)[:n].encode()
def put(rel, data, mode=0o644):
    p = os.path.join(root, rel)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    with open(p, "wb") as f:
        f.write(data)
    os.chmod(p, mode)
base_text = text(120_000)
base_noise = rnd.randbytes(40_000)
put("text/a.txt", base_text)
put("text/a-copy.txt", base_text)                         # whole-file duplicate
put("text/a-head.txt", base_text[:30_000])                # prefix of a: partial references
put("text/a-shifted.txt", b"xyz" + base_text[:70_000])   # shifted copy
put("text/a-tail.txt", base_text[-40_000:])               # suffix of a
put("noise/n.bin", base_noise)
put("noise/n-copy.bin", base_noise)
put("mixed/m.bin", base_text[:20_000] + base_noise[:15_000] + base_text[20_000:60_000])
for i, n in enumerate([0, 1, 511, 512, 1023, 1024, 1025, 4095, 4096, 4097, 16383, 16384, 16385, 65537]):
    put(f"sizes/t{n}", text(n))
    put(f"sizes/r{n}", rnd.randbytes(n))
with open(os.path.join(root, "sparse.img"), "wb") as f:
    f.truncate(3 << 20)
    f.seek(1 << 20); f.write(b"island-1M")
    f.seek((3 << 20) - 5); f.write(b"end!!")
os.makedirs(os.path.join(root, "many"))
for i in range(300):
    put(f"many/entry-{i:04d}", text(rnd.randint(0, 300)))
os.symlink("../text/a.txt", os.path.join(root, "many/link-to-a"))
os.link(os.path.join(root, "text/a.txt"), os.path.join(root, "text/a-hardlink.txt"))
os.setxattr(os.path.join(root, "text/a.txt"), "user.note", b"shared page cache")
for i in range(6):  # names under a long prefix (--xattr-prefix), some values shared
    p = os.path.join(root, f"many/entry-{i:04d}")
    os.setxattr(p, f"user.fixture.long.prefix.key{i % 3}", b"value-%d" % (i % 2))
    os.setxattr(p, "trusted.overlay.custom", b"y")
for d, _, files in os.walk(root):
    for n in files + [""]:
        os.utime(os.path.join(d, n), ns=(1710000000_000000000, 1710000000_123456789), follow_symlinks=False)
PY
common=(-T1710000000 --mkfs-time -U5f0e1d2c-3b4a-4968-8776-a5b4c3d2e1f0)
build() { local name=$1; shift; "$MKFS" --quiet "${common[@]}" "$@" "$here/$name.erofs" "$tree"; echo "$name: $(stat -c %s "$here/$name.erofs") bytes"; }
build lzma-dedupe        -zlzma -C65536 -Ededupe
build deflate-dedupe     -zdeflate -C65536 -Ededupe
build zstd-1m-dedupe     -zzstd -C1048576 -Ededupe
build lz4hc-16k-frag     -zlz4hc -C16384 -Eztailpacking,fragments
build b1024-lz4hc-frag   -b1024 -zlz4hc -C16384 -Eztailpacking,fragments
build 48bit-lz4          -zlz4 -E48bit
build 48bit-lzma-dedupe  -zlzma -C65536 -E48bit,dedupe
build 48bit-deflate      -zdeflate -C32768 -E48bit
# -x100 keeps xattrs inline: Linux 6.18 misreads a shared xattr of an inode in the metabox when
# both sit in the same page index of their mappings (see docs/dev-notes.md), so the kernel is no
# oracle for that case; xattr-pfx-metabox has shared xattrs on inodes past the first page.
build metabox-zstd-zdir  -zzstd -C65536 -m4096 --zD -x100
build fingerprint-frag   -zlz4hc -C65536 -Efragments,dedupe --xattr-inode-digest
build xattr-pfx-packed   -zlz4hc -Efragments --xattr-prefix=user.fixture.long.prefix.
build xattr-pfx-metabox  -zlz4hc -m4096 --xattr-prefix=user.fixture.long.prefix.
build dot-omitted        -Edot-omitted --exclude-path=sparse.img
build dot-omitted-zdir   -zlz4hc -Edot-omitted --zD
