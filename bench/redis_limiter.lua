-- make bench-redis: unthrottled engine throughput with the process-local limiter vs the
-- Redis-backed one (redis-server on a loopback port, persistence off), same mock, same batch.
-- Rounds alternate the two so load drift on a shared machine hits both alike; prints medians.
--   BENCH_ROUNDS=3 BENCH_TASKS=20000 lua5.4 bench/redis_limiter.lua
package.path = "lua/?.lua;./?.lua;" .. package.path
local R = require "spec.helpers.redis"
local Mock = require "spec.helpers.mock"
local cjson = require "cjson"

local rounds = tonumber(os.getenv("BENCH_ROUNDS")) or 3
local tasks = tonumber(os.getenv("BENCH_TASKS")) or 20000
local lua = os.getenv("BENCH_LUA") or "lua5.4"
local build = os.getenv("BENCH_BUILD") or "build/lua5.4"

local function batch(url, limit, round)
  local cmd = string.format("env LUA_PATH='lua/?.lua;;' LUA_CPATH='%s/?.so;;' %s bench/engine_batch.lua "
    .. "--url %s --tasks %d --workers 8 --batch-id redis-bench-%d%s", build, lua, url, tasks, round,
    limit and (" --shared-limit " .. Mock.quote(limit)) or "")
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("*a")
  p:close()
  local json = out:match("BENCH%-JSON (%b{})")
  assert(json, "engine_batch failed: " .. out)
  local r = cjson.decode(json)
  assert(r.succeeded == tasks, "not every task succeeded: " .. json)
  return r.rps
end

local function median(t)
  table.sort(t)
  return t[math.floor((#t + 1) / 2)]
end

local redis = R.start()
local m = Mock.start { "--rate", "0", "--any-contact" }
local ok, err = pcall(function()
  local loc, red = {}, {}
  for i = 1, rounds do
    loc[#loc + 1] = batch(m.url, nil, i)
    red[#red + 1] = batch(m.url, redis:url("bench-" .. i), i)
    print(string.format("round %d: local %.0f req/s, redis %.0f req/s", i, loc[#loc], red[#red]))
  end
  local l, r = median(loc), median(red)
  print(string.format("median of %d rounds, %d tasks, 8 workers: local %.0f req/s, redis %.0f req/s, "
    .. "redis/local %.2f (target >= 0.80)", rounds, tasks, l, r, r / l))
end)
m:stop()
redis:stop()
if not ok then error(err, 0) end
