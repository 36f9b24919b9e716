#!/usr/bin/env python3
"""Prints where lseek(SEEK_DATA) and lseek(SEEK_HOLE) land in every regular file under ROOT:
one line per file, 'path<TAB>size<TAB>data..hole segments<TAB>probes', sorted by path.
The probes are SEEK_DATA and SEEK_HOLE from a few fixed offsets (in and past the file),
with ENXIO written as 'x'. Two mounts of one image must print the same lines."""
import os, sys

root = sys.argv[1]
out = []
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(filenames):
        path = os.path.join(dirpath, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            size = os.fstat(fd).st_size

            def seek(pos, whence):
                try:
                    return str(os.lseek(fd, pos, whence))
                except OSError as e:
                    if e.errno == 6:  # ENXIO
                        return "x"
                    raise

            segs = []
            pos = 0
            while pos < size:
                d = seek(pos, os.SEEK_DATA)
                if d == "x":
                    break
                h = int(seek(int(d), os.SEEK_HOLE))
                segs.append(f"{d}..{h}")
                pos = h
            probes = []
            for p in sorted({0, 1, size // 3, size // 2, max(size - 1, 0), size, size + 4096}):
                probes.append(f"{p}:{seek(p, os.SEEK_DATA)}/{seek(p, os.SEEK_HOLE)}")
        finally:
            os.close(fd)
        rel = os.fsencode(os.path.relpath(path, root)).decode("ascii", "backslashreplace")
        out.append(f"{rel}\t{size}\t{' '.join(segs)}\t{' '.join(probes)}")
print("\n".join(sorted(out)))
