-- make bench: every benchmark of docs/bench.md in one go, on this machine, then one table.
--   LUA_PATH="lua/?.lua;./?.lua;;" LUA_CPATH="build/lua5.4/?.so;;" lua5.4 bench/run.lua
-- Settings come from the environment (defaults in parentheses):
--   BENCH_ROUNDS (3)          rounds of every throughput comparison; medians are reported
--   BENCH_ONLY (all)          comma list of: throughput,scaling,rate,memory,cpu,adaptive
--   BENCH_CONNECTIONS (8)     engine workers = wrk connections = curl --parallel-max (measure 1)
--   BENCH_TASKS (30000)       engine tasks per throughput run; BENCH_CURL_TASKS (20000) for curl
--   BENCH_FLOOR_TASKS (30000) tasks per libcurl floor run (bench/peers/curlfloor)
--   BENCH_WRK_SECONDS (3)     wrk duration per throughput run
--   BENCH_SCALING_TASKS (20000), BENCH_SCALING_WRK_SECONDS (2)
--   BENCH_RATE_TASKS (5000)   measure 3 (at 45/s: about 111 s)
--   BENCH_ROWS (1000000), BENCH_ROWS_SMALL (100000)   measure 4
--   BENCH_CG_TASKS (10000)    measure 5
--   BENCH_ADAPTIVE_SECONDS (60) measure 6: seconds measured after the first 20 (about 2 + 1 min)
--   BENCH_MOCK_THREADS (2)    the mock's --threads (its default)
--   BENCH_RESULTS (bench/results/<UTC date-time>.json), BENCH_PLOT (bench/scaling.png)
-- Exits 1 only when a run fails (a contender errors, a non-200 answer, a lost result); a missed
-- target is reported in the table, not in the exit status.
package.path = "./?.lua;" .. package.path
local U = require "bench.lib.util"
local Mock = require "spec.helpers.mock"
local Throughput = require "bench.lib.throughput"
local Rate = require "bench.lib.rate"
local Memory = require "bench.lib.memory"
local Cpu = require "bench.lib.cpu"
local Report = require "bench.lib.report"
local Adaptive = require "bench.lib.adaptive"

local function env_num(name, default)
  local v = os.getenv(name)
  if v == nil or v == "" then return default end
  local n = tonumber(v)
  if not n or n < 1 then
    io.stderr:write(string.format("bench: %s must be a number >= 1 (got %q)\n", name, v))
    os.exit(2)
  end
  return math.floor(n)
end

local lua = os.getenv("BENCH_LUA") or "lua5.4"
local build = os.getenv("BENCH_BUILD") or ("build/" .. lua)
local stamp = os.date("!%Y-%m-%dT%H%MZ")
local scratch_dir = U.capture("mktemp -d /tmp/cxone-bench.XXXXXX")

local ctx = {
  lua = lua,
  lua_env = string.format("env LUA_PATH=%s LUA_CPATH=%s", U.q("lua/?.lua;;"), U.q(build .. "/?.so;;")),
  scratch = scratch_dir .. "/b",
  rounds = env_num("BENCH_ROUNDS", 3),
  connections = env_num("BENCH_CONNECTIONS", 8),
  tasks = env_num("BENCH_TASKS", 30000),
  curl_tasks = env_num("BENCH_CURL_TASKS", 20000),
  floor_tasks = env_num("BENCH_FLOOR_TASKS", 30000),
  wrk_seconds = env_num("BENCH_WRK_SECONDS", 3),
  wrk_threads = 2,
  scaling_workers = { 1, 2, 4, 8, 16, 32, 64 },
  scaling_tasks = env_num("BENCH_SCALING_TASKS", 20000),
  scaling_wrk_seconds = env_num("BENCH_SCALING_WRK_SECONDS", 2),
  rate_tasks = env_num("BENCH_RATE_TASKS", 5000),
  rate = 45, rate_burst = 20, rate_workers = 10, mock_rate = 50,
  rows = env_num("BENCH_ROWS", 1000000),
  rows_small = env_num("BENCH_ROWS_SMALL", 100000),
  cg_tasks = env_num("BENCH_CG_TASKS", 10000),
  adaptive_window = env_num("BENCH_ADAPTIVE_SECONDS", 60),
  mock_threads = env_num("BENCH_MOCK_THREADS", 2),
}

local only = {}
local only_env = os.getenv("BENCH_ONLY") or ""
local known = { throughput = true, scaling = true, rate = true, memory = true, cpu = true, adaptive = true }
for name in only_env:gmatch("[^,%s]+") do
  if not known[name] then
    io.stderr:write("bench: BENCH_ONLY: unknown measure " .. name .. " (throughput,scaling,rate,memory,cpu,adaptive)\n")
    os.exit(2)
  end
  only[name] = true
end
local function wanted(name) return only_env == "" or only[name] end

local mocks = {}
local function start_mock(rate)
  local args = { "--rate", tostring(rate), "--any-contact", "--quiet", "--threads", tostring(ctx.mock_threads) }
  local m = Mock.start(args)
  m.flags = "build/cxone-mock --port 0 " .. table.concat(args, " ")
  mocks[#mocks + 1] = m
  return m
end

local results = {
  machine = U.machine(),
  config = {
    rounds = ctx.rounds, connections = ctx.connections, tasks = ctx.tasks, curl_tasks = ctx.curl_tasks,
    floor_tasks = ctx.floor_tasks,
    wrk_seconds = ctx.wrk_seconds, wrk_threads = ctx.wrk_threads, scaling_workers = ctx.scaling_workers,
    scaling_tasks = ctx.scaling_tasks, scaling_wrk_seconds = ctx.scaling_wrk_seconds,
    rate_tasks = ctx.rate_tasks, adaptive_window = ctx.adaptive_window, rows = ctx.rows, rows_small = ctx.rows_small, cg_tasks = ctx.cg_tasks,
    mock_threads = ctx.mock_threads, lua = lua, lua_env = ctx.lua_env, only = only_env,
  },
}
local t_start = os.time()
local steal_start = U.steal_seconds()

local ok, err = pcall(function()
  local fast = start_mock(0)
  results.config.mock = fast.flags
  if wanted("throughput") then results.throughput = Throughput.unthrottled(ctx, fast) end
  if wanted("scaling") then results.scaling = Throughput.scaling(ctx, fast) end
  if wanted("rate") then
    local limited = start_mock(ctx.mock_rate)
    results.config.mock_limited = limited.flags
    results.rate = Rate.accuracy(ctx, limited)
    limited:stop()
  end
  if wanted("memory") then results.memory = Memory.streaming(ctx, fast) end
  if wanted("cpu") then results.cpu = Cpu.per_request(ctx, fast) end
  if wanted("adaptive") then results.adaptive = Adaptive.run(ctx) end
end)

for _, m in ipairs(mocks) do m:stop() end
U.sh("rm -rf " .. U.q(scratch_dir))
results.machine.loadavg_end = U.loadavg()
results.machine.steal_seconds = steal_start and U.steal_seconds() - steal_start
results.seconds = os.time() - t_start

if not ok then
  local msg = type(err) == "table" and err.bench_failure or tostring(err)
  io.stderr:write("bench: FAILED: " .. msg .. "\n")
  os.exit(1)
end

local rows = Report.rows(results)
results.table = rows
local out = os.getenv("BENCH_RESULTS") or ("bench/results/" .. stamp .. ".json")
U.write(out, U.json(results) .. "\n")
if results.scaling then
  local png = os.getenv("BENCH_PLOT") or "bench/scaling.png"
  Report.plot(results, png, scratch_dir)
  io.stderr:write("bench: plot written to " .. png .. "\n")
end
io.write(string.format("\n%s, %s, %d cores; mock --threads %d; %d rounds; load average %s → %s; CPU steal %.1f s; %d s\n\n",
  results.machine.date, results.machine.cpu_model, results.machine.cores, ctx.mock_threads, ctx.rounds,
  results.machine.loadavg_start, results.machine.loadavg_end, results.machine.steal_seconds or 0, results.seconds))
local load1 = tonumber((results.machine.loadavg_start or ""):match("^(%S+)"))
if load1 and load1 > 1.0 then
  io.write(string.format("note: the load average was %.2f when the bench started: other processes were " ..
    "competing for the %d cores, so the throughput figures are noisy (instruction counts are not).\n\n",
    load1, results.machine.cores))
end
io.write(Report.markdown(rows))
io.write("\nraw results: " .. out .. "\n")
