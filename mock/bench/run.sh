#!/bin/sh
# Benchmark the mock: keep-alive PUTs with a fresh Idempotency-Key each, wrk -t2 -c10, --rate 0.
#   sh mock/bench/run.sh [DURATION] [CONNECTIONS]    (from the repo root; needs wrk and curl)
#   BARE=1 sh mock/bench/run.sh    the same load against a bare libmicrohttpd handler
#                                  (mock/bench/bare.c) for comparison
# Prints wrk's report and the mock's counters: every request must be exactly one mutation.
set -eu
BIN=${CXONE_MOCK:-build/cxone-mock}
DUR=${1:-10s}
CONNS=${2:-10}
CONTACTS=${CONTACTS:-100000}
command -v wrk >/dev/null || { echo "mock-bench: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
tmp=$(mktemp -d)
if [ "${BARE:-0}" = 1 ]; then
  mkdir -p build
  ${CC:-cc} -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -o build/mhd-bare mock/bench/bare.c \
    $(pkg-config --cflags --libs libmicrohttpd) -lpthread
  build/mhd-bare >"$tmp/port" 2>"$tmp/err" &
else
  "$BIN" --port 0 --rate 0 --quiet --contacts "$CONTACTS" >"$tmp/port" 2>"$tmp/err" &
fi
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
port=$(head -n1 "$tmp/port")
[ -n "$port" ] || { echo "mock-bench: server did not start: $(cat "$tmp/err")" >&2; exit 1; }
url="http://127.0.0.1:$port"
if [ "${BARE:-0}" = 1 ]; then
  token=none
else
  token=$(curl -fsS -u demo-client:demo-secret -d grant_type=client_credentials "$url/oauth2/token" |
          sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
fi
echo "# $(date -u '+%Y-%m-%dT%H:%M:%SZ')  $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores, loadavg $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# TOKEN=... CONTACTS=$CONTACTS wrk -t2 -c$CONNS -d$DUR -s mock/bench/put.lua $url   ($( [ "${BARE:-0}" = 1 ] && echo "bare libmicrohttpd" || echo "$BIN --rate 0 --contacts $CONTACTS"))"
TOKEN=$token CONTACTS=$CONTACTS wrk -t2 -c"$CONNS" -d"$DUR" -s mock/bench/put.lua "$url"
if [ "${BARE:-0}" != 1 ]; then
  echo "# mock counters:"
  curl -fsS "$url/_mock/stats?mutations=0" |
    sed 's/,"/,\n  "/g' | grep -E '"(total_mutations|distinct_mutated|max_mutations_per_contact|replays|idempotency_records|peak_concurrency)"'
fi
