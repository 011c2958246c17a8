#!/bin/sh
# What a before-image costs (cxone-bulk --undo-file: one read per write): 900 rows at the default
# --rate 45 / --burst 20 against the mock at its default tenant limit (50/s), without and with
# --undo-file, ROUNDS times; prints each run's --summary-json line. The figure that matters is
# `rate` (updates per second after the first burst) and `requests`.
#   sh bench/before_images.sh [ROUNDS]
set -eu
rounds=${1:-2}
dir=$(mktemp -d)
build/cxone-mock --quiet --any-contact >"$dir/port" &
mock=$!
trap 'kill $mock 2>/dev/null; rm -rf "$dir"' EXIT
until [ -s "$dir/port" ]; do sleep 0.1; done
url=http://127.0.0.1:$(head -n1 "$dir/port")
export CXONE_CLIENT_ID=demo-client CXONE_CLIENT_SECRET=demo-secret
for round in $(seq 1 "$rounds"); do
  lua5.4 -e 'print("contact_id,category,subcategory"); for i = 1, 900 do print(("c-%06d,Contacted,Sale Completed"):format(i)) end' >"$dir/a.csv"
  lua5.4 -e 'print("contact_id,category,subcategory"); for i = 1001, 1900 do print(("c-%06d,Contacted,Sale Completed"):format(i)) end' >"$dir/b.csv"
  rm -f "$dir/undo.csv" "$dir/undo.no-previous.csv"
  lua5.4 bin/cxone-bulk --base-url "$url" -q --summary-json "$dir/plain.json" -o /dev/null "$dir/a.csv"
  lua5.4 bin/cxone-bulk --base-url "$url" -q --summary-json "$dir/undo.json" --undo-file "$dir/undo.csv" \
    -o /dev/null "$dir/b.csv"
  echo "round $round without --undo-file: $(cat "$dir/plain.json")"
  echo "round $round with --undo-file:    $(cat "$dir/undo.json")"
  curl -s -X POST "$url/_mock/reset" >/dev/null
done
