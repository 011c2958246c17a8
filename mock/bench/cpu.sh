#!/bin/sh
# The mock's CPU time per PUT under the wrk load of run.sh (fresh Idempotency-Key per request,
# 100,000 contacts, --rate 0): a figure that moves much less than requests/s when other jobs
# share the machine, so two builds can be compared by alternating runs.
#   sh mock/bench/cpu.sh [BINARY [EXTRA FLAGS...]]   (from the repo root; needs wrk, curl, bc)
#   e.g. sh mock/bench/cpu.sh build/cxone-mock --history
# Prints: requests/s, mutations counted by the mock, mock CPU (user + system) per mutation.
set -eu
BIN=${1:-${CXONE_MOCK:-build/cxone-mock}}
[ $# -gt 0 ] && shift
DUR=${DUR:-6s}
command -v wrk >/dev/null || { echo "mock-cpu: wrk is not installed (apt-get install wrk)" >&2; exit 1; }
tmp=$(mktemp -d)
"$BIN" --port 0 --rate 0 --quiet --contacts 100000 "$@" >"$tmp/port" 2>"$tmp/err" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$tmp"' EXIT INT TERM
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
url=http://127.0.0.1:$(head -n1 "$tmp/port")
token=$(curl -fsS -u demo-client:demo-secret -d grant_type=client_credentials "$url/oauth2/token" |
        sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
ticks() { awk '{print $14 + $15}' "/proc/$pid/stat"; } # utime + stime, in clock ticks
t0=$(ticks)
TOKEN=$token CONTACTS=100000 wrk -t2 -c10 -d"$DUR" -s mock/bench/put.lua "$url" >"$tmp/wrk"
t1=$(ticks)
n=$(curl -fsS "$url/_mock/stats?mutations=0" | sed -n 's/.*"total_mutations":\([0-9]*\).*/\1/p')
rps=$(awk '/Requests\/sec/ {print $2}' "$tmp/wrk")
us=$(echo "($t1 - $t0) * 1000000 / $(getconf CLK_TCK) / $n" | bc -l)
printf '%s requests/s, %s mutations, %.1f us of mock CPU per request\n' "$rps" "$n" "$us"
