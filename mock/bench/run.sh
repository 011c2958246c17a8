#!/bin/sh
# Benchmark the mock: keep-alive PUTs with fresh Idempotency-Keys, wrk -t2 -c10.
#   sh mock/bench/run.sh [DURATION] [CONNECTIONS]    (from the repo root; needs wrk, curl)
# Prints wrk's report and checks that every request was one mutation.
set -eu
BIN=${CXONE_MOCK:-build/cxone-mock}
DUR=${1:-10s}
CONNS=${2:-10}
CONTACTS=${CONTACTS:-100000}
command -v wrk >/dev/null || { echo "mock-bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
tmp=$(mktemp -d)
"$BIN" --port 0 --rate 0 --quiet --contacts "$CONTACTS" >"$tmp/port" 2>"$tmp/err" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(head -n1 "$tmp/port")
[ -n "$port" ] || { echo "mock-bench: mock did not start: $(cat "$tmp/err")" >&2; exit 1; }
url="http://127.0.0.1:$port"
token=$(curl -fsS -u demo-client:demo-secret -d grant_type=client_credentials "$url/oauth2/token" |
        sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
echo "# $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# TOKEN=... CONTACTS=$CONTACTS wrk -t2 -c$CONNS -d$DUR -s mock/bench/put.lua $url"
TOKEN=$token CONTACTS=$CONTACTS wrk -t2 -c"$CONNS" -d"$DUR" -s mock/bench/put.lua "$url"
echo "# mock stats:"
curl -fsS "$url/_mock/stats?mutations=0" | sed 's/,"/,\n  "/g' | grep -E '"(total_mutations|distinct_mutated|max_mutations_per_contact|replays|idempotency_records|peak_concurrency)"'
