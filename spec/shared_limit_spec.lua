-- One tenant limit for every process on the host (opts.shared_limit): four separate lua5.4
-- processes, then four nginx workers, draw from one bucket; the mock (limited to 50/s) sees at
-- most burst + rate*T in any window and never answers 429; kill -9 of one process wedges nothing.
local bulk = require "cxone.bulk"
local N = require "spec.helpers.nginx"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local cjson = require "cjson"

local RATE, BURST = 45, 20

local function unique_name(tag)
  return string.format("spec-%s-%d-%d", tag, bulk.sys.getpid(), os.time())
end

local function shm_path(name) return "/dev/shm/cxone-bulk-limit." .. name end

-- The largest excess over burst + rate*W across every window [t_i, t_j] of server arrivals,
-- and a description of where it is and of the longest silence (a stalled host compresses
-- arrivals: requests sent on time are stamped late, so failures say how long the stall was).
local function worst_excess(times_ms)
  local worst, wi, wj = -math.huge, 1, 1
  for i = 1, #times_ms do
    for j = i, #times_ms do
      local allowed = BURST + RATE * (times_ms[j] - times_ms[i]) / 1000
      local excess = (j - i + 1) - allowed
      if excess > worst then worst, wi, wj = excess, i, j end
    end
  end
  local gap, at = 0, 0
  for i = 2, #times_ms do
    if times_ms[i] - times_ms[i - 1] > gap then gap, at = times_ms[i] - times_ms[i - 1], times_ms[i - 1] end
  end
  local t1 = times_ms[1] or 0
  return worst, string.format("worst window: %d requests in %d ms at +%d ms; longest silence %d ms at +%d ms",
    wj - wi + 1, (times_ms[wj] or 0) - (times_ms[wi] or 0), (times_ms[wi] or 0) - t1, gap, at - t1)
end

local function count_between(times_ms, from, to)
  local n = 0
  for _, t in ipairs(times_ms) do if t >= from and t < to then n = n + 1 end end
  return n
end

local function no_429(stats)
  assert.are.equal(0, stats.requests.by_status["429"] or 0, "the mock answered 429")
end

-- The batch each subprocess runs: tasks from an iterator, stops sending after `seconds`.
local WORKER_SCRIPT = [[
local bulk = require "cxone.bulk"
local cjson = require "cjson"
local url, name, first, count, seconds, out = ...
first, count, seconds = tonumber(first), tonumber(count), tonumber(seconds)
local i = 0
local function tasks()
  i = i + 1
  if i <= count then
    return { contact_id = string.format("contact-%06d", first + i - 1), category = "Contacted",
             subcategory = "Information Provided" }
  end
end
local job = bulk.start(tasks, { base_url = url, client_id = "demo-client", client_secret = "demo-secret",
  rate = ]] .. RATE .. [[, burst = ]] .. BURST .. [[, shared_limit = name, workers = 4, max_retries = 0 })
local t0 = bulk.sys.monotime()
local stopped = false
while not job:done() do
  job:poll(0.1)
  if not stopped and bulk.sys.monotime() - t0 > seconds then job:cancel("time is up"); stopped = true end
end
local s = job:summary()
job:close()
local f = assert(io.open(out, "w"))
f:write(cjson.encode { pid = bulk.sys.getpid(), succeeded = s.succeeded, requests = s.requests,
  http_429 = s.http_429, failed = s.failed, cancelled = s.cancelled })
f:close()
]]

describe("shared_limit across four lua5.4 processes", function()
  local m, dir, name
  lazy_setup(function()
    assert(N.run("make --no-print-directory -s LUA=lua5.4 module"))
    m = Mock.start { "--rate", "50", "--burst", "50", "--any-contact" }
    dir = N.tempdir("shared-limit")
    name = unique_name("procs")
    N.write_file(dir .. "/worker.lua", WORKER_SCRIPT)
  end)
  lazy_teardown(function()
    os.remove(shm_path(name))
    if dir then N.run("rm -rf " .. N.q(dir)) end
    if m then m:stop() end
  end)

  it("together stay within 45/s + burst, zero 429s; kill -9 of one leaves the rest at full rate", function()
    local RUN_SECONDS, KILL_AT = 14, 6
    local pids = {}
    for k = 1, 4 do
      pids[k] = N.spawn(string.format(
        "env LUA_PATH='lua/?.lua;;' LUA_CPATH='build/lua5.4/?.so;;' lua5.4 %s %s %s %d %d %d %s",
        N.q(dir .. "/worker.lua"), N.q(m.url), N.q(name), (k - 1) * 10000 + 1, 5000, RUN_SECONDS,
        N.q(dir .. "/out-" .. k .. ".json")), nil, dir .. "/err-" .. k .. ".txt")
    end
    local t0 = N.now()
    N.sleep(KILL_AT)
    N.kill(pids[1], "KILL")
    local at_kill = m:stats()
    assert.is_true(N.wait_gone(pids[1], 2))

    for k = 2, 4 do
      assert.is_true(N.wait_gone(pids[k], RUN_SECONDS + 10 - (N.now() - t0)),
        "process " .. k .. " did not finish: " .. tostring(N.read_file(dir .. "/err-" .. k .. ".txt")))
    end
    local stats = m:stats()
    local times = stats.api_request_ms
    assert.is_false(stats.api_request_ms_truncated)
    no_429(stats)

    -- The survivors each kept sending after the kill, and report no 429 either.
    local per = {}
    for k = 2, 4 do
      local out = N.read_file(dir .. "/out-" .. k .. ".json")
      assert.is_string(out, "no summary from process " .. k .. ": " .. tostring(N.read_file(dir .. "/err-" .. k .. ".txt")))
      per[k] = cjson.decode(out)
      assert.are.equal(0, per[k].http_429)
      -- failed counts the tasks cancelled when time was up; nothing else may fail.
      assert.are.equal(per[k].cancelled, per[k].failed)
      assert.is_true(per[k].succeeded > 50, "process " .. k .. " succeeded only " .. per[k].succeeded)
    end

    local excess, where = worst_excess(times)
    local span = (times[#times] - times[1]) / 1000
    local overall = #times / span
    -- Server-side rate once the kill is 1 s old, until the survivors stop (time is up).
    local kill_ms = times[at_kill.api_requests_logged] or times[#times]
    local from, to = kill_ms + 1000, times[1] + (RUN_SECONDS - 0.5) * 1000
    local after = count_between(times, from, to) / ((to - from) / 1000)
    print(string.format("\n  4 processes: %d requests in %.1f s (%.1f/s), max in 1 s %d, worst window excess "
      .. "over %d + %d*T: %.2f; after kill -9: %.1f/s over %.1f s", #times, span, overall,
      stats.max_api_requests_in_1s, BURST, RATE, excess, after, (to - from) / 1000) .. "\n  " .. where)

    assert.is_true(stats.max_api_requests_in_1s <= BURST + RATE, "max in 1 s: " .. stats.max_api_requests_in_1s .. "; " .. where)
    assert.is_true(excess <= 2, "a window exceeded burst + rate*T by " .. excess .. "; " .. where)
    assert.is_true(overall <= RATE + BURST / span + 1, "overall rate " .. overall)
    assert.is_true(overall >= RATE * 0.85, "the four together should use the shared rate: " .. overall)
    assert.is_true(after >= RATE * 0.9 and after <= RATE + 1.5,
      string.format("rate after the kill: %.1f/s (want ~%d/s); %s", after, RATE, where))
  end)

  it("a process asking for another rate under the same name gets an error naming both", function()
    local job = bulk.start(H.tasks(1), H.opts(m, { shared_limit = name, rate = RATE, burst = BURST }))
    finally(function() job:close() end)
    local ok, err = pcall(bulk.start, H.tasks(1), H.opts(m, { shared_limit = name, rate = 30, burst = BURST }))
    assert.is_false(ok)
    assert.matches("shared limit '" .. name:gsub("%-", "%%-") .. "' was created with rate 45/s burst 20; "
      .. "this process asked for rate 30/s burst 20", err)
  end)
end)

describe("shared_limit across four nginx workers", function()
  local ready, why = N.available()
  if ready then
    local ok, out = N.run("make --no-print-directory -s luajit-module")
    if not ok then ready, why = nil, "cannot build the LuaJIT module: " .. out end
  end
  if not ready then
    pending("nginx not runnable here: " .. tostring(why))
    return
  end

  it("each worker runs a batch; the server sees one 45/s + burst bucket and zero 429s", function()
    local m = Mock.start { "--rate", "50", "--burst", "50", "--any-contact" }
    local name = unique_name("nginx")
    local ng
    finally(function()
      if ng then pcall(ng.stop, ng) end
      m:stop()
      os.remove(shm_path(name))
    end)
    ng = N.start { tag = "nginx-shared", env = { CXONE_CLIENT_ID = "demo-client", CXONE_CLIENT_SECRET = "demo-secret" },
      values = { BASE_URL = m.url, WORKERS = 4, RATE = RATE, BURST = BURST, ENGINE_WORKERS = 4, SHARED_LIMIT = name } }
    assert.are.equal(4, #ng:worker_pids())

    -- reuseport spreads connections over the workers; a busy worker answers 429 (its own, not
    -- the tenant's): post until each of the four runs one batch.
    local jobs, tries = {}, 0
    local started = 0
    while started < 4 and tries < 200 do
      tries = tries + 1
      local id = "w" .. (started + 1)
      local status, reply = ng:post_json("/jobs?id=" .. id, { tasks = H.tasks(110, started * 1000 + 1) })
      if status == 202 then
        started = started + 1
        jobs[#jobs + 1] = reply
      else
        assert.are.equal(429, status, cjson.encode(reply))
      end
    end
    assert.are.equal(4, started, "could not reach all four workers in " .. tries .. " posts")
    local workers = {}
    for _, j in ipairs(jobs) do workers[j.worker_pid] = true end
    local distinct = 0
    for _ in pairs(workers) do distinct = distinct + 1 end
    assert.are.equal(4, distinct)

    local t0 = N.now()
    local states
    repeat
      N.sleep(0.25)
      states = {}
      for _, j in ipairs(jobs) do
        local _, text = ng:get("/jobs/status?id=" .. j.id)
        states[#states + 1] = cjson.decode(text)
      end
      local all_done = true
      for _, st in ipairs(states) do all_done = all_done and st.state ~= "running" and st.state ~= "queued" end
    until all_done or N.now() - t0 > 30
    for _, st in ipairs(states) do
      assert.are.equal("done", st.state, cjson.encode(st))
      assert.are.equal(110, st.ok)
    end

    local stats = m:stats()
    no_429(stats)
    local times = stats.api_request_ms
    local excess, where = worst_excess(times)
    local span = (times[#times] - times[1]) / 1000
    print(string.format("\n  4 nginx workers: %d requests in %.1f s (%.1f/s), max in 1 s %d, worst window "
      .. "excess %.2f", #times, span, #times / span, stats.max_api_requests_in_1s, excess) .. "\n  " .. where)
    assert.are.equal(440, #times)
    assert.is_true(stats.max_api_requests_in_1s <= BURST + RATE, "max in 1 s: " .. stats.max_api_requests_in_1s .. "; " .. where)
    assert.is_true(excess <= 2, "a window exceeded burst + rate*T by " .. excess .. "; " .. where)
  end)
end)

-- Issue 11 item 7: state left in /dev/shm by an earlier run must never make a run wait silently.
describe("shared_limit state left by an earlier run", function()
  local m, dir
  lazy_setup(function()
    assert(N.run("make --no-print-directory -s LUA=lua5.4 module"))
    m = Mock.start { "--rate", "0", "--any-contact" }
    dir = N.tempdir("shared-state")
  end)
  lazy_teardown(function()
    if dir then N.run("rm -rf " .. N.q(dir)) end
    if m then m:stop() end
  end)

  -- Runs `tasks` with the shared limit for at most `seconds`, collecting events and results.
  local function short_run(name, n, seconds)
    local events, results = {}, {}
    local job = bulk.start(H.tasks(n), H.opts(m, { shared_limit = name, rate = RATE, burst = BURST,
      on_event = function(ev) events[#events + 1] = ev end,
      on_result = function(r) results[#results + 1] = r end }))
    local t0 = N.now()
    while not job:done() and N.now() - t0 < seconds do job:poll(0.1) end
    job:cancel("spec over")
    while not job:done() do job:poll(0.1) end
    job:close()
    return events, results
  end

  it("a Retry-After 3600 pause left by a killed run is reported with its end, not waited out silently", function()
    local name = unique_name("leftpause")
    finally(function() os.remove(shm_path(name)) end)
    m:config { once_429_retry_after = 3600 }
    -- max_retries > 0: the pause is taken on the way to the retry
    N.write_file(dir .. "/worker.lua", (WORKER_SCRIPT:gsub("max_retries = 0", "max_retries = 3")))
    local pid = N.spawn(string.format(
      "env LUA_PATH='lua/?.lua;;' LUA_CPATH='build/lua5.4/?.so;;' lua5.4 %s %s %s 1 50 60 %s",
      N.q(dir .. "/worker.lua"), N.q(m.url), N.q(name), N.q(dir .. "/out.json")), nil, dir .. "/err.txt")
    local t0 = N.now()
    while (m:stats().rate_limited or 0) < 1 and N.now() - t0 < 10 do N.sleep(0.05) end
    assert.are.equal(1, m:stats().rate_limited, "the first run never got its 429")
    N.sleep(0.3) -- let it write the pause
    N.kill(pid, "KILL")
    assert.is_true(N.wait_gone(pid, 2))
    local before = m:stats().api_requests_logged

    local events = short_run(name, 3, 2)
    local pause
    for _, ev in ipairs(events) do if ev.type == "pause" then pause = ev end end
    assert.is_table(pause, "no pause event: the run waited silently")
    assert.matches("paused until %d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%dZ %(set at .+, by Retry%-After 3600 s%)",
      pause.error)
    assert.is_true(pause.delay > 3500 and pause.delay <= 3600, "delay " .. tostring(pause.delay))
    assert.are.equal(before, m:stats().api_requests_logged, "a request went out during the pause")
  end)

  it("a corrupt state file (random bytes) is reported and reset, and the run proceeds", function()
    local name = unique_name("corrupt")
    finally(function() os.remove(shm_path(name)) end)
    assert(N.run("head -c 40 /dev/urandom > " .. N.q(shm_path(name)) .. " && chmod 600 " .. N.q(shm_path(name))))
    local ok, events, results = pcall(short_run, name, 5, 10)
    assert.is_true(ok, "the run did not start: " .. tostring(events))
    local note
    for _, ev in ipairs(events) do if ev.type == "limiter" then note = ev end end
    assert.is_table(note, "no limiter event")
    assert.matches("held no valid state %(corrupt%); reset it", note.error)
    assert.are.equal(5, #results)
    for _, r in ipairs(results) do assert.is_true(r.ok, tostring(r.error)) end
  end)
end)
