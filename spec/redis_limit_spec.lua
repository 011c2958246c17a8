-- One tenant limit across a fleet (shared_limit = "redis://..."): processes on two "hosts" draw
-- from one bucket in a real redis-server; Redis stopped, killed and restarted; a 429's pause
-- reaches every process. Every claim is checked with the mock's server-side arrival times.
local bulk = require "cxone.bulk"
local N = require "spec.helpers.nginx"
local R = require "spec.helpers.redis"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local cjson = require "cjson"

local RATE, BURST = 45, 20

-- Most requests above burst + rate*W in any window [t_i, t_j] of arrivals (ms), given a burst.
local function worst_excess(times, burst)
  local worst = -math.huge
  for i = 1, #times do
    for j = i, #times do
      local e = (j - i + 1) - (burst + RATE * (times[j] - times[i]) / 1000)
      if e > worst then worst = e end
    end
  end
  return worst
end

local function count_between(times, from, to)
  local n = 0
  for _, t in ipairs(times) do if t > from and t < to then n = n + 1 end end
  return n
end

-- A batch in a separate process: url, first contact, count, seconds, out file, max_retries.
local WORKER = [[
local bulk = require "cxone.bulk"
local cjson = require "cjson"
local base, limit, first, count, seconds, out, retries = ...
first, count, seconds = tonumber(first), tonumber(count), tonumber(seconds)
local i, events = 0, {}
local function tasks()
  i = i + 1
  if i <= count then
    return { contact_id = string.format("contact-%06d", first + i - 1), category = "Contacted",
             subcategory = "Information Provided" }
  end
end
local job = bulk.start(tasks, { base_url = base, client_id = "demo-client", client_secret = "demo-secret",
  rate = ]] .. RATE .. [[, burst = ]] .. BURST .. [[, shared_limit = limit, workers = 4,
  max_retries = tonumber(retries), pause_threshold = 2, on_event = function(ev)
    if ev.type == "pause" or ev.type == "limiter" then events[#events + 1] = ev.type .. ": " .. (ev.error or "") end
  end })
local t0 = bulk.sys.monotime()
local stopped = false
while not job:done() do
  job:poll(0.1)
  if not stopped and bulk.sys.monotime() - t0 > seconds then job:cancel("time is up"); stopped = true end
end
local s = job:summary()
job:close()
local f = assert(io.open(out, "w"))
f:write(cjson.encode { succeeded = s.succeeded, failed = s.failed, cancelled = s.cancelled,
  http_429 = s.http_429, events = events })
f:close()
]]

local ready, why = R.available()
if not ready then
  describe("shared_limit in Redis", function() pending(why) end)
  return
end

describe("shared_limit in Redis", function()
  local r, dir
  lazy_setup(function()
    assert(N.run("make --no-print-directory -s LUA=lua5.4 module"))
    r = R.start()
    dir = N.tempdir("redis-limit")
    N.write_file(dir .. "/worker.lua", WORKER)
  end)
  lazy_teardown(function()
    if r then r:stop() end
    if dir then N.run("rm -rf " .. N.q(dir)) end
  end)

  local function spawn(m, limit, k, count, seconds, retries)
    return N.spawn(string.format(
      "env LUA_PATH='lua/?.lua;;' LUA_CPATH='build/lua5.4/?.so;;' setsid lua5.4 %s %s %s %d %d %d %s %d",
      N.q(dir .. "/worker.lua"), N.q(m.url), N.q(limit), k * 10000 + 1, count, seconds,
      N.q(dir .. "/out-" .. k .. ".json"), retries or 0), nil, dir .. "/err-" .. k .. ".txt")
  end

  local function outcome(k)
    local text = N.read_file(dir .. "/out-" .. k .. ".json")
    assert.is_string(text, "no summary from process " .. k .. ": " .. tostring(N.read_file(dir .. "/err-" .. k .. ".txt")))
    return cjson.decode(text)
  end

  -- Runs tasks in this process, calling at(t) between polls; returns summary, results, events.
  local function run_here(m, limit, n, at)
    local events, results = {}, {}
    local job = bulk.start(H.tasks(n), H.opts(m, { shared_limit = limit, rate = RATE, burst = BURST,
      workers = 4, max_retries = 3, pause_threshold = 2, on_event = function(ev) events[#events + 1] = ev end,
      on_result = function(res) results[#results + 1] = res end }))
    local t0 = N.now()
    while not job:done() do
      job:poll(0.05)
      if at then at(N.now() - t0) end
      assert(N.now() - t0 < 60, "the batch did not finish in 60 s")
    end
    local s = job:summary()
    job:close()
    return s, results, events
  end

  local function find_event(events, typ, pattern)
    for _, ev in ipairs(events) do
      if ev.type == typ and (ev.error or ""):match(pattern) then return ev end
    end
  end

  -- Two nginx workers with the example conf and a Redis shared_limit, one batch each; nil and
  -- why when nginx cannot run here.
  local function nginx_jobs(m, limit, per_worker)
    local ok, no_nginx = N.available()
    if not ok then return nil, no_nginx end
    local ng = N.start { tag = "nginx-redis", env = { CXONE_CLIENT_ID = "demo-client", CXONE_CLIENT_SECRET = "demo-secret" },
      values = { BASE_URL = m.url, WORKERS = 2, RATE = RATE, BURST = BURST, ENGINE_WORKERS = 4, SHARED_LIMIT = limit } }
    local jobs, tries = {}, 0
    while #jobs < 2 and tries < 100 do -- reuseport: a busy worker answers 429 (its own, not the tenant's)
      tries = tries + 1
      local status, reply = ng:post_json("/jobs?id=ngx" .. (#jobs + 1), { tasks = H.tasks(per_worker, 900000 + #jobs * 1000) })
      if status == 202 then jobs[#jobs + 1] = reply else assert.are.equal(429, status, cjson.encode(reply)) end
    end
    assert.are.equal(2, #jobs, "could not reach both nginx workers")
    assert.are_not.equal(jobs[1].worker_pid, jobs[2].worker_pid)
    return ng, jobs
  end

  local function nginx_wait(ng, jobs, seconds)
    local t0, states = N.now(), {}
    repeat
      N.sleep(0.25)
      local running = false
      for i, j in ipairs(jobs) do
        local _, text = ng:get("/jobs/status?id=" .. j.id)
        states[i] = cjson.decode(text)
        running = running or states[i].state == "running" or states[i].state == "queued"
      end
    until not running or N.now() - t0 > seconds
    return states
  end

  it("4 processes on two hosts + 2 nginx workers share one 45/s + 20 bucket: busiest second <= 65, zero 429s", function()
    local m = Mock.start { "--rate", "50", "--burst", "50", "--any-contact" }
    local ng, jobs
    finally(function()
      if ng then pcall(ng.stop, ng) end
      m:stop()
    end)
    local SECONDS, PER_NGINX = 20, 120
    local pids = {}
    for k = 1, 4 do -- "host" A reaches Redis over TCP, "host" B over its unix socket
      local limit = k <= 2 and r:url("fleet") or r:unix_url("fleet")
      pids[k] = spawn(m, limit, k, 5000, SECONDS)
    end
    ng, jobs = nginx_jobs(m, r:url("fleet"), PER_NGINX)
    if not ng then print("\n  nginx not runnable here (" .. tostring(jobs) .. "): processes only") end
    for k = 1, 4 do
      assert.is_true(N.wait_gone(pids[k], SECONDS + 15), "process " .. k .. " did not finish")
    end
    if ng then
      for _, st in ipairs(nginx_wait(ng, jobs, 20)) do
        assert.are.equal("done", st.state, cjson.encode(st))
        assert.are.equal(PER_NGINX, st.ok, cjson.encode(st))
      end
    end
    local stats = m:stats()
    local times = stats.api_request_ms
    local span = (times[#times] - times[1]) / 1000
    local excess = worst_excess(times, BURST)
    print(string.format("\n  redis, 4 processes%s: %d requests in %.1f s (%.2f/s), busiest second %d, "
      .. "worst window excess over %d + %d*W: %.2f", ng and " + 2 nginx workers" or "", #times, span, #times / span,
      stats.max_api_requests_in_1s, BURST, RATE, excess))
    assert.are.equal(0, stats.requests.by_status["429"] or 0, "the mock answered 429")
    assert.is_true(stats.max_api_requests_in_1s <= BURST + RATE, "busiest second " .. stats.max_api_requests_in_1s)
    assert.is_true(#times <= RATE * span + BURST, #times .. " requests in " .. span .. " s")
    assert.is_true(#times >= RATE * span * 0.85, "the fleet should use the shared rate: " .. #times / span)
    local per = {}
    for k = 1, 4 do per[k] = outcome(k).succeeded end
    print("  succeeded per process: " .. table.concat(per, ", "))
    for k = 1, 4 do
      local o = outcome(k)
      assert.are.equal(0, o.http_429)
      assert.is_true(o.succeeded > 50, "process " .. k .. " succeeded only " .. o.succeeded)
      assert.are.equal(o.cancelled, o.failed) -- only the tasks left when time was up
    end
  end)

  it("Redis stopped 3 s: nothing reaches the mock, the wait is reported, the run continues", function()
    local m = Mock.start { "--rate", "0", "--any-contact" }
    finally(function() r:signal("CONT"); m:stop() end)
    local phase, during = "before", nil
    local s, results, events = run_here(m, r:url("stop"), 250, function(t)
      if phase == "before" and t > 1.5 then r:signal("STOP"); phase = "stopped"; during = N.now()
      elseif phase == "stopped" and N.now() - during > 0.25 then
        during = m:stats().api_requests_logged; phase = "counting"
      elseif phase == "counting" and t > 4.5 then
        -- Grants taken before the stop cover at most 100 ms; after that nothing may go out.
        local now_count = m:stats().api_requests_logged
        assert.are.equal(during, now_count, "requests reached the mock while Redis was stopped")
        r:signal("CONT"); phase = "after"
      end
    end)
    assert.are.equal("after", phase)
    assert.are.equal(250, #results)
    assert.are.equal(250, s.succeeded)
    assert.are.equal(250, m:stats().api_requests_logged)
    assert.is_table(find_event(events, "limiter", "Redis unreachable"), "the wait was not reported")
    assert.is_table(find_event(events, "limiter", "Redis answers again"))
  end)

  it("kill -9 and restart of Redis: at most one extra burst, the script is reloaded (NOSCRIPT)", function()
    local m = Mock.start { "--rate", "0", "--any-contact" }
    finally(function() m:stop() end)
    local done = false
    local s, results, events = run_here(m, r:unix_url("crash"), 250, function(t)
      if not done and t > 2 then r:kill9(); r:restart(); done = true end
    end)
    assert.is_true(done)
    assert.are.equal(250, #results)
    assert.are.equal(250, s.succeeded)
    local times = m:stats().api_request_ms
    local excess = worst_excess(times, 2 * BURST)
    print(string.format("\n  redis kill -9 + restart: %d requests, worst excess over 2*%d + %d*W: %.2f",
      #times, BURST, RATE, excess))
    assert.is_true(excess <= 1, "more than one extra burst after the restart: " .. excess)
    assert.is_true(worst_excess(times, BURST) > 5, "the restart should have cost (part of) a burst")
    assert.is_table(find_event(events, "limiter", "NOSCRIPT"), "NOSCRIPT path not taken")
  end)

  it("a 429 with Retry-After 5 seen by one process: no process sends for 5 s; both report it", function()
    local m = Mock.start { "--rate", "0", "--any-contact" }
    finally(function() m:stop() end)
    local other = spawn(m, r:url("pause"), 7, 5000, 9, 3)
    local n0, s, _, events
    s, _, events = run_here(m, r:url("pause"), 330, function(t)
      if not n0 and t > 1.5 then
        n0 = m:stats().api_requests_logged
        m:config { once_429_retry_after = 5 }
      end
    end)
    assert.is_true(N.wait_gone(other, 15))
    local stats = m:stats()
    local times = stats.api_request_ms
    assert.are.equal(1, stats.rate_limited)
    local t429 = times[n0 + 1]
    -- The 429 reaches the other process through Redis at its next refill (<= 100 ms of quota).
    local inside = count_between(times, t429 + 250, t429 + 4950)
    print(string.format("\n  redis pause: %d requests within [0.25, 4.95] s after the 429; %d after it",
      inside, count_between(times, t429 + 5000, math.huge)))
    assert.are.equal(0, inside, "requests during the fleet-wide pause")
    assert.is_true(count_between(times, t429 + 5000, math.huge) > 20, "nothing sent after the pause")
    -- The one-off 429 went to whichever process sent next: it reports its own pause; the other
    -- must report the fleet's pause with its end and Retry-After.
    local here = {}
    for _, ev in ipairs(events) do
      if ev.type == "pause" then here[#here + 1] = "pause: " .. (ev.error or "") end
    end
    local o = outcome(7)
    assert.are.equal(1, s.http_429 + o.http_429)
    local quiet = s.http_429 == 0 and here or o.events
    local told = false
    for _, e in ipairs(quiet) do told = told or e:match("^pause: .*paused until .*Retry%-After 5 s") ~= nil end
    assert.is_true(told, "the process without the 429 did not report the pause: " .. cjson.encode(quiet))
    assert.is_true(#here > 0 and #o.events > 0, "a process did not report the pause")
    assert.are.equal(330, s.succeeded + s.failed)
  end)

  it("shared_limit_fallback = local:10 grants at 10/s while Redis is unreachable, and says so", function()
    local m = Mock.start { "--rate", "0", "--any-contact" }
    finally(function() m:stop() end)
    local events, results = {}, {}
    local t0 = N.now()
    local s = bulk.batch_update(H.tasks(30), H.opts(m, { rate = RATE, burst = BURST, workers = 4,
      shared_limit = "unix://" .. dir .. "/no-such.sock?key=fb", shared_limit_fallback = "local:10",
      on_event = function(ev) events[#events + 1] = ev end,
      on_result = function(res) results[#results + 1] = res end }))
    local took = N.now() - t0
    local stats = m:stats()
    print(string.format("\n  fallback local:10: 30 tasks in %.2f s, busiest second %d", took,
      stats.max_api_requests_in_1s))
    assert.are.equal(30, s.succeeded)
    assert.is_table(find_event(events, "limiter", "using the local fallback bucket at 10/s"))
    assert.is_true(stats.max_api_requests_in_1s <= 12, "busiest second " .. stats.max_api_requests_in_1s)
    assert.is_true(took >= 2.5, "30 requests at 10/s took only " .. took .. " s")
  end)

  it("bad URLs and a wrong password give clear errors that never show the password", function()
    local m = Mock.start { "--rate", "0", "--any-contact" }
    finally(function() m:stop() end)
    for url, msg in pairs {
      ["redis://127.0.0.1:1/0"] = "needs %?key=NAME",
      ["redis://127.0.0.1/x?key=a"] = "the db number",
      ["redis://127.0.0.1/0?key=a%2Fb"] = "key must be",
      ["unix://rel/sock?key=a"] = "unix:///path",
    } do
      local ok, err = pcall(bulk.start, H.tasks(1), H.opts(m, { shared_limit = url }))
      assert.is_false(ok)
      assert.matches(msg, err)
    end
    local ok, err = pcall(bulk.start, H.tasks(1), H.opts(m, { shared_limit = r:url("x"), shared_limit_fallback = "local:lots" }))
    assert.is_false(ok)
    assert.matches("shared_limit_fallback must be", err)

    -- a password Redis does not know (it has none set): AUTH fails; the batch fails after the timeout
    local secret = "s3cr3t-Redis-pw-0123456789"
    local url = string.format("redis://user:%s@127.0.0.1:%d/0?key=pw", secret, r.port)
    local evs, results = {}, {}
    local job = bulk.start(H.tasks(3), H.opts(m, { shared_limit = url, shared_limit_timeout = 1,
      rate = RATE, burst = BURST, on_event = function(ev) evs[#evs + 1] = ev end,
      on_result = function(res) results[#results + 1] = res end }))
    local t0 = N.now()
    while not job:done() and N.now() - t0 < 10 do job:poll(0.1) end
    local sum = job:summary()
    job:close()
    local all = cjson.encode { evs, sum, results }
    -- the figure is the real one: 1 s, not the next backoff step ("2 s")
    assert.matches("Redis unreachable for 1%.%d s %(AUTH: WRONGPASS", sum.error)
    assert.is_nil(all:find(secret, 1, true), "the password leaked: " .. all)
    assert.are.equal(0, m:stats().api_requests_logged, "a request went out without a grant")
    assert.are.equal(3, sum.failed)
  end)
end)
