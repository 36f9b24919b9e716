#!/usr/bin/env python3
"""Walks a mounted tree and prints, per path and operation, what the filesystem answered.

Usage: verdict-walk.py ROOT

One line per (path, operation), tab-separated: path, operation, result. A result is either the
value (stat fields, symlink target, xattr names and values, directory entries, sha256 of the
data) or "E<errno-name>" when the operation failed. Paths and names are escaped like the
fixture manifests (bytes outside 0x21..0x7e and \\ , = as \\xHH). Used by the differential test
to compare a kernel mount and a FUSE mount of the same (corrupted) image; both sides are walked
the same way, so the lines must be equal where both filesystems agree.

Bounds (a corrupted image may claim anything): at most MAX_PATHS paths, files are read up to
MAX_READ bytes, directories are not entered twice (by device and inode) and not below MAX_DEPTH.
"""
import errno
import hashlib
import os
import stat
import sys

MAX_PATHS = 5000
MAX_READ = 16 << 20
MAX_DEPTH = 64


def esc(b):
    out = []
    for c in b:
        if 0x21 <= c <= 0x7e and c not in (0x5c, 0x2c, 0x3d):
            out.append(chr(c))
        else:
            out.append('\\x%02x' % c)
    return ''.join(out)


def err(e):
    return errno.errorcode.get(e.errno, 'E%d' % e.errno) if e.errno else 'Eunknown'


def kind(m):
    for test, name in ((stat.S_ISREG, 'reg'), (stat.S_ISDIR, 'dir'), (stat.S_ISLNK, 'lnk'), (stat.S_ISCHR, 'chr'),
                       (stat.S_ISBLK, 'blk'), (stat.S_ISFIFO, 'fifo'), (stat.S_ISSOCK, 'sock')):
        if test(m):
            return name
    return 'type%o' % stat.S_IFMT(m)


def main():
    root = os.fsencode(sys.argv[1])
    out = []
    seen_dirs = set()
    todo = [(b'/', 0)]
    count = 0

    def emit(rel, op, result):
        out.append('%s\t%s\t%s' % (esc(rel), op, result))

    while todo and count < MAX_PATHS:
        rel, depth = todo.pop()
        count += 1
        full = root if rel == b'/' else root + rel
        try:
            st = os.lstat(full)
        except OSError as e:
            emit(rel, 'stat', err(e))
            continue
        k = kind(st.st_mode)
        rdev = '%d:%d' % (os.major(st.st_rdev), os.minor(st.st_rdev)) if k in ('chr', 'blk') else '-'
        emit(rel, 'stat', '%s %04o %d %d %d %d %d %s' % (k, stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_size,
                                                          st.st_nlink, st.st_mtime_ns, rdev))
        try:
            names = sorted(os.listxattr(full, follow_symlinks=False), key=os.fsencode)
            emit(rel, 'xattrs', ','.join(esc(os.fsencode(n)) for n in names) or '-')
            for n in names:
                try:
                    v = os.getxattr(full, n, follow_symlinks=False)
                    emit(rel, 'xattr ' + esc(os.fsencode(n)), v.hex() or '-')
                except OSError as e:
                    emit(rel, 'xattr ' + esc(os.fsencode(n)), err(e))
        except OSError as e:
            emit(rel, 'xattrs', err(e))
        if k == 'lnk':
            try:
                emit(rel, 'link', esc(os.readlink(full)))
            except OSError as e:
                emit(rel, 'link', err(e))
        elif k == 'reg':
            h = hashlib.sha256()
            got = 0
            try:
                fd = os.open(full, os.O_RDONLY | os.O_NOFOLLOW)
                try:
                    while got < MAX_READ:
                        b = os.read(fd, min(1 << 20, MAX_READ - got))
                        if not b:
                            break
                        h.update(b)
                        got += len(b)
                finally:
                    os.close(fd)
                emit(rel, 'data', '%d %s' % (got, h.hexdigest()))
            except OSError as e:
                emit(rel, 'data', err(e))
        elif k == 'dir':
            key = (st.st_dev, st.st_ino)
            if key in seen_dirs or depth >= MAX_DEPTH:
                emit(rel, 'list', 'not entered again')
                continue
            seen_dirs.add(key)
            entries = []
            failure = None
            try:
                with os.scandir(full) as it:
                    for d in it:
                        entries.append(os.fsencode(d.name))
            except OSError as e:
                failure = err(e)
            entries.sort()
            emit(rel, 'list', ','.join(esc(n) for n in entries) + ('' if failure is None else ' ' + failure))
            base = b'' if rel == b'/' else rel
            for n in reversed(entries):
                todo.append((base + b'/' + n, depth + 1))
    if todo:
        out.append('#\ttruncated\tmore than %d paths' % MAX_PATHS)
    out.sort()
    sys.stdout.write('\n'.join(out) + '\n')


main()
