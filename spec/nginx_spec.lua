-- cxone-bulk inside Debian's nginx + libnginx-mod-http-lua (LuaJIT), using the example conf
-- (examples/nginx/nginx.conf) against the mock: the worker never blocks, results stream live,
-- a graceful quit during a background batch is prompt and loses no task.
local bulk = require "cxone.bulk"
local N = require "spec.helpers.nginx"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local cjson = require "cjson"

local CREDS = { CXONE_CLIENT_ID = H.CREDS.client_id, CXONE_CLIENT_SECRET = H.CREDS.client_secret }

local function count_lines(path)
  local text = N.read_file(path) or ""
  local _, n = text:gsub("\n", "")
  return n
end

-- Every position 1..n exactly once; returns the results by position. field: where a record
-- holds it ("index" in a streamed result, "line" in the journal, whose intent records, run
-- headers and run ends are left out).
local function by_index(results, n, field)
  field = field or "index"
  local seen, dup = {}, {}
  for _, r in ipairs(results) do
    if r[field] ~= nil and not r.intent then
      if seen[r[field]] then dup[#dup + 1] = r[field] end
      seen[r[field]] = r
    end
  end
  assert.are.same({}, dup)
  local missing = {}
  for i = 1, n do if not seen[i] then missing[#missing + 1] = i; if #missing > 5 then break end end end
  assert.are.same({}, missing)
  return seen
end

-- Threads of `pid` other than its main thread whose mask lets any nginx signal through.
local NGINX_SIGNALS = { HUP = 1, INT = 2, QUIT = 3, USR1 = 10, USR2 = 12, ALRM = 14, TERM = 15,
                        CHLD = 17, WINCH = 28, IO = 29 }
local function threads_not_blocking(pid)
  pid = string.format("%d", pid) -- cjson gives 5.3+ a float
  local _, out = N.run("ls /proc/" .. pid .. "/task")
  local bad, count = {}, 0
  for tid in out:gmatch("%d+") do
    if tid ~= pid then
      count = count + 1
      local status = N.read_file("/proc/" .. pid .. "/task/" .. tid .. "/status") or ""
      local hex = status:match("SigBlk:%s*(%x+)") or "0"
      local low = tonumber(hex:sub(-8), 16) -- signals 1..32
      for name, sig in pairs(NGINX_SIGNALS) do
        if math.floor(low / 2 ^ (sig - 1)) % 2 ~= 1 then bad[#bad + 1] = tid .. " lets SIG" .. name .. " through" end
      end
    end
  end
  return bad, count
end

local ready, why = N.available() -- builds the LuaJIT module

describe("nginx + lua-nginx-module (example conf)", function()
  if not ready then
    pending("nginx example not runnable here: " .. tostring(why))
    return
  end

  local m, ng
  lazy_setup(function()
    m = Mock.start { "--rate", "0", "--latency-ms", "2", "--any-contact" }
    ng = N.start { tag = "nginx-spec", env = CREDS,
      values = { BASE_URL = m.url, RATE = 1000, BURST = 50, ENGINE_WORKERS = 8, WORKERS = 1 } }
  end)
  lazy_teardown(function()
    -- The mock is stopped even if stopping nginx raises.
    if ng then pcall(ng.stop, ng) end
    if m then m:stop() end
  end)

  it("streams a 2,000-task batch while /ping on the same worker answers within 50 ms", function()
    local dir = N.tempdir("nginx-stream")
    finally(function() N.run("rm -rf " .. N.q(dir)) end)
    local body, out = dir .. "/body.json", dir .. "/out.jsonl"
    N.write_file(body, cjson.encode { tasks = H.tasks(2000), batch_id = "stream-" .. os.time() })
    local curl = N.spawn(string.format(
      "curl -sN -m 60 -H 'Content-Type: application/json' --data-binary @%s -o %s %s",
      N.q(body), N.q(out), N.q(ng.url .. "/batch")))

    local probes, worst, partial, ping_pid, threads_checked = 0, 0, 0, nil, nil
    local t0 = N.now()
    while N.alive(curl) and N.now() - t0 < 50 do
      local started = N.now()
      local status, text, took = ng:get("/ping")
      assert.are.equal(200, status, "ping failed: " .. tostring(text))
      ping_pid = cjson.decode(text).worker_pid
      probes = probes + 1
      if took > worst then worst = took end
      local lines = count_lines(out)
      if lines > 0 and lines < 2000 then
        partial = partial + 1
        if not threads_checked then
          -- Mid-batch: the engine's threads live in this nginx worker and block every signal.
          local bad, count = threads_not_blocking(ping_pid)
          assert.is_true(count >= 8, "engine threads in the worker: " .. count)
          assert.are.same({}, bad)
          threads_checked = count
        end
      end
      local left = 0.05 - (N.now() - started)
      if left > 0 then N.sleep(left) end
    end
    assert.is_false(N.alive(curl), "the batch request did not finish within 50 s")

    local lines = N.read_jsonl(out)
    assert.are.equal(2001, #lines, "2,000 result lines and a summary line")
    local summary = table.remove(lines).summary
    assert.is_table(summary)
    local results = by_index(lines, 2000)
    for i = 1, 2000 do assert.is_true(results[i].ok, "task " .. i .. ": " .. tostring(results[i].error)) end
    assert.are.equal(2000, summary.succeeded)
    assert.are.equal(ping_pid, summary.worker_pid, "/ping was answered by the worker running the batch")
    local stats = m:stats()
    assert.are.equal(2000, stats.distinct_mutated)
    assert.are.equal(1, stats.max_mutations_per_contact)

    print(string.format("\n  nginx stream: %d tasks in %.2f s, %d /ping probes during it, max /ping %.1f ms, "
      .. "%d probes saw a partial stream, %s extra threads in the worker all blocking signals, close() %.3f ms",
      summary.succeeded, summary.elapsed, probes, worst * 1000, partial, tostring(threads_checked), summary.close_ms))
    assert.is_true(probes >= 10, "only " .. probes .. " probes ran during the batch")
    assert.is_true(worst < 0.05, string.format("slowest /ping took %.1f ms", worst * 1000))
    assert.is_true(partial >= 3, "results should arrive while the batch runs (" .. partial .. " partial views)")
    assert.is_truthy(threads_checked, "the worker's threads were never inspected mid-batch")
  end)

  it("a client that hangs up cancels its batch: the server stops receiving requests", function()
    m:reset()
    local dir = N.tempdir("nginx-abort")
    finally(function() N.run("rm -rf " .. N.q(dir)) end)
    local body = dir .. "/body.json"
    N.write_file(body, cjson.encode { tasks = H.tasks(20000) })
    -- 0.5 s of a 20 s batch, then curl gives up and closes the connection.
    N.run(string.format("curl -sN -m 0.5 -H 'Content-Type: application/json' --data-binary @%s -o /dev/null %s",
      N.q(body), N.q(ng.url .. "/batch")))
    -- Meanwhile the worker drains ~19,000 cancelled results: it must keep yielding.
    local worst = 0
    for _ = 1, 10 do
      local status, _, took = ng:get("/ping")
      assert.are.equal(200, status)
      if took > worst then worst = took end
      N.sleep(0.05)
    end
    assert.is_true(worst < 0.05, string.format("slowest /ping while draining took %.1f ms", worst * 1000))
    local settled = m:stats().requests.total
    N.sleep(0.5)
    local later = m:stats().requests.total
    assert.are.equal(settled, later, "requests kept arriving after the client left")
    assert.is_true(settled < 5000, "requests sent: " .. settled)
    assert.are.equal(200, (ng:get("/ping")))
  end)

  it("graceful quit during a background batch: exits within 5 s, every task journaled", function()
    m:reset()
    local id = "bg-" .. os.time()
    local status, reply = ng:post_json("/jobs?id=" .. id, { tasks = H.tasks(20000) })
    assert.are.equal(202, status, cjson.encode(reply))
    assert.are.equal(id, reply.id)
    -- A second job with the same id is refused.
    assert.are.equal(409, (ng:post_json("/jobs?id=" .. id, { tasks = H.tasks(1) })))

    local st
    local t0 = N.now()
    repeat
      N.sleep(0.05)
      local _, text = ng:get("/jobs/status?id=" .. id)
      st = cjson.decode(text)
    until (st.done or 0) >= 300 or N.now() - t0 > 15
    assert.are.equal("running", st.state)
    assert.is_true(st.done >= 300 and st.done < 20000, "progress: " .. tostring(st.done))

    local gone, took = ng:quit(5)
    assert.is_true(gone, "nginx still running 5 s after SIGQUIT")
    assert.is_true(took < 5)

    local results = by_index(N.read_jsonl(reply.journal), 20000, "line")
    local ok, cancelled, unknown, other = 0, 0, 0, {}
    for i = 1, 20000 do
      local r = results[i]
      if r.ok then ok = ok + 1
      elseif r.cancelled and r.error:find("nginx worker exiting", 1, true) then
        cancelled = cancelled + 1
        if r.outcome_unknown then unknown = unknown + 1 end
      else other[#other + 1] = i .. ": " .. tostring(r.error) end
      if #other > 5 then break end
    end
    assert.are.same({}, other)
    assert.is_true(ok >= 300)
    assert.is_true(cancelled > 0, "the quit came during the batch, so some tasks were never sent")
    local stats = m:stats()
    assert.is_true(stats.distinct_mutated >= ok and stats.distinct_mutated <= ok + unknown,
      string.format("mutated %d, ok %d, outcome unknown %d", stats.distinct_mutated, ok, unknown))
    assert.are.equal(1, stats.max_mutations_per_contact)
    assert.matches("worker exiting, cancelling", ng:error_log())
    print(string.format("\n  nginx quit: %d ok, %d cancelled, %d outcome-unknown; all processes gone %.2f s "
      .. "after SIGQUIT", ok, cancelled, unknown, took))
  end)
end)

-- Issue 24: the example as a production host. Each block starts its own nginx and mock (the
-- mock's own limit off, so its counts show what was sent).
describe("nginx example as a production host", function()
  if not ready then
    pending("nginx example not runnable here: " .. tostring(why))
    return
  end

  local m, ng, dir
  before_each(function()
    m = Mock.start { "--rate", "0", "--latency-ms", "2", "--any-contact" }
    dir = N.tempdir("nginx-prod")
  end)
  after_each(function()
    if ng then pcall(ng.stop, ng) end
    ng = nil
    if m then m:stop() end
    N.run("rm -rf " .. N.q(dir))
  end)

  local function body_file(name, doc)
    local path = dir .. "/" .. name .. ".json"
    N.write_file(path, cjson.encode(doc))
    return path
  end

  -- A curl POST in the background; `extra` adds flags (--limit-rate ...). The body goes to `out`,
  -- the status code to out .. ".status".
  local function spawn_post(path, file, extra, out)
    return N.spawn(string.format("curl -sN -m 60 %s -H 'Content-Type: application/json' --data-binary @%s "
      .. "-w '%%{http_code}' -o %s %s", extra or "", N.q(file), N.q(out), N.q(ng.url .. path)), out .. ".status")
  end

  -- Several POSTs from one curl at once (--parallel): they reach nginx together, as from a
  -- client library or a balancer fanning out. posts: { {path, file, out}, ... }; every status
  -- code goes to `codes` (one line each).
  local function spawn_parallel(posts, codes)
    local parts = {}
    for i, p in ipairs(posts) do
      parts[i] = string.format("-sN -m 60 -H 'Content-Type: application/json' --data-binary @%s -w '%%{http_code}\\n' "
        .. "-o %s %s", N.q(p[2]), N.q(p[3]), N.q(ng.url .. p[1]))
    end
    return N.spawn("curl --parallel --parallel-immediate --parallel-max 50 " .. table.concat(parts, " --next "), codes)
  end

  local function wait_all(pids, seconds)
    for _, pid in ipairs(pids) do assert.is_true((N.wait_gone(pid, seconds)), "a curl did not finish") end
  end

  it("concurrent /batch streams and /jobs on two workers draw from one bucket: burst + rate in any window", function()
    local RATE, BURST = 45, 20
    ng = N.start { tag = "nginx-bucket", env = CREDS,
      values = { BASE_URL = m.url, RATE = RATE, BURST = BURST, WORKERS = 2, MAX_JOBS = 2 } }
    local posts = {}
    for b = 1, 8 do
      posts[b] = { "/batch", body_file("b" .. b, { tasks = H.tasks(15, b * 100), batch_id = "s" .. b }), dir .. "/out" .. b }
    end
    for j = 1, 2 do
      posts[#posts + 1] = { "/jobs?id=bucket" .. j, body_file("j" .. j, { tasks = H.tasks(15, 5000 + j * 100) }),
                            dir .. "/job" .. j }
    end
    wait_all({ spawn_parallel(posts, dir .. "/codes") }, 30)
    local codes = {}
    for c in (N.read_file(dir .. "/codes") or ""):gmatch("%d+") do codes[#codes + 1] = c end
    table.sort(codes)
    assert.are.same({ "200", "200", "200", "200", "200", "200", "200", "200", "202", "202" }, codes)
    for j = 1, 2 do
      local st = ng:wait_job("bucket" .. j, 30, function(x) return x.state ~= "running" and x.state ~= "queued" end)
      assert.are.equal("done", st.state, cjson.encode(st))
    end
    local stats = m:stats()
    assert.are.equal(150, stats.distinct_mutated)
    assert.are.equal(1, stats.max_mutations_per_contact)
    local times = stats.api_request_ms
    local excess, where = N.worst_excess(times, RATE, BURST)
    print(string.format("\n  one bucket: 8 streams + 2 jobs, %d requests in %.2f s, busiest second %d (bound %d), "
      .. "worst window %s, excess %.1f", #times, (times[#times] - times[1]) / 1000, stats.max_api_requests_in_1s,
      BURST + RATE, where, excess))
    assert.is_true(stats.max_api_requests_in_1s <= BURST + RATE,
      "busiest second " .. stats.max_api_requests_in_1s .. "; worst window " .. where)
    assert.is_true(excess <= 2, string.format("a window exceeded burst + rate*T by %.1f: %s", excess, where))
  end)

  it("every worker names one bucket after the base URL and client id (bulk.tenant_limit_name); a request "
    .. "cannot choose the rate", function()
    ng = N.start { tag = "nginx-name", env = CREDS, values = { BASE_URL = m.url, WORKERS = 2 } }
    local names = {}
    for _ = 1, 8 do names[ng:ping().shared_limit or "none"] = true end
    local name = next(names)
    assert.is_nil(next(names, name), "workers disagree on the bucket")
    assert.are.equal(bulk.tenant_limit_name { base_url = m.url, client_id = CREDS.CXONE_CLIENT_ID }, name)
    local status, reply = ng:post_json("/batch", { tasks = H.tasks(1), rate = 1000, shared_limit = "mine" })
    assert.are.equal(400, status)
    assert.matches('unknown field "', reply.error)
    assert.matches("server's configuration", reply.error)
    assert.are.equal(0, m:stats().requests.total)
  end)

  it("five slow uploads to a worker that runs one job: one 202, four 429; the slot comes back on every path", function()
    ng = N.start { tag = "nginx-slots", env = CREDS, values = { BASE_URL = m.url, RATE = 1000, BURST = 50, WORKERS = 1 } }
    local file = body_file("slow", { tasks = H.tasks(600) })
    local pids, outs = {}, {}
    for i = 1, 5 do
      outs[i] = dir .. "/slow" .. i
      pids[i] = spawn_post("/jobs?id=slow" .. i, file, "--limit-rate 40k", outs[i])
    end
    wait_all(pids, 30)
    local codes, accepted = {}, nil
    for i = 1, 5 do
      local code = N.read_file(outs[i] .. ".status")
      codes[#codes + 1] = code
      if code == "202" then accepted = "slow" .. i end
    end
    table.sort(codes)
    assert.are.same({ "202", "429", "429", "429", "429" }, codes)
    local st = ng:wait_job(accepted, 20, function(x) return x.state == "done" end)
    assert.are.equal("done", st.state, cjson.encode(st))
    assert.are.equal(600, m:stats().distinct_mutated)

    -- A client that hangs up mid-upload, then a refused body: each gives its slot back.
    N.run(string.format("curl -s -m 0.3 --limit-rate 20k -H 'Content-Type: application/json' --data-binary @%s "
      .. "-o /dev/null %s", N.q(file), N.q(ng.url .. "/jobs?id=gone")))
    local status, reply = ng:post_json("/jobs?id=bad", { tasks = H.tasks(1), workers = 64 })
    assert.are.equal(400, status, cjson.encode(reply))
    assert.matches('unknown field "workers"', reply.error)
    N.sleep(0.1)
    assert.are.equal(0, ng:ping().running)
    status, reply = ng:post_json("/jobs?id=after", { tasks = H.tasks(3, 9000) })
    assert.are.equal(202, status, cjson.encode(reply))
  end)

  it("journals are created 0640 although nginx workers run with umask 0", function()
    ng = N.start { tag = "nginx-mode", env = CREDS, values = { BASE_URL = m.url, RATE = 1000, BURST = 50, WORKERS = 1 } }
    local status, reply = ng:post_json("/jobs?id=mode1", { tasks = H.tasks(2) })
    assert.are.equal(202, status, cjson.encode(reply))
    ng:wait_job("mode1", 10, function(x) return x.state == "done" end)
    local worker = ng:worker_pids()[1]
    local umask = (N.read_file("/proc/" .. worker .. "/status") or ""):match("Umask:%s*(%d+)")
    print("\n  nginx worker umask " .. tostring(umask) .. ", journal mode " .. N.mode(reply.journal))
    assert.are.equal("640", N.mode(reply.journal))
    -- The primitive itself, whatever the umask (in a plain lua5.4 child with the plain build: a
    -- sanitized module cannot load into a child that lacks the sanitizer's runtime).
    for _, mask in ipairs { "000", "077", "022" } do
      local path = dir .. "/made-" .. mask
      local ok, out = N.run(string.format("umask %s && LUA_CPATH='build/lua5.4/?.so;;' lua5.4 -e %s", mask,
        N.q('assert(require("cxone.bulk").sys.create_file(' .. string.format("%q", path) .. ', "0640"))')))
      assert.is_true(ok, out)
      assert.are.equal("640", N.mode(path))
    end
  end)

  it("GET /ping names a fleet-wide bucket by its key, never the Redis password in its URL", function()
    ng = N.start { tag = "nginx-label", env = CREDS, values = { BASE_URL = m.url, WORKERS = 1,
      SHARED_LIMIT = "redis://:pw-s3cret@127.0.0.1:1/0?key=tenant-42" } }
    local _, text = ng:get("/ping")
    assert.are.equal("redis key tenant-42", cjson.decode(text).shared_limit)
    assert.is_nil(text:find("s3cret", 1, true), text)
  end)

  -- Twenty batches reaching one worker together: each bulk.start makes the batch's threads (a few
  -- ms each here); run back to back in one turn of the event loop they held it 230-310 ms.
  it("/ping answers within 50 ms while 20 batches arrive together and run", function()
    ng = N.start { tag = "nginx-ping", env = CREDS, values = { BASE_URL = m.url, RATE = 200, BURST = 50, WORKERS = 1 } }
    local posts = {}
    for b = 1, 20 do
      posts[b] = { "/batch", body_file("p" .. b, { tasks = H.tasks(20, b * 100), batch_id = "ping" .. b }), dir .. "/pout" .. b }
    end
    local stop = ng:ping_prober()
    N.sleep(0.1)
    local t0 = N.now()
    wait_all({ spawn_parallel(posts, dir .. "/codes") }, 30)
    local took = N.now() - t0
    local times, bad = stop()
    assert.are.same({}, bad)
    table.sort(times)
    local worst = times[#times]
    print(string.format("\n  /ping while 20 batches ran (%.2f s): %d probes, median %.1f ms, worst %.1f ms", took,
      #times, times[math.ceil(#times / 2)] * 1000, worst * 1000))
    for b = 1, 20 do
      assert.is_truthy((N.read_file(dir .. "/pout" .. b) or ""):find('"summary"', 1, true), "batch " .. b .. " did not end")
    end
    assert.are.equal(400, m:stats().distinct_mutated)
    assert.is_true(worst <= 0.05, string.format("slowest /ping took %.1f ms", worst * 1000))
  end)
end)

describe("nginx: a job created in init_by_lua (the master)", function()
  if not ready then
    pending("nginx example not runnable here: " .. tostring(why))
    return
  end

  it("fails clearly when a worker uses it after the fork", function()
    local m = Mock.start { "--rate", "0" }
    local prefix = N.tempdir("nginx-fork")
    local ng
    finally(function()
      if ng then N.kill(ng, "QUIT"); N.wait_gone(ng, 5) end
      m:stop()
      N.run("rm -rf " .. N.q(prefix))
    end)
    N.run("mkdir -p " .. N.q(prefix .. "/logs") .. " " .. N.q(prefix .. "/tmp"))
    N.run("chown nobody:nogroup " .. N.q(prefix .. "/tmp") .. " 2>/dev/null")
    local port = 20000 + math.random(0, 39999)
    local repo = os.getenv("PWD")
    N.write_file(prefix .. "/nginx.conf", table.concat({
      "load_module /usr/lib/nginx/modules/ndk_http_module.so;",
      "load_module /usr/lib/nginx/modules/ngx_http_lua_module.so;",
      "worker_processes 1;",
      "pid " .. prefix .. "/nginx.pid;",
      "error_log " .. prefix .. "/logs/error.log info;",
      "events { worker_connections 64; }",
      "http {",
      "  access_log off;",
      "  client_body_temp_path " .. prefix .. "/tmp;",
      '  lua_package_path "' .. repo .. '/lua/?.lua;;";',
      '  lua_package_cpath "' .. repo .. '/build/luajit/?.so;;";',
      "  init_by_lua_block {",
      "    -- The mistake this test is about: a job started before the fork.",
      '    EARLY_JOB = require("cxone.bulk").start({}, { base_url = "' .. m.url .. '",',
      '      client_id = "demo-client", client_secret = "demo-secret", workers = 1 })',
      "  }",
      "  server {",
      "    listen 127.0.0.1:" .. port .. ";",
      "    location = /use { content_by_lua_block {",
      "      local ok, err = pcall(EARLY_JOB.poll, EARLY_JOB, 0)",
      "      ngx.say(ok and 'no error' or err)",
      "    } }",
      "  }",
      "}", "" }, "\n"))
    local started, out = N.run(string.format("%s -p %s -c %s", N.NGINX, N.q(prefix), N.q(prefix .. "/nginx.conf")))
    assert.is_true(started, out)
    ng = tonumber(N.read_file(prefix .. "/nginx.pid"))
    local status, text
    for _ = 1, 50 do
      status, text = N.http("GET", "http://127.0.0.1:" .. port .. "/use")
      if status == 200 then break end
      N.sleep(0.05)
    end
    assert.are.equal(200, status)
    assert.matches("cxone.bulk job used after fork %(created in pid %d+, used in pid %d+%)", text)
    assert.matches("init_worker_by_lua", text)
  end)
end)
