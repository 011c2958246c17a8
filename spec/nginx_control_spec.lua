-- The nginx example's live control and metrics (issue 22 §2-3): GET /jobs/{id} (the running job's
-- status: counts, rate, pause, ETA), POST /jobs/{id}/rate (a new rate, applied by the worker that
-- runs the job whichever worker takes the request) and GET /metrics (every job of every worker in
-- one Prometheus exposition). Real nginx (two workers), the real mock with its own limit off, so
-- its server-side counts show what was sent. One nginx for the whole file: CI time is short.
local N = require "spec.helpers.nginx"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local U = require "spec.helpers.util"
local cjson = require "cjson"

local CREDS = { CXONE_CLIENT_ID = H.CREDS.client_id, CXONE_CLIENT_SECRET = H.CREDS.client_secret }
local PUT = "PUT /api/v2/contacts"
local RATE, BURST = 20, 5

local PROMTOOL = os.getenv("PROMTOOL") or "promtool"

-- promtool's verdict on a metrics text: ok, its output (lint problems, parse errors).
local function promtool_check(text)
  local dir = U.tmpdir("nginx-metrics")
  local path = dir .. "/m.prom"
  U.write_file(path, text)
  local ok, out = U.run(PROMTOOL .. " check metrics < " .. U.quote(path))
  U.rmdir(dir)
  return ok and not out:match("%S"), out
end

local sum_where = require("spec.helpers.prom").sum_where

local function count_of(text, pattern)
  local _, n = text:gsub(pattern, "")
  return n
end

local ready, why = N.available()

describe("nginx example: live control and metrics", function()
  if not ready then
    pending("nginx example not runnable here: " .. tostring(why))
    return
  end
  if not U.run("command -v " .. PROMTOOL .. " >/dev/null") then
    pending("promtool not found (apt-get install prometheus)")
    return
  end

  local m, ng
  lazy_setup(function()
    m = Mock.start { "--rate", "0", "--latency-ms", "2", "--any-contact" }
    ng = N.start { tag = "nginx-control", env = CREDS,
      values = { BASE_URL = m.url, RATE = RATE, BURST = BURST, WORKERS = 2, MAX_JOBS = 1 } }
  end)
  lazy_teardown(function()
    if ng then pcall(ng.stop, ng) end
    if m then m:stop() end
  end)

  local function job(id)
    local status, text = ng:get("/jobs/" .. id)
    local ok, doc = pcall(cjson.decode, text)
    return status, ok and doc or text
  end

  local function wait_job(id, seconds, pred)
    local st
    local t0 = N.now()
    repeat
      local _
      _, st = job(id)
      if type(st) == "table" and pred(st) then return st end
      N.sleep(0.05)
    until N.now() - t0 > seconds
    return st
  end

  local function puts() return m:stats("mutations=0").requests.by_route[PUT] end

  -- PUTs the mock received per second over `seconds`, counted by the mock.
  local function measured_rate(seconds)
    local c0, t0 = puts(), N.now()
    N.sleep(seconds)
    local c1, t1 = puts(), N.now()
    return (c1 - c0) / (t1 - t0), c1 - c0, t1 - t0
  end

  local main_id, side_id = "ctl-" .. os.time(), "side-" .. os.time()

  -- The handler's engine module, loaded here as nginx loads it (it reads `ngx` only when used).
  local function engine_module()
    local saved_path, had_ngx = package.path, rawget(_G, "ngx")
    package.path = "examples/nginx/?.lua;" .. package.path
    if not had_ngx then rawset(_G, "ngx", {}) end
    local ok, E = pcall(require, "bulk_engine")
    package.path = saved_path
    assert(ok, E)
    return E
  end

  it("configure takes every library option (cxone.bulk.options) but those it names a reason for, and reads the "
    .. "template's strings as each option's kind", function()
    local E = engine_module()
    local allowed = {}
    for _, k in ipairs(E.ENGINE_OPTIONS) do allowed[k] = true end
    for _, o in ipairs(require("cxone.bulk.options").LIST) do
      assert.is_true(allowed[o.name] or type(E.NOT_CONFIGURED[o.name]) == "string", o.name)
    end
    E.configure { base_url = m.url, rate = "auto:30", max_rate = "50", burst = "5", max_failure_rate = "0.2",
                  skip_unchanged = "true", max_unreachable = "3" }
    assert.are.same({ "auto:30", 50, 5, 0.2, true, 3 }, { E.conf.opts.rate, E.conf.opts.max_rate, E.conf.opts.burst,
      E.conf.opts.max_failure_rate, E.conf.opts.skip_unchanged, E.conf.opts.max_unreachable })
    local ok, err = pcall(E.configure, { base_url = m.url, client_secret = "s3cret-value" })
    assert.is_false(ok)
    assert.matches("option 'client_secret' is not set here: credentials come only from the environment "
      .. "($CXONE_CLIENT_SECRET", err, 1, true)
    assert.is_nil(err:find("s3cret", 1, true))
    ok, err = pcall(E.configure, { base_url = m.url, batch_id = "b1" })
    assert.is_false(ok)
    assert.matches("option 'batch_id' is not set here: a request's", err, 1, true)
    ok, err = pcall(E.configure, { base_url = m.url, burst = "many" })
    assert.is_false(ok)
    assert.matches("option 'burst'", err, 1, true)
  end)

  it("GET /jobs/{id} shows a running job's rate and counts; POST /jobs/{id}/rate changes the one bucket's "
    .. "rate and the mock's request rate follows; /metrics merges both workers' jobs and counts what the mock saw",
    function()
    m:reset()
    local status, reply = ng:post_json("/jobs?id=" .. main_id, { tasks = H.tasks(400) })
    assert.are.equal(202, status, cjson.encode(reply))
    local main_pid = reply.worker_pid
    -- A second job on the other worker (each runs one job at a time: a 429 means this one landed
    -- on the busy worker, so try again).
    local side_pid
    for _ = 1, 40 do
      status, reply = ng:post_json("/jobs?id=" .. side_id, { tasks = H.tasks(100, 5000) })
      if status == 202 then side_pid = reply.worker_pid; break end
      assert.are.equal(429, status, cjson.encode(reply))
    end
    assert.is_truthy(side_pid, "the second job never reached the other worker")
    assert.are_not.equal(main_pid, side_pid)

    local st = wait_job(main_id, 10, function(x) return (x.done or 0) >= 10 end)
    assert.are.equal("running", st.state, cjson.encode(st))
    assert.are.equal(RATE, st.rate, cjson.encode(st))
    assert.are.equal(400, st.total)
    assert.is_true(st.done >= 10 and st.done < 400, cjson.encode(st))
    assert.are.equal(400 - st.done, st.remaining, cjson.encode(st))
    assert.is_number(st.eta)
    assert.is_true(st.eta > 0, cjson.encode(st))
    assert.are.equal(0, st.paused_for)
    assert.is_number(st.requests)
    -- The old route answers the same.
    local _, old = ng:get("/jobs/status?id=" .. main_id)
    assert.are.equal(main_id, cjson.decode(old).id)

    -- Both jobs share the instance's one bucket: together they send RATE/s.
    local before, n1, w1 = measured_rate(1.5)
    assert.is_true(n1 <= BURST + RATE * w1, string.format("%d requests in %.2f s at %d/s", n1, w1, RATE))
    assert.is_true(before >= 0.7 * RATE, string.format("%.1f/s before the change", before))

    -- A max_rate on a fixed rate is the library's refusal, not a crash.
    status, reply = ng:post_json("/jobs/" .. main_id .. "/rate", { max_rate = 80 })
    assert.are.equal(409, status, cjson.encode(reply))
    assert.matches('max_rate applies only to rate = "auto"', reply.error, 1, true)

    status, reply = ng:post_json("/jobs/" .. main_id .. "/rate", { rate = 60 })
    assert.are.equal(200, status, cjson.encode(reply))
    assert.are.equal(60, reply.rate, cjson.encode(reply))
    -- Every worker reads the new rate, for both jobs (one bucket).
    for _ = 1, 6 do
      local _, s = job(main_id)
      assert.are.equal(60, s.rate, cjson.encode(s))
    end
    local side = wait_job(side_id, 2, function(x) return x.rate == 60 end)
    assert.are.equal(60, side.rate, cjson.encode(side))
    N.sleep(0.2)
    local after, n2, w2 = measured_rate(2)
    print(string.format("\n  nginx control: %.1f/s at rate %d (%d in %.2f s), %.1f/s after POST rate 60 (%d in %.2f s)",
      before, RATE, n1, w1, after, n2, w2))
    assert.is_true(n2 <= BURST + 60 * w2, string.format("%d requests in %.2f s at 60/s", n2, w2))
    assert.is_true(after >= 0.75 * 60, string.format("%.1f/s after the change to 60/s", after))

    -- /metrics while they run: valid, with the rate in force (published every second).
    local live_text
    local t0 = N.now()
    repeat
      local _, t = ng:get("/metrics")
      if t:find('cxone_bulk_rate_requests_per_second{job_id="' .. side_id .. '"} 60', 1, true) then live_text = t end
      N.sleep(0.1)
    until live_text or N.now() - t0 > 3
    assert.is_truthy(live_text, "GET /metrics never showed the new rate")
    local live_ok, live_out = promtool_check(live_text)
    assert.is_true(live_ok, "promtool check metrics: " .. live_out .. "\n" .. live_text)

    -- Finish both quickly, then every request is in /metrics, from both workers.
    status, reply = ng:post_json("/jobs/" .. side_id .. "/rate", { rate = 1000 })
    assert.are.equal(200, status, cjson.encode(reply))
    for _, id in ipairs { main_id, side_id } do
      st = wait_job(id, 20, function(x) return x.state ~= "running" and x.state ~= "queued" end)
      assert.are.equal("done", st.state, cjson.encode(st))
      assert.are.equal(0, st.remaining)
    end
    local stats = m:stats()
    assert.are.equal(500, stats.distinct_mutated)
    assert.are.equal(1, stats.max_mutations_per_contact)

    local code, text = ng:get("/metrics")
    assert.are.equal(200, code, text)
    local ok, out = promtool_check(text)
    assert.is_true(ok, "promtool check metrics: " .. out .. "\n" .. text)
    assert.are.equal(1, count_of(text, "# HELP cxone_bulk_requests_total "))
    assert.are.equal(1, count_of(text, "# TYPE cxone_bulk_requests_total counter"))
    local sent = puts()
    assert.are.equal(500, sent)
    local main_n = sum_where(text, "cxone_bulk_requests_total", { job_id = main_id })
    local side_n = sum_where(text, "cxone_bulk_requests_total", { job_id = side_id })
    assert.are.equal(400, main_n, text)
    assert.are.equal(100, side_n, text)
    assert.are.equal(sent, main_n + side_n)
    assert.are.equal(400, sum_where(text, "cxone_bulk_results_total", { job_id = main_id, outcome = "succeeded" }))

    -- A streamed batch is in /metrics too, under its own job_id, with what the mock saw of it.
    local bstatus, body = ng:post_json("/batch", { tasks = H.tasks(30, 9000), batch_id = "streamed" })
    assert.are.equal(200, bstatus, tostring(body))
    code, text = ng:get("/metrics")
    assert.are.equal(200, code, text)
    ok, out = promtool_check(text)
    assert.is_true(ok, "promtool check metrics: " .. out .. "\n" .. text)
    local batch_label = text:match('job_id="(batch:streamed:[%x]+)"')
    assert.is_truthy(batch_label, text)
    assert.are.equal(30, sum_where(text, "cxone_bulk_requests_total", { job_id = batch_label }))
    assert.are.equal(puts(), sent + 30)
  end)

  it("bad rate bodies are a 400 naming the field; an unknown job is a 404, a finished one a 409", function()
    local path = "/jobs/" .. main_id .. "/rate"
    local cases = {
      { { rate = 0 }, '"rate" must be a number >= 1e%-06 and <= 100000 %(got 0%)' },
      { { rate = "fast" }, '"rate" must be a number >= 1e%-06 and <= 100000 %(got "fast"%)' },
      { { max_rate = -1 }, '"max_rate" must be a number >= 1e%-06 and <= 100000 %(got %-1%)' },
      { { rate = 200000 }, '"rate" must be a number' },
      { { rate = 30, max_rate = 20 }, '"rate" %(30%) is above "max_rate" %(20%)' },
      { { speed = 5 }, 'unknown field "speed"' },
      { {}, 'give "rate", "max_rate" or both' },
      { { 1, 2 }, "JSON object" },
    }
    for _, c in ipairs(cases) do
      local status, reply = ng:post_json(path, c[1])
      assert.are.equal(400, status, cjson.encode(c[1]) .. " -> " .. cjson.encode(reply))
      assert.matches(c[2], reply.error)
    end
    local status, reply = ng:post_text(path, "rate=30")
    assert.are.equal(400, status, tostring(reply))
    assert.matches("not JSON", reply.error)

    status, reply = ng:post_json("/jobs/no-such-job/rate", { rate = 10 })
    assert.are.equal(404, status, cjson.encode(reply))
    assert.matches("no such job: no%-such%-job", reply.error)
    assert.are.equal(404, (job("no-such-job")))
    status, reply = ng:post_json("/jobs/bad%20id/rate", { rate = 10 })
    assert.are.equal(400, status, cjson.encode(reply))
    assert.matches("id must be", reply.error)

    -- main_id finished in the test above.
    status, reply = ng:post_json(path, { rate = 10 })
    assert.are.equal(409, status, cjson.encode(reply))
    assert.matches("is not running %(done%)", reply.error)
  end)

  -- A second nginx, the only one besides the file's: rate = "auto" is the instance's bucket's
  -- mode, and `nginx -t` does not run init_by_lua (Debian's module), so only a start tells.
  it('RATE=auto with MAX_RATE: an adaptive bucket whose ceiling POST /jobs/{id}/rate moves; a RATE that is '
    .. 'none, or MAX_RATE with a fixed rate, stops nginx naming the option', function()
    local function refused(values)
      values.BASE_URL = m.url
      local ok, err = pcall(N.start, { tag = "nginx-badrate", env = CREDS, values = values })
      if ok then err:stop() end -- (the old example started, with the default rate)
      assert.is_false(ok, "nginx started with " .. cjson.encode(values))
      return tostring(err)
    end
    assert.matches("option 'rate' must be a number >= 1e-06 and <= 100000, \"auto\" or \"auto:R\"",
      refused { RATE = "fast" }, 1, true)
    assert.matches("option 'max_rate' applies only to rate = \"auto\"", refused { RATE = "45", MAX_RATE = "80" }, 1, true)

    local auto = N.start { tag = "nginx-auto", env = CREDS, values = { BASE_URL = m.url, RATE = "auto:30",
      MAX_RATE = "60", BURST = 5, WORKERS = 1, SHARED_LIMIT = "cxb-spec-auto-" .. os.time() } }
    finally(function() auto:stop() end)
    local id = "auto-" .. os.time()
    local status, reply = auto:post_json("/jobs?id=" .. id, { tasks = H.tasks(60, 7000) })
    assert.are.equal(202, status, cjson.encode(reply))
    local _, st, text
    local t0 = N.now()
    repeat
      _, text = auto:get("/jobs/" .. id)
      st = cjson.decode(text)
      N.sleep(0.02)
    until st.adaptive ~= nil or N.now() - t0 > 5
    assert.is_true(st.adaptive, text)
    assert.are.equal("running", st.state, text)
    assert.are.equal(60, st.max_rate, text)
    status, reply = auto:post_json("/jobs/" .. id .. "/rate", { rate = 35, max_rate = 40 })
    assert.are.equal(200, status, cjson.encode(reply))
    assert.are.equal(40, reply.max_rate, cjson.encode(reply))
    assert.is_true(reply.rate <= 40, cjson.encode(reply))
    -- Above the ceiling: the library's refusal.
    status, reply = auto:post_json("/jobs/" .. id .. "/rate", { rate = 50 })
    assert.are.equal(409, status, cjson.encode(reply))
    assert.matches("above max_rate 40/s", reply.error, 1, true)
  end)
end)
