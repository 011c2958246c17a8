-- Measure 3: rate accuracy. The engine at rate 45 burst 20 against a mock that enforces the
-- tenant limit (50/s); every figure comes from the server side.
local U = require "bench.lib.util"

local R = {}

function R.accuracy(ctx, mock)
  mock:reset()
  local out = ctx.scratch .. ".rate"
  local shown = string.format("%s bench/engine_batch.lua --url %s --tasks %d --workers %d --rate %g --burst %g --callback trivial --batch-id rate-%d",
    ctx.lua, mock.url, ctx.rate_tasks, ctx.rate_workers, ctx.rate, ctx.rate_burst, os.time())
  local cmd = string.format("%s %s >%s 2>&1", ctx.lua_env, shown, U.q(out))
  io.stderr:write(string.format("bench: rate accuracy: %d tasks at %g/s (about %.0f s)\n",
    ctx.rate_tasks, ctx.rate, ctx.rate_tasks / ctx.rate))
  local ok, t = U.timed(cmd, ctx.scratch)
  local text = U.read(out) or ""
  local r = U.tagged_json(text, "BENCH-JSON ")
  if not ok or not r then U.fail("rate run failed (exit %s): %s", tostring(t.exit), text:sub(1, 2000)) end
  local st = mock:stats()
  local arr = st.api_request_ms or {}
  local n = #arr
  if n < 2 then U.fail("rate run: only %d requests reached the mock", n) end
  local by = st.requests.by_status or {}
  local span = (arr[n] - arr[1]) / 1000
  local b = math.floor(ctx.rate_burst)
  -- The longest silence between two arrivals: a stall of either process (a busy machine) shows
  -- up here, and the requests held back by it arrive bunched right after.
  local max_gap = 0
  for k = 2, n do
    if arr[k] - arr[k - 1] > max_gap then max_gap = arr[k] - arr[k - 1] end
  end
  if n <= b + 1 then U.fail("rate run: %d requests are too few to measure past the burst of %d", n, b) end
  return {
    tasks = ctx.rate_tasks, workers = ctx.rate_workers, rate = ctx.rate, burst = ctx.rate_burst,
    mock_rate = ctx.mock_rate,
    requests = n, span_seconds = span,
    -- Includes the initial burst, as a tenant's meter would.
    achieved_rate = (n - 1) / span,
    -- The limiter's own accuracy: from the last request of the burst to the end.
    steady_rate = (n - b) / ((arr[n] - arr[b]) / 1000),
    max_in_1s = st.max_api_requests_in_1s,
    max_gap_ms = max_gap,
    loadavg = U.loadavg(),
    http_429 = (by["429"] or 0),
    rate_limited = st.rate_limited,
    client_retried = r.retried,
    client_elapsed = r.elapsed,
    client_cpu_seconds = t.cpu,
    command = shown,
  }
end

return R
