-- cxone-bulk inside Debian's nginx + libnginx-mod-http-lua (LuaJIT), using the example conf
-- (examples/nginx/nginx.conf) against the mock: the worker never blocks, results stream live,
-- a graceful quit during a background batch is prompt and loses no task.
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

-- Every index 1..n exactly once; returns the results by index. A job's journal also holds its
-- header and end lines, which have no index.
local function by_index(results, n)
  local seen, dup = {}, {}
  for _, r in ipairs(results) do
    if r.index ~= nil then
      if seen[r.index] then dup[#dup + 1] = r.index end
      seen[r.index] = r
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

local ready, why = N.available()
if ready then
  local ok, out = N.run("make --no-print-directory -s luajit-module")
  if not ok then ready, why = nil, "cannot build the LuaJIT module: " .. out end
end

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

    local results = by_index(N.read_jsonl(reply.journal), 20000)
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
