#!/bin/sh
# `make demo`: start the mock CXone server (tenant limit 50 req/s, 2,000 contacts) on a free
# loopback port, run cxone-bulk on examples/demo-contacts.csv at its default rate (45/s, about
# 45 s) with the progress bar, write the results, the failed rows and the HTML run report, print
# the summary, what the server saw and where the report is, and stop the mock whatever happens.
set -eu
cd "$(dirname "$0")/.."
LUA=${LUA:-lua5.4}
OUT=${DEMO_OUT:-build/demo}
INPUT=${DEMO_INPUT:-examples/demo-contacts.csv}
mkdir -p "$OUT"
portfile="$OUT/mock.port"
. examples/mock.sh
start_mock demo "$portfile" --contacts 2000
echo "demo: mock CXone at $url (limit 50 req/s); sending $INPUT at cxone-bulk's default 45/s"

export CXONE_CLIENT_ID=demo-client CXONE_CLIENT_SECRET=demo-secret
status=0
"$LUA" bin/cxone-bulk --base-url "$url" --output "$OUT/demo-results.jsonl" \
  --failed "$OUT/demo-failed.csv" --report "$OUT/demo-report.html" "$INPUT" || status=$?

echo
echo "demo: results      $OUT/demo-results.jsonl ($(wc -l < "$OUT/demo-results.jsonl") lines)"
echo "demo: failed rows  $OUT/demo-failed.csv (rows: $(($(wc -l < "$OUT/demo-failed.csv") - 1)); fix them and feed the file back in)"
echo "demo: run report   $(cd "$OUT" && pwd)/demo-report.html (open it in a browser)"
curl -s "$url/_mock/stats?mutations=0" | "$LUA" -e '
  local s = require("cjson").decode(io.read("*a"))
  print(("demo: the server saw %d PUTs, %d contacts updated, at most %d update(s) per contact, "
    .. "%d replays, %d x 429, busiest second %d requests")
    :format(s.requests.by_route["PUT /api/v2/contacts"], s.distinct_mutated, s.max_mutations_per_contact,
      s.replays, s.rate_limited, s.max_api_requests_in_1s))'

# Failed rows are part of the demo; only usage/input/auth errors or an interrupt fail it.
case "$status" in
  0|1) exit 0 ;;
  *) exit "$status" ;;
esac
