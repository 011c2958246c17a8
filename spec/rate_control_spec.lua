-- rate = "auto" and live control of a running job's rate (issue 22, parts 1 and 2): the options,
-- job:set_rate / job:set_max_rate / job:status, the "rate" events, the summary's rate_found, the
-- rate shared through /dev/shm, and the CLI's --rate auto / --max-rate. Every figure that says
-- how fast requests went comes from the mock's own arrival log. (The controller's behaviour
-- against a tenant limit over minutes is spec/adaptive_rate_spec.lua and `make bench`.)
local bulk = require "cxone.bulk"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local C = require "spec.helpers.cli"
local R = require "spec.helpers.redis"

local function opts(m, extra)
  local o = { base_url = m.url, client_id = "demo-client", client_secret = "demo-secret", workers = 4,
              backoff_base = 0.05, backoff_max = 0.1, max_retries = 5 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

-- An endless task source (contact ids from `first`).
local function endless(first)
  local i = (first or 1) - 1
  return function()
    i = i + 1
    return { contact_id = string.format("contact-%06d", i), category = "Contacted",
             subcategory = "Information Provided" }
  end
end

-- Polls the job until pred() or `seconds`; returns whether pred held.
local function poll_until(job, seconds, pred)
  local t0 = bulk.sys.monotime()
  while bulk.sys.monotime() - t0 < seconds do
    job:poll(0.05)
    if pred() then return true end
  end
  return false
end

local function stop(job)
  job:cancel("spec done")
  while not job:done() do job:poll(0.05) end
  job:close()
end

-- Arrivals at the mock (its clock, ms) within [from, to).
local function arrivals(m, from, to)
  local n = 0
  for _, t in ipairs(m:stats().api_request_ms) do
    if t >= from and t < to then n = n + 1 end
  end
  return n
end

describe("rate options", function()
  local m = Mock.shared { "--rate", "0", "--any-contact", "--quiet" }

  it("takes a number, \"auto\" (from the default 45/s) or \"auto:R\", max_rate 2 x the start by default", function()
    for _, case in ipairs { { "auto", 45, 90 }, { "auto:30", 30, 60 }, { 20, 20, nil } } do
      local job = bulk.start({}, opts(m, { rate = case[1] }))
      local st = job:status()
      assert.are.equal(case[2], st.rate)
      assert.are.equal(case[3] ~= nil, st.adaptive)
      if case[3] then assert.are.equal(case[3], st.max_rate) end
      assert.is_nil(st.rate_found)
      job:close()
    end
  end)

  it("refuses what is none of these, naming the option", function()
    local bad = {
      { { rate = "fast" }, "option 'rate' must be a number >= 1e-06 and <= 100000, \"auto\" or \"auto:R\" (got string)" },
      { { rate = "auto:0" }, "option 'rate' must be a number >= 1e-06 and <= 100000, \"auto\" or \"auto:R\" (got string)" },
      { { rate = 45, max_rate = 90 }, "option 'max_rate' applies only to rate = \"auto\" (rate is 45/s)" },
      { { rate = "auto:50", max_rate = 40 }, "option 'max_rate' (40) must be >= the start rate (50) of rate = \"auto:50\"" },
      { { rate = "auto", max_rate = 0 }, "option 'max_rate' must be a number >= 1e-06 and <= 100000 (got number 0)" },
    }
    for _, case in ipairs(bad) do
      local job, err = bulk.try_start({}, opts(m, case[1]))
      assert.is_nil(job)
      assert.are.equal("options", err.kind)
      assert.are.equal(case[2], err.message)
    end
  end)
end)

describe("job:set_rate on a running job", function()
  local m = Mock.shared { "--rate", "0", "--any-contact", "--quiet" }

  it("changes the rate requests reach the server at, reports it and shows it in status()", function()
    local events = {}
    local job = bulk.start(endless(), opts(m, { rate = 20, burst = 1,
      on_event = function(ev) if ev.type == "rate" then events[#events + 1] = ev end end }))
    poll_until(job, 1.2, function() return false end)
    local t_set = m:stats("mutations=0").uptime_ms
    assert.is_true(job:set_rate(80))
    poll_until(job, 1.5, function() return false end)
    local st = job:status()
    stop(job)
    local before = arrivals(m, t_set - 1000, t_set)
    local after = arrivals(m, t_set + 250, t_set + 1250)
    assert.is_true(before >= 17 and before <= 21, "at 20/s: " .. before .. " in a second")
    assert.is_true(after >= 70 and after <= 81, "at 80/s: " .. after .. " in a second")
    assert.are.equal(80, st.rate)
    assert.is_false(st.adaptive)
    assert.are.equal(1, #events)
    assert.are.same({ "rate", 80, 20, "set_rate" }, { events[1].type, events[1].rate, events[1].previous, events[1].reason })
    assert.are.equal("rate set to 80/s (was 20.0/s)", events[1].message)
  end)

  it("returns nil and why for a value it cannot take; max_rate needs rate = \"auto\"", function()
    local job = bulk.start({}, opts(m, { rate = 20 }))
    local ok, err = job:set_max_rate(50)
    assert.is_nil(ok)
    assert.are.equal("max_rate applies only to rate = \"auto\" (this rate is fixed at 20/s: use set_rate)", err)
    for _, v in ipairs { 0, -1, 0 / 0, 1e9, "fast" } do
      ok, err = job:set_rate(v)
      assert.is_nil(ok)
      assert.matches("^rate must be a number >= 1e%-06 and <= 100000 %(got ", err)
    end
    job:close()
    job = bulk.start({}, opts(m, { rate = "auto:30", max_rate = 40 }))
    ok, err = job:set_rate(50)
    assert.is_nil(ok)
    assert.are.equal("rate 50/s is above max_rate 40/s (raise max_rate first)", err)
    assert.is_true(job:set_max_rate(25))
    local st = job:status()
    assert.are.same({ 25, 25 }, { st.rate, st.max_rate })
    assert.is_true(job:set_max_rate(60))
    assert.is_true(job:set_rate(50))
    st = job:status()
    assert.are.same({ 50, 60 }, { st.rate, st.max_rate })
    job:close()
    assert.has_error(function() job:set_rate(10) end, "cxone.bulk: job is closed")
  end)

  it("status() counts what is done and says how long the rest takes", function()
    local job = bulk.start(H.tasks(60), opts(m, { rate = 30, burst = 1 }))
    local st = job:status()
    assert.are.same({ 0, 60, 2, false }, { st.done, st.remaining, st.eta, st.finished })
    assert.is_true(poll_until(job, 5, function() return job:status().done >= 30 end))
    st = job:status()
    assert.is_true(st.remaining <= 30 and math.abs(st.eta - st.remaining / 30) < 1e-9, "eta " .. st.eta)
    assert.are.equal(0, st.paused_for)
    while not job:done() do job:poll(0.1) end
    st = job:status()
    assert.are.same({ 60, 0, 0, true, 60 }, { st.done, st.remaining, st.eta, st.finished, st.succeeded })
    job:close()
    assert.are.equal(60, job:status().succeeded) -- the final figures after close
  end)
end)

describe("rate = \"auto\" on a 429", function()
  it("cuts to 0.7 x the send rate, says so in an event, and the summary reports the ceiling found", function()
    local m = Mock.start { "--rate", "0", "--any-contact", "--quiet" }
    local events = {}
    local job = bulk.start(endless(), opts(m, { rate = "auto:40", max_rate = 40, burst = 1,
      on_event = function(ev) if ev.type == "rate" then events[#events + 1] = ev end end }))
    poll_until(job, 1.5, function() return false end)
    m:config { once_429_retry_after = 1 }
    assert.is_true(poll_until(job, 3, function() return #events > 0 end), "no rate event")
    local s = job:summary()
    stop(job)
    m:stop()
    local cut = events[1]
    assert.are.equal("throttled", cut.reason)
    assert.are.equal(40, cut.previous)
    assert.is_true(cut.rate >= 0.7 * 36 and cut.rate <= 0.7 * 40 + 1e-9, "cut to " .. cut.rate)
    assert.matches("^rate cut to %d+%.%d/s %(was 40%.0/s%): 429 at a send rate of %d+%.%d/s$", cut.message)
    assert.is_true(s.rate_found >= 36 and s.rate_found <= 40, "found " .. s.rate_found)
    assert.are.equal(1, s.http_429)
  end)
end)

describe("a host-wide limit (shared_limit = name)", function()
  it("shares one changeable rate: set_rate through one job is the rate of the other", function()
    local m = Mock.start { "--rate", "0", "--any-contact", "--quiet" }
    local name = "spec-rate-" .. bulk.sys.getpid()
    local events = {}
    local o = opts(m, { rate = "auto:20", max_rate = 60, shared_limit = name,
                        on_event = function(ev) if ev.type == "rate" then events[#events + 1] = ev end end })
    local a = bulk.start(endless(1), o)
    local b = bulk.start(endless(500000), opts(m, { rate = "auto:20", max_rate = 60, shared_limit = name }))
    assert.is_true(a:set_rate(35))
    assert.are.equal(35, b:status().rate)
    assert.is_true(b:set_max_rate(30))
    assert.are.same({ 30, 30 }, { a:status().rate, a:status().max_rate })
    poll_until(a, 0.5, function() return false end)
    stop(a)
    stop(b)
    m:stop()
    os.remove("/dev/shm/cxone-bulk-limit." .. name)
    assert.are.same({ "set_rate", "set_max_rate" }, { events[1].reason, events[#events].reason })
  end)
end)

describe("a fleet limit (shared_limit = redis://...)", function()
  local ready, why = R.available()
  if not ready then
    it("needs redis-server", function() pending(why) end)
    return
  end

  it("keeps the rate in Redis: a change through one process reaches the other", function()
    local r = R.start()
    local m = Mock.start { "--rate", "0", "--any-contact", "--quiet" }
    local url = r:url("spec-rate")
    local a = bulk.start(endless(1), opts(m, { rate = "auto:20", max_rate = 60, shared_limit = url }))
    local b = bulk.start(endless(500000), opts(m, { rate = "auto:20", max_rate = 60, shared_limit = url }))
    local function both_until(pred)
      local t0 = bulk.sys.monotime()
      repeat
        a:poll(0.02)
        b:poll(0.02)
        if pred() then return true end
      until bulk.sys.monotime() - t0 > 3
      return false
    end
    both_until(function() return false end)
    assert.is_true(a:set_rate(35)) -- taken to Redis with the next exchange of a worker
    local ok = both_until(function() return b:status().rate == 35 and a:status().rate == 35 end)
    local cur = r:cli("HGET", "cxone-bulk:limit:spec-rate", "cur")
    assert.is_true(b:set_max_rate(30))
    local ok2 = both_until(function() return a:status().max_rate == 30 and a:status().rate == 30 end)
    local fixed, err = bulk.try_batch_update(H.tasks(1), opts(m, { rate = 20, shared_limit = url }))
    stop(a)
    stop(b)
    m:stop()
    r:stop()
    assert.is_true(ok, "the other process did not learn the rate: " .. tostring(b:status().rate))
    assert.matches("^35", cur)
    assert.is_true(ok2, "max_rate did not reach the other process")
    assert.is_nil(fixed)
    assert.are.equal("limiter", err.kind)
    assert.matches("was created with rate auto %(start 20/s, max 60/s%) burst 20; this process asked for " ..
      "rate 20/s burst 20", err.message)
  end)
end)

describe("cxone-bulk --rate auto", function()
  it("runs adaptive, bounded by --max-rate, and prints the ceiling it found", function()
    local m = Mock.start { "--rate", "0", "--any-contact", "--quiet" }
    m:config { once_429_retry_after = 1 }
    local dir = C.tmpdir()
    local ids = {}
    for i = 1, 40 do ids[i] = string.format("contact-%06d", i) end
    C.write(dir .. "/ids.txt", table.concat(ids, "\n") .. "\n")
    local code, _, err = C.run { "--base-url", m.url, "--format", "ids", "--category", "Contacted",
      "--subcategory", "Information Provided", "--rate", "auto:40", "--max-rate", "50", "--output",
      dir .. "/out.jsonl", "--summary-json", dir .. "/sum.json", dir .. "/ids.txt" }
    local sum = require("cjson").decode(C.read(dir .. "/sum.json"))
    C.rmdir(dir)
    m:stop()
    assert.are.equal(0, code, err)
    assert.matches("limit auto, at most 50/s", err, 1, true)
    assert.matches("  limit found ≈ %d+%.%d/s", err)
    assert.is_true(sum.rate_found > 0 and sum.rate_found <= 50, "found " .. tostring(sum.rate_found))
    code, _, err = C.run { "--base-url", m.url, "--rate", "fast", "x.csv" }
    assert.are.equal(2, code)
    assert.matches('--rate must be a number >= 1e-06 and <= 100000, auto or auto:R (got "fast")', err, 1, true)
  end)
end)
