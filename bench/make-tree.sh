#!/usr/bin/env bash
# Copies about $2 MB of real files (shared libraries from /usr/lib/x86_64-linux-gnu, then
# /usr/share) into $1, keeping modes, owners, times, symlinks and hard links. Deterministic:
# files are taken in sorted order until the budget is reached.
set -euo pipefail
out=$1
budget_mb=${2:-200}
mkdir -p "$out"
python3 - "$out" "$budget_mb" <<'PY'
import os, sys
out, budget = sys.argv[1], int(sys.argv[2]) << 20
halves = [("/usr/lib/x86_64-linux-gnu", budget * 6 // 10), ("/usr/share", budget * 4 // 10)]
picked = []
for root, limit in halves:
    total = 0
    for d, dirs, files in os.walk(root):
        dirs.sort()
        for f in sorted(files):
            p = os.path.join(d, f)
            try:
                st = os.lstat(p)
            except OSError:
                continue
            size = 0 if os.path.islink(p) else st.st_size
            if total + size > limit:
                continue  # a file that would overshoot the budget (e.g. libLLVM) is skipped
            picked.append(p)
            total += size
with open(os.path.join(out, ".list"), "w") as fh:
    fh.write("\n".join(x.lstrip("/") for x in picked) + "\n")
PY
tar -C / --no-recursion -cf - -T "$out/.list" | tar -C "$out" -xf -
rm "$out/.list"
