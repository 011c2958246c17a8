#!/bin/bash
# Before/after engine throughput: OLD and NEW are two checkouts of this repository, each built
# (`make all`). Runs each tree's own bench/engine_batch.lua, alternating, ROUNDS times, against
# one mock (this tree's build/cxone-mock) on a free loopback port, and prints one line per run: the
# engine's BENCH-JSON and the client process's CPU (user + system, /usr/bin/time) per request.
#   bash bench/ab_engine.sh /path/to/old-checkout /path/to/new-checkout [ROUNDS]
set -eu
old=$1 new=$2 rounds=${3:-3}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
build/cxone-mock --port "$port" --rate 0 --any-contact >/dev/null 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null' EXIT
sleep 0.5
for round in $(seq 1 "$rounds"); do
  for tree in "$old" "$new"; do
    out=$(cd "$tree" && /usr/bin/time -f "CPU %U %S" env LUA_PATH="lua/?.lua;lua/?/init.lua;;" \
      LUA_CPATH="build/lua5.4/?.so;;" lua5.4 bench/engine_batch.lua --url "http://127.0.0.1:$port" \
      --tasks 100000 --workers 8 --batch-id "ab-$round-$RANDOM" 2>&1)
    line=$(echo "$out" | grep BENCH-JSON)
    cpu=$(echo "$out" | awk '/^CPU / { printf "%.1f", ($2 + $3) / 100000 * 1e6 }')
    echo "round $round $tree client_cpu_us_per_request=$cpu ${line#BENCH-JSON }"
  done
done
