#!/bin/sh
# No two files of mock/ may depend on each other in a loop (issue 23): a file depends on another
# when its object uses a symbol the other's object defines. Reads the objects of `make mock-bin`;
# prints each file's dependencies, then every pair that reaches each other, and fails on one.
#   sh mock/bench/deps.sh [OBJ_DIR]     (from the repo root; default build/mock-obj)
set -eu
dir=${1:-build/mock-obj}
ls "$dir"/*.o >/dev/null 2>&1 || { echo "mock-deps: no objects in $dir (make mock-bin first)" >&2; exit 1; }
nm -A "$dir"/*.o | awk '
function base(p) { sub(/:.*/, "", p); sub(/.*\//, "", p); sub(/\.o$/, "", p); return p }
NF == 3 && $2 ~ /^[TDBR]$/ { def[$3] = base($1); files[base($1)] = 1 }
NF == 3 && $2 == "U" { use[base($1), $3] = 1; files[base($1)] = 1 }
END {
    n = 0
    for (f in files) name[++n] = f
    for (k in use) {
        split(k, p, SUBSEP)
        g = def[p[2]]
        if (g != "" && g != p[1]) r[p[1], g] = d[p[1], g] = 1
    }
    for (i = 1; i <= n; i++) {
        line = ""
        for (j = 1; j <= n; j++) if (d[name[i], name[j]]) line = line " " name[j]
        print name[i] " ->" line
    }
    for (k = 1; k <= n; k++) for (i = 1; i <= n; i++) if (r[name[i], name[k]])
        for (j = 1; j <= n; j++) if (r[name[k], name[j]]) r[name[i], name[j]] = 1
    bad = 0
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++)
        if (r[name[i], name[j]] && r[name[j], name[i]]) { print "mock-deps: loop: " name[i] " <-> " name[j]; bad = 1 }
    if (bad) exit 1
    print "mock-deps: no loops between " n " files"
}'
