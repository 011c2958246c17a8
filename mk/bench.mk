# Benchmarks (bench/, docs/bench.md). Not part of `make test` or CI.
#   make bench                    every measure, one table, bench/results/<date>.json, bench/scaling.png
#   make bench BENCH_ROUNDS=5     more rounds per comparison (medians)
#   make bench BENCH_ONLY=throughput,scaling     a subset (throughput,scaling,rate,memory,cpu,adaptive)
# Installs what it needs first (.ci/deps, then bench/packages: wrk, valgrind, gnuplot, time).
BENCH_ROUNDS ?= 3
BENCH_ENV     = LUA_PATH="lua/?.lua;./?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" CXONE_MOCK=build/cxone-mock \
                BENCH_LUA=$(LUA) BENCH_BUILD=$(BUILD) BENCH_ROUNDS=$(BENCH_ROUNDS)

.PHONY: bench bench-deps
bench-deps:
	@sh .ci/deps
	@sh bench/deps.sh

bench: bench-deps
	$(MAKE) module mock-bin
	$(BENCH_ENV) $(LUA) bench/run.lua

# Unthrottled throughput, local limiter vs the Redis-backed one (issue 14; docs/bench.md).
.PHONY: bench-redis
bench-redis: bench-deps
	$(MAKE) module mock-bin
	$(BENCH_ENV) $(LUA) bench/redis_limiter.lua
