-- The ways of sending the same PUTs to the mock: the engine (bench/engine_batch.lua in its own
-- process), wrk (bench/wrk_put.lua), the tutorial's Go design (bench/peers/seedgo, net/http and
-- goroutines), curl --parallel fed a config file and the libcurl floor (bench/peers/curlfloor:
-- the engine's transport design with none of its work). Every run starts
-- from a reset mock and is measured the same way on the server side: requests/s is
-- (arrivals - 1) / (last arrival - first arrival) from the mock's api_request_ms log, so process
-- start-up, config parsing and the token request are outside every contender's figure.
local U = require "bench.lib.util"

local C = {}

-- The four outcomes both the engine and wrk cycle through (the same body shapes for curl too).
local OUTCOMES = {
  { "Contacted", "Information Provided" }, { "Contacted", "Callback Requested" },
  { "Not Contacted", "No Answer" }, { "Not Contacted", "Voicemail" },
}

local nonce = os.time()
local function next_nonce()
  nonce = nonce + 1
  return nonce
end

-- Server-side figures of the run that just ended; checks that every answer was a 200.
local function server_side(mock, label)
  local st = mock:stats()
  local arr = st.api_request_ms or {}
  local n = #arr
  if st.api_request_ms_truncated then U.fail("%s: the mock's arrival log was truncated", label) end
  local by = st.requests and st.requests.by_status or {}
  for status, count in pairs(by) do
    if status ~= "200" and count > 0 then
      U.fail("%s: the mock answered %d requests with %s", label, count, status)
    end
  end
  if n < 2 or arr[n] <= arr[1] then U.fail("%s: too few requests reached the mock (%d)", label, n) end
  return { requests = n, ok_200 = by["200"] or 0, server_seconds = (arr[n] - arr[1]) / 1000,
           server_rps = (n - 1) * 1000 / (arr[n] - arr[1]), max_in_1s = st.max_api_requests_in_1s }
end

-- Resets the mock, runs `fn` (which returns the client-side record), adds server-side figures
-- and the CPU both processes used, per request.
local function measured(mock, label, fn)
  mock:reset()
  local cpu0 = U.proc_cpu(mock.pid)
  local rec = fn()
  local cpu1 = U.proc_cpu(mock.pid)
  local s = server_side(mock, label)
  for k, v in pairs(s) do rec[k] = v end
  rec.mock_cpu = cpu1 - cpu0
  rec.mock_us_per_request = rec.mock_cpu / s.requests * 1e6
  if rec.client_cpu then rec.client_us_per_request = rec.client_cpu / s.requests * 1e6 end
  rec.loadavg = U.loadavg()
  return rec
end

-- The engine through batch_update, `tasks` streamed tasks, `workers` workers, limiter far above
-- what the machine can do.
function C.engine(ctx, mock, workers, tasks, callback)
  local label = string.format("engine (%d workers)", workers)
  local rec = measured(mock, label, function()
    local out = ctx.scratch .. ".engine"
    local shown = string.format("%s bench/engine_batch.lua --url %s --tasks %d --workers %d --callback %s --batch-id bench-%d",
      ctx.lua, mock.url, tasks, workers, callback or "trivial", next_nonce())
    local cmd = string.format("%s %s >%s 2>&1", ctx.lua_env, shown, U.q(out))
    local ok, t = U.timed(cmd, ctx.scratch)
    local text = U.read(out) or ""
    local r = U.tagged_json(text, "BENCH-JSON ")
    if not ok or not r then U.fail("%s failed (exit %s): %s", label, tostring(t.exit), text:sub(1, 2000)) end
    return { contender = "engine", connections = workers, client_rps = r.rps, client_seconds = r.elapsed,
             client_cpu = t.cpu, client_max_rss_kb = t.max_rss_kb, command = shown }
  end)
  if rec.requests ~= tasks then U.fail("%s: %d requests for %d tasks", label, rec.requests, tasks) end
  return rec
end

-- wrk with the same number of connections, for `seconds`.
function C.wrk(ctx, mock, connections, seconds)
  local label = string.format("wrk (%d connections)", connections)
  local token = mock:token()
  return measured(mock, label, function()
    local out = ctx.scratch .. ".wrk"
    local threads = math.min(ctx.wrk_threads, connections)
    local shown = string.format("wrk -t%d -c%d -d%ds -s bench/wrk_put.lua %s", threads, connections, seconds, mock.url)
    local cmd = string.format("env TOKEN=%s NONCE=%d wrk -t%d -c%d -d%ds -s bench/wrk_put.lua %s >%s 2>&1",
      U.q(token), next_nonce(), threads, connections, seconds, U.q(mock.url), U.q(out))
    local ok, t = U.timed(cmd, ctx.scratch)
    local text = U.read(out) or ""
    local r = U.tagged_json(text, "BENCH-JSON ")
    if not ok or not r then U.fail("%s failed (exit %s): %s", label, tostring(t.exit), text:sub(1, 2000)) end
    if r.non_200 > 0 or r.connect + r.read + r.write + r.timeout + r.status > 0 then
      U.fail("%s: %d non-200 answers, socket errors connect %d read %d write %d timeout %d", label,
        r.non_200, r.connect, r.read, r.write, r.timeout)
    end
    return { contender = "wrk", connections = connections, threads = threads,
             client_rps = r.requests / (r.duration_us / 1e6), client_seconds = r.duration_us / 1e6,
             client_cpu = t.cpu, client_max_rss_kb = t.max_rss_kb,
             command = "TOKEN=... NONCE=... " .. shown }
  end)
end

-- Builds a peer once per bench run into the scratch directory: `command(bin)` is the shell
-- command that writes the binary `bin`; `what` names it and its build dependencies on failure.
local function peer_binary(ctx, name, what, command)
  local bin = ctx.scratch .. "." .. name
  ctx.built = ctx.built or {}
  if ctx.built[name] then return bin end
  local ok, out = pcall(U.capture, command(bin) .. " 2>&1")
  if not ok then U.fail("building %s failed: %s", what, out) end
  ctx.built[name] = true
  return bin
end

-- The Go peer, built with Debian's Go packages (no module download).
local function go_binary(ctx)
  return peer_binary(ctx, "seedgo", "the Go peer (bench/packages has its Debian packages)", function(bin)
    return string.format("env GOCACHE=%s GO111MODULE=off GOPATH=/usr/share/gocode go build -o %s " ..
      "bench/peers/seedgo/main.go", U.q(ctx.scratch .. ".gocache"), U.q(bin))
  end)
end

-- The Go peer: `tasks` PUTs from `workers` goroutines, its limiter far above what the machine
-- can do (it has no "unlimited"); each run its own contact-id prefix, as every key is random.
function C.go(ctx, mock, workers, tasks)
  local label = string.format("Go peer (%d goroutines)", workers)
  local bin = go_binary(ctx)
  local rec = measured(mock, label, function()
    local out = ctx.scratch .. ".go"
    local shown = string.format("N=%d WORKERS=%d RATE=1000000000 BURST=%d PREFIX=go-%d- seedgo",
      tasks, workers, workers, next_nonce())
    local cmd = string.format("env CXONE_BASE_URL=%s CXONE_CLIENT_ID=demo-client CXONE_CLIENT_SECRET=demo-secret %s %s >%s 2>&1",
      U.q(mock.url), (shown:gsub(" seedgo$", "")), U.q(bin), U.q(out))
    local ok, t = U.timed(cmd, ctx.scratch)
    local text = U.read(out) or ""
    local succeeded, failed = text:match("Success: (%d+), Failed: (%d+)")
    if not ok or tonumber(succeeded) ~= tasks or tonumber(failed) ~= 0 then
      U.fail("%s failed (exit %s): %s", label, tostring(t.exit), text:sub(1, 2000))
    end
    return { contender = "go", connections = workers, client_rps = tasks / t.wall, client_seconds = t.wall,
             client_cpu = t.cpu, client_max_rss_kb = t.max_rss_kb, command = shown }
  end)
  if rec.requests ~= tasks then U.fail("%s: %d requests for %d tasks", label, rec.requests, tasks) end
  return rec
end

-- The libcurl floor, C11 with every warning an error, as src/ is built.
local function curlfloor_binary(ctx)
  return peer_binary(ctx, "curlfloor", "the libcurl floor (libcurl4-openssl-dev is in .ci/deps)", function(bin)
    return string.format("cc -std=c11 -O2 -Wall -Wextra -Werror -o %s bench/peers/curlfloor/curlfloor.c " ..
      "-lcurl -lpthread", U.q(bin))
  end)
end

-- The libcurl floor: `tasks` PUTs from `threads` threads, one easy handle each; the key carries
-- the run's nonce, as wrk's does.
function C.curlfloor(ctx, mock, threads, tasks)
  local label = string.format("libcurl floor (%d threads)", threads)
  local bin = curlfloor_binary(ctx)
  local token = mock:token()
  local rec = measured(mock, label, function()
    local out = ctx.scratch .. ".curlfloor.out"
    local shown = string.format("curlfloor %s %d %d", mock.url, tasks, threads)
    local cmd = string.format("env TOKEN=%s NONCE=%d %s %s %d %d >%s 2>&1",
      U.q(token), next_nonce(), U.q(bin), U.q(mock.url), tasks, threads, U.q(out))
    local ok, t = U.timed(cmd, ctx.scratch)
    local text = U.read(out) or ""
    local r = U.tagged_json(text, "BENCH-JSON ")
    if not ok or not r or r.ok ~= tasks then
      U.fail("%s failed (exit %s): %s", label, tostring(t.exit), text:sub(1, 2000))
    end
    return { contender = "curlfloor", connections = threads, client_rps = r.rps, client_seconds = r.elapsed,
             client_cpu = t.cpu, client_max_rss_kb = t.max_rss_kb, command = "TOKEN=... NONCE=... " .. shown }
  end)
  if rec.requests ~= tasks then U.fail("%s: %d requests for %d tasks", label, rec.requests, tasks) end
  return rec
end

-- A curl config file: one transfer per task, each a full PUT with its own key, separated by
-- `next` (options do not carry over between transfers).
local function curl_config(path, url, token, tasks)
  local f = assert(io.open(path, "wb"))
  local n = next_nonce()
  for i = 1, tasks do
    local o = OUTCOMES[i % 4 + 1]
    assert(f:write(string.format(
      'url = "%s/api/v2/contacts/contact-%07d"\nrequest = "PUT"\n' ..
      'header = "Authorization: Bearer %s"\nheader = "Accept: application/json"\n' ..
      'header = "Content-Type: application/json"\nheader = "Idempotency-Key: %08x-0000-5000-8000-%012x"\n' ..
      'user-agent = "cxone-bulk"\n' ..
      'data = "{\\"outcome\\":{\\"category\\":\\"%s\\",\\"subcategory\\":\\"%s\\"}}"\n' ..
      'output = "/dev/null"\nwrite-out = "%%{http_code}\\n"\n%s',
      url, i, token, n % 0x100000000, i, o[1], o[2], i < tasks and "next\n" or "")))
  end
  assert(f:close())
end

-- curl --parallel --parallel-max `connections`, `tasks` transfers from a config file.
function C.curl(ctx, mock, connections, tasks)
  local label = string.format("curl --parallel (%d)", connections)
  local cfg = ctx.scratch .. ".curl.cfg"
  curl_config(cfg, mock.url, mock:token(), tasks)
  local rec = measured(mock, label, function()
    local codes = ctx.scratch .. ".curl.codes"
    local cmd = string.format("curl -sS --parallel --parallel-max %d -K %s >%s 2>%s.err",
      connections, U.q(cfg), U.q(codes), U.q(codes))
    local ok, t = U.timed(cmd, ctx.scratch)
    local text = U.read(codes) or ""
    local n200, other = 0, 0
    for code in text:gmatch("[^\n]+") do
      if code == "200" then n200 = n200 + 1 else other = other + 1 end
    end
    if not ok or n200 ~= tasks or other > 0 then
      U.fail("%s failed (exit %s): %d of %d transfers answered 200; %s", label, tostring(t.exit), n200,
        tasks, (U.read(codes .. ".err") or ""):sub(1, 1000))
    end
    return { contender = "curl", connections = connections, client_rps = tasks / t.wall,
             client_seconds = t.wall, client_cpu = t.cpu, client_max_rss_kb = t.max_rss_kb,
             command = string.format("curl -sS --parallel --parallel-max %d -K FILE (%d PUTs)", connections, tasks) }
  end)
  os.remove(cfg)
  return rec
end

return C
