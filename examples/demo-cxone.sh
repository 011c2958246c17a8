#!/bin/sh
# `make demo-cxone`: the cxone API profile end to end. Starts the mock with only the real
# platform's routes (discovery, /auth/token password grant, set-disposition) on a free loopback
# port, with 5% of set-dispositions applied and then dropped unanswered and 5% applied and then
# answered 500; runs cxone-bulk --api cxone on a generated CSV (contact_id,skill,
# disposition_code,notes; 500 rows at 45/s under the mock's 50/s limit, about 12 s) and prints what the server saw: every
# contact applied exactly once thanks to the read-back before any resend.
set -eu
cd "$(dirname "$0")/.."
LUA=${LUA:-lua5.4}
OUT=${DEMO_OUT:-build/demo}
DEMO_ROWS=${DEMO_ROWS:-500}
export DEMO_ROWS
mkdir -p "$OUT"
portfile="$OUT/mock-cxone.port"
input="$OUT/demo-cxone.csv"
. examples/mock.sh
start_mock demo-cxone "$portfile" --api cxone --any-contact --drop-after-mutate 0.05 --error-after-mutate 0.05

"$LUA" -e '
  local n = tonumber(os.getenv("DEMO_ROWS"))
  print("contact_id,skill,disposition_code,notes")
  local codes = { "Sale", "Callback Requested", "Not Interested", "No Answer" }
  for i = 1, n do print(("demo-%05d,1001,%s,demo row %d"):format(i, codes[i % 4 + 1], i)) end' > "$input"
echo "demo-cxone: mock CXone (cxone profile) at $url; issuer discovery, password grant, $DEMO_ROWS set-dispositions"

export CXONE_CLIENT_ID=demo-client CXONE_CLIENT_SECRET=demo-secret
export CXONE_ACCESS_KEY_ID=demo-access-key CXONE_ACCESS_KEY_SECRET=demo-access-secret
status=0
"$LUA" bin/cxone-bulk --api cxone --issuer "$url" --rate 45 --timeout 2 --validate-outcomes \
  --output "$OUT/demo-cxone-results.jsonl" --failed "$OUT/demo-cxone-failed.csv" "$input" || status=$?

echo
curl -s "$url/_mock/stats" | "$LUA" -e '
  local s = require("cjson").decode(io.read("*a"))
  local r = s.requests.by_route
  print(("demo-cxone: the server saw %d set-disposition POSTs, %d read-backs, %d contacts dispositioned, "
    .. "at most %d application(s) per contact")
    :format(r["POST /incontactapi/contacts/set-disposition"], r["GET /incontactapi/contacts/disposition"],
      s.distinct_dispositioned, s.max_set_dispositions_per_contact))'
verified=$(grep -c '"verified":true' "$OUT/demo-cxone-results.jsonl" || true)
echo "demo-cxone: $verified rows settled by the read-back (lost answer, already applied: not sent again)"
case "$status" in
  0|1) exit 0 ;;
  *) exit "$status" ;;
esac
