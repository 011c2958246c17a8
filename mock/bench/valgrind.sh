#!/bin/sh
# Short run of the mock under valgrind memcheck: every route (both API profiles), a delayed (suspended) answer,
# a dropped connection, an oversized body, initial values (seeded and from a file) with --history,
# admin calls, then SIGTERM. Fails on any error or leak.
#   sh mock/bench/valgrind.sh     (from the repo root; needs valgrind, curl)
set -eu
BIN=${CXONE_MOCK:-build/cxone-mock}
command -v valgrind >/dev/null || { echo "mock-valgrind: valgrind is not installed" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Initial values from a file (plus the seeded ones) and --history: reads, writes and the histories.
cat >"$tmp/values.json" <<'JSON'
{"contact-000001": {"category": "Follow-up", "subcategory": "Email Sent"},
 "vip-1": {"skill": 1002, "dispositionId": 11, "notes": "promised"}, "blank": null}
JSON
valgrind --leak-check=full --show-leak-kinds=definite,indirect,possible --errors-for-leak-kinds=definite,indirect,possible \
  --error-exitcode=1 --log-file="$tmp/vg.log" "$BIN" --port 0 --contacts 50 --history --values-file "$tmp/values.json" \
  >"$tmp/port" 2>"$tmp/err" &
pid=$!
i=0
while [ ! -s "$tmp/port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
port=$(head -n1 "$tmp/port")
[ -n "$port" ] || { echo "mock-valgrind: mock did not start"; cat "$tmp/err" "$tmp/vg.log"; exit 1; }
u="http://127.0.0.1:$port"
c() { curl -s -o /dev/null -w '%{http_code} ' --max-time 10 "$@" || true; }
tok=$(curl -s -u demo-client:demo-secret -d grant_type=client_credentials "$u/oauth2/token" |
      sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
A="Authorization: Bearer $tok"
B='{"outcome":{"category":"Contacted","subcategory":"Information Provided"}}'
c -d 'grant_type=client_credentials&client_id=demo-client&client_secret=demo-secret' "$u/oauth2/token"
c -u demo-client:wrong -d grant_type=client_credentials "$u/oauth2/token"
c -X PUT -H "$A" -H 'Idempotency-Key: v1' -d "$B" "$u/api/v2/contacts/contact-000001"
c -X PUT -H "$A" -H 'Idempotency-Key: v1' -d "$B" "$u/api/v2/contacts/contact-000001"
c -X PUT -H "$A" -H 'Idempotency-Key: v1' -d '{"outcome":{}}' "$u/api/v2/contacts/contact-000001"
c -X PUT -H "$A" -d 'not json' "$u/api/v2/contacts/contact-000002"
c -H "$A" "$u/api/v2/contacts/contact-000001"
c -H "$A" --path-as-is "$u/api/v2/contacts/a%2F..%0A"
c -H "$A" "$u/api/v2/contact/outcomes"
c -X DELETE "$u/api/v2/contacts/contact-000001"
# The cxone profile: discovery, the password grant, set-disposition (ok, unknown code, bad
# body), the read-back, skill dispositions, one applied-then-500.
ctok=$(curl -s -u demo-client:demo-secret -d 'grant_type=password&username=demo-access-key&password=demo-access-secret' \
       "$u/auth/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p')
CA="Authorization: Bearer $ctok"
S="$u/incontactapi/services/v33.0"
c "$u/.well-known/openid-configuration"
c "$u/.well-known/cxone-configuration?tenantId=11ee0000-0000-4000-8000-000000000001"
c "$u/.well-known/cxone-configuration?tenantId=x%ZZ"
c -u demo-client:demo-secret -d 'grant_type=password&username=demo-access-key&password=wrong' "$u/auth/token"
c -H "$CA" -d '{"dispositionInfo":{"skill":"1001","dispositionCode":"2","notes":"n","callbackNumber":"1"}}' \
  "$S/contacts/contact-000001/set-disposition"
c -H "$CA" -d '{"dispositionInfo":{"skill":"1001","dispositionCode":"99"}}' "$S/contacts/contact-000001/set-disposition"
c -H "$CA" -d '{"dispositionInfo":{"skill":1}}' "$S/contacts/contact-000001/set-disposition"
c -H "$CA" "$S/contacts/contact-000001/disposition"
c -H "$CA" "$S/skills/1001/dispositions"
c -X POST -d '{"error_after_mutate":1}' "$u/_mock/config"
c -H "$CA" -d '{"dispositionInfo":{"skill":"1002","dispositionCode":"11"}}' "$S/contacts/contact-000002/set-disposition"
c -X POST -d '{"error_after_mutate":0}' "$u/_mock/config"
head -c 70000 /dev/zero | tr '\0' x >"$tmp/big"
c -X PUT -H "$A" --data-binary @"$tmp/big" "$u/api/v2/contacts/contact-000003"
c -X POST -d '{"latency_ms":200,"drop_after_mutate":0}' "$u/_mock/config"
c -X PUT -H "$A" -H 'Idempotency-Key: v2' -d "$B" "$u/api/v2/contacts/contact-000004"
c -X POST -d '{"latency_ms":0,"drop_after_mutate":1}' "$u/_mock/config"
c -X PUT -H "$A" -H 'Idempotency-Key: v3' -d "$B" "$u/api/v2/contacts/contact-000005"
c -X POST -d '{"drop_after_mutate":0,"late_after_mutate":1,"late_seconds":5,"bogus":1}' "$u/_mock/config"
c -X POST -d '{"drop_after_mutate":0,"late_after_mutate":1,"late_seconds":5}' "$u/_mock/config"
# A late answer still pending at SIGTERM: the mock must answer it and free everything.
curl -s -o /dev/null --max-time 20 -X PUT -H "$A" -H 'Idempotency-Key: v4' -d "$B" "$u/api/v2/contacts/contact-000006" &
sleep 1
c -H "$A" "$u/api/v2/contacts/contact-000007"
c -H "$A" "$u/api/v2/contacts/blank"
c -H "$CA" "$S/contacts/vip-1/disposition"
c -H "$CA" "$S/contacts/contact-000009/disposition"
c -X POST -d '{"discovery_error_rate":1}' "$u/_mock/config"
c "$u/.well-known/openid-configuration"
c -X POST -d '{"discovery_error_rate":0}' "$u/_mock/config"
c "$u/_mock/stats"
c "$u/_mock/stats?mutations=0"
c "$u/_mock/stats?history=1&window_ms=5000"
c "$u/_mock/stats?window_ms=0"
c -X POST "$u/_mock/reset"
echo
kill -TERM $pid
rc=0
wait $pid || rc=$?
wait || true
grep -E "ERROR SUMMARY|definitely lost|indirectly lost|possibly lost|All heap blocks" "$tmp/vg.log" || true
if [ $rc -ne 0 ]; then
  echo "mock-valgrind: FAILED (exit $rc)"
  cat "$tmp/vg.log"
  exit 1
fi
echo "mock-valgrind: clean (exit 0)"
