-- Measure 6: rate = "auto" against a tenant limit it is not told (issue 22). The mock limited to
-- 30/s (--rate 30 --burst 30), the client starting at 45/s with max_rate 100 (10 workers); the
-- limit raised to 60/s and then lowered to 20/s mid-run (POST /_mock/config); and, at the same
-- time on another 30/s mock, three processes sharing the limit through Redis. Every figure is
-- the mock's own count of what reached it and what it refused (spec/helpers/adaptive.lua); the
-- spec (spec/adaptive_rate_spec.lua) checks the same bounds over shorter windows.
local A = require "spec.helpers.adaptive"
local Mock = require "spec.helpers.mock"
local R = require "spec.helpers.redis"
local U = require "bench.lib.util"

local M = {}

M.WARMUP, M.UP_WITHIN, M.DOWN_WITHIN, M.MEASURE, M.HOLD = 20, 30, 10, 5, 30

local function window_fields(w)
  return { requests = w.requests, http_429 = w.http_429, frac_429 = w.frac_429, goodput = w.goodput,
           send_rate = w.send_rate, seconds = w.seconds }
end

-- Runs the scenario; ctx.adaptive_window: seconds measured after the warm-up (60).
function M.run(ctx)
  local ok_redis, why = R.available()
  if not ok_redis then U.fail("adaptive: %s", why) end
  local window = ctx.adaptive_window
  local flags = { "--rate", "30", "--burst", "30", "--any-contact", "--quiet" }
  local r = R.start()
  local dir = A.mkdir("adaptive-bench")
  local one, fleet = Mock.start(flags), Mock.start(flags)
  local runs = {}
  local ok, res = pcall(function()
    io.stderr:write(string.format("bench: adaptive rate: %d s at 30/s, then 60/s, then 20/s; 3 processes " ..
      "through Redis alongside (about %d s)\n", M.WARMUP + window, M.WARMUP + window + 2 * M.HOLD))
    local s1, sf = A.sampler(one), A.sampler(fleet)
    local t1, tf = s1:sample().t, sf:sample().t
    runs[1] = A.spawn(dir, "one", one.url, nil)
    for k = 1, 3 do runs[1 + k] = A.spawn(dir, "fleet" .. k, fleet.url, r:url("bench-fleet"), k * 1000000) end
    local phase, raised, lowered = "find", nil, nil
    while phase ~= "done" do
      A.sleep(0.9)
      local x = s1:sample()
      if phase == "find" then sf:sample() end
      if phase == "find" and x.t - t1 >= M.WARMUP + window then
        for k = 2, 4 do runs[k]:stop() end
        one:config { rate = 60 }
        raised, phase = s1:sample().t, "up"
      elseif phase == "up" and x.t - raised >= M.HOLD then
        one:config { rate = 20 }
        lowered, phase = s1:sample().t, "down"
      elseif phase == "down" and x.t - lowered >= M.HOLD then
        phase = "done"
      end
    end
    for _, run in ipairs(runs) do run:stop() end
    local single, members = runs[1]:result(), {}
    for k = 2, 4 do members[k - 1] = runs[k]:result() end
    local up = s1:first_window(raised, raised + M.UP_WITHIN, M.MEASURE, "goodput", function(v) return v >= 50 end)
    local down = s1:window(lowered + M.DOWN_WITHIN - M.MEASURE, lowered + M.DOWN_WITHIN)
    local down_first = s1:first_window(lowered, lowered + M.DOWN_WITHIN, M.MEASURE, "send_rate",
      function(v) return v <= 22 end)
    return {
      mock = "build/cxone-mock --port 0 " .. table.concat(flags, " "),
      client = string.format('rate = "auto:%g", max_rate = %g, burst = 20, workers = 10 (spec/helpers/adaptive.lua)',
        A.START, A.MAX),
      warmup = M.WARMUP, window = window,
      one = window_fields(s1:window(t1 + M.WARMUP, raised)),
      up_reached_after = up and (up.to - raised) or false, up_goodput = up and up.goodput or false,
      up_steady = window_fields(s1:window(raised + 10, lowered)),
      down_at_10s = window_fields(down), down_reached_after = down_first and (down_first.to - lowered) or false,
      down_steady = window_fields(s1:window(lowered + 10, lowered + M.HOLD)),
      fleet = window_fields(sf:window(tf + M.WARMUP, tf + M.WARMUP + window)),
      rate_found_one = single.rate_found, rate_found_fleet = members[1].rate_found,
      rate_changes_one = single.rate_changes,
    }
  end)
  for _, run in ipairs(runs) do pcall(run.stop, run) end
  one:stop()
  fleet:stop()
  r:stop()
  U.sh("rm -rf " .. U.q(dir))
  if not ok then error(res, 0) end
  return res
end

-- The table's rows for measure 6.
function M.rows(a, add)
  local function pct(w) return string.format("%.2f %% (%d of %d)", 100 * w.frac_429, w.http_429, w.requests) end
  add(string.format("6. rate = auto vs a 30/s tenant (burst 30), start 45, max 100: 429s over %d s after the " ..
    "first %d s", a.window, a.warmup), pct(a.one), "≤ 2 %", a.one.frac_429 <= 0.02)
  add("6.   goodput (accepted per second, server side)", string.format("%.1f/s", a.one.goodput), "≥ 27/s",
    a.one.goodput >= 27)
  add("6. tenant raised to 60/s: first 5 s of goodput ≥ 50/s, after",
    a.up_reached_after and string.format("%.1f s (%.1f/s)", a.up_reached_after, a.up_goodput) or "not within 30 s",
    "≤ 30 s", a.up_reached_after ~= false)
  add("6.   goodput from +10 s to +30 s", string.format("%.1f/s", a.up_steady.goodput))
  add("6. tenant lowered to 20/s: send rate over [+5, +10] s", string.format("%.1f/s", a.down_at_10s.send_rate),
    "≤ 22/s", a.down_at_10s.send_rate <= 22)
  add("6.   send rate from +10 s to +30 s, 429s", string.format("%.1f/s, %s", a.down_steady.send_rate,
    pct(a.down_steady)))
  add(string.format("6. 3 processes through Redis vs a 30/s tenant: 429s over %d s after the first %d s", a.window,
    a.warmup), pct(a.fleet), "≤ 2 %", a.fleet.frac_429 <= 0.02)
  add("6.   their goodput", string.format("%.1f/s", a.fleet.goodput), "≥ 27/s", a.fleet.goodput >= 27)
  add("6. ceiling found: 3 processes at 30/s / one process at the end (20/s)",
    string.format("%.1f/s / %.1f/s", a.rate_found_fleet or 0, a.rate_found_one or 0))
end

return M
