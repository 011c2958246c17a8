--- cxone-bulk inside nginx (Debian's libnginx-mod-http-lua, or OpenResty): two patterns.
--
--   stream_batch()  POST /batch: runs the batch in the JSON body and streams one JSON line per
--                   result back as results finish, then a summary line.
--   start_job()     POST /jobs?id=NAME: starts the batch in the background (ngx.timer.at) and
--                   answers 202 at once; each result goes to a JSONL journal file and the
--                   progress to a lua_shared_dict, which job_status() (GET /jobs/status?id=NAME)
--                   reads from any worker.
--
-- Nothing here blocks the nginx worker: the engine's own threads do the HTTP; this code only
-- calls job:poll(0), which never waits, and yields to the event loop with ngx.sleep between
-- polls. Jobs are only ever started from request handlers and timers, i.e. in worker processes:
-- a job started in init_by_lua* would live in the master and be unusable after the fork.
local bulk = require "cxone.bulk"
local cjson = require "cjson.safe"

local ngx = ngx
local M = {}

-- Set once by configure() in init_by_lua (in the master, before the fork: plain data only).
local conf = {
  opts = {},               -- engine options shared by every batch (base_url, rate, shared_limit...)
  poll_interval = 0.01,    -- seconds the worker yields between polls that returned nothing
  journal_dir = nil,       -- where background jobs write <id>.jsonl
  dict = "cxone_jobs",     -- lua_shared_dict holding background job progress
  max_jobs_per_worker = 1, -- background batches one worker runs at once
  status_ttl = 3600,       -- seconds a finished job's status stays readable
}

-- Background jobs this worker runs now (per worker: each worker has its own Lua VM).
local running = 0

local ENGINE_OPTIONS = {
  "base_url", "token_url", "rate", "burst", "workers", "shared_limit", "shared_limit_timeout",
  "shared_limit_fallback", "max_retries",
  "backoff_base", "backoff_max", "timeout", "connect_timeout", "pause_threshold", "queue_size",
  "ca_file", "allow_http", "scope", "basic_auth",
}

--- Called from init_by_lua_block. Validates the engine options now, so a bad value stops
-- `nginx -t` and startup with a clear message instead of failing the first request.
-- Credentials are not options here: they come from $CXONE_CLIENT_ID / $CXONE_CLIENT_SECRET
-- (declare both with `env` in nginx.conf), so the secret never sits in a config file.
function M.configure(c)
  assert(type(c) == "table", "bulk_handler.configure needs a table")
  for _, k in ipairs(ENGINE_OPTIONS) do
    local v = c[k]
    if v == "" then v = nil end -- template placeholders left empty mean "engine default"
    conf.opts[k] = v
  end
  for _, k in ipairs { "poll_interval", "journal_dir", "dict", "max_jobs_per_worker", "status_ttl" } do
    if c[k] ~= nil and c[k] ~= "" then conf[k] = c[k] end
  end
  local probe = { contact_id = "probe", category = "c", subcategory = "s" }
  local ok, err = pcall(bulk.describe, probe, conf.opts)
  if not ok then error("bulk_handler.configure: " .. tostring(err), 0) end
end

local function engine_opts(batch_id)
  local o = {}
  for k, v in pairs(conf.opts) do o[k] = v end
  o.batch_id = batch_id
  return o
end

local function reply(status, body)
  ngx.status = status
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(body))
  return ngx.exit(status)
end

-- Reads the request body: {"tasks": [...], "batch_id": "..."}. Returns tasks, batch_id or
-- nil, message. Tasks themselves are checked by the engine (bad ones become failed results).
local function read_batch()
  ngx.req.read_body()
  local data = ngx.req.get_body_data()
  if not data then
    local file = ngx.req.get_body_file() -- body larger than client_body_buffer_size
    if not file then return nil, "empty request body: expected {\"tasks\": [...]}" end
    local f, err = io.open(file, "rb")
    if not f then return nil, "cannot read the buffered request body: " .. tostring(err) end
    data = f:read("*a")
    f:close()
  end
  local body, err = cjson.decode(data)
  if body == nil then return nil, "request body is not JSON: " .. tostring(err) end
  if type(body) ~= "table" or type(body.tasks) ~= "table" then
    return nil, "request body must be a JSON object with a \"tasks\" array"
  end
  local batch_id = body.batch_id
  if batch_id ~= nil and type(batch_id) ~= "string" then return nil, "batch_id must be a string" end
  return body.tasks, batch_id or ""
end

---------------------------------------------------------------------------------------------
-- Pattern 1: run a batch inside the request, streaming results as they finish
---------------------------------------------------------------------------------------------

function M.stream_batch()
  if ngx.req.get_method() ~= "POST" then return reply(405, { error = "use POST" }) end
  local tasks, batch_id = read_batch()
  if not tasks then return reply(400, { error = batch_id }) end
  local ok, job = pcall(bulk.start, tasks, engine_opts(batch_id))
  if not ok then return reply(400, { error = tostring(job) }) end

  -- The client hanging up cancels the batch (needs `lua_check_client_abort on`).
  local client_gone = false
  ngx.on_abort(function()
    client_gone = true
    job:cancel("client closed the connection")
  end)

  ngx.header.content_type = "application/x-ndjson"
  ngx.header["X-Accel-Buffering"] = "no"
  local exiting = false
  while not job:done() do
    -- A graceful quit/reload waits for this request: cancel so it ends promptly.
    if not exiting and ngx.worker.exiting() then
      exiting = true
      job:cancel("nginx worker exiting")
    end
    local results = job:poll(0) -- never blocks
    if #results > 0 and not client_gone then
      local lines = {}
      for i = 1, #results do lines[i] = cjson.encode(results[i]) end
      ngx.say(table.concat(lines, "\n"))
      -- flush(true) yields until the bytes are with the kernel: the client sees results live.
      local sent = ngx.flush(true)
      if not sent then client_gone = true; job:cancel("client closed the connection") end
    end
    -- Always yield: with no results wait a little, otherwise just let other requests run
    -- (a cancelled batch drains thousands of results without any I/O to yield on).
    ngx.sleep(#results == 0 and conf.poll_interval or 0.001)
  end
  local summary = job:summary()
  -- done() means every worker thread is idle: close() only joins threads that are already
  -- returning (measured and reported as close_ms), it never waits for a transfer.
  local t0 = bulk.sys.monotime()
  job:close()
  summary.close_ms = (bulk.sys.monotime() - t0) * 1000
  summary.worker_pid = ngx.worker.pid()
  if not client_gone then
    ngx.say(cjson.encode { summary = summary })
    ngx.flush(true)
  end
end

---------------------------------------------------------------------------------------------
-- Pattern 2: a background job in a timer, progress in a shared dict, results in a journal
---------------------------------------------------------------------------------------------

local function status_dict()
  local d = ngx.shared[conf.dict]
  if not d then error("lua_shared_dict " .. conf.dict .. " is not declared in nginx.conf", 0) end
  return d
end

local function journal_path(id) return conf.journal_dir .. "/" .. id .. ".jsonl" end

local function publish(id, st, ttl)
  local ok, err = status_dict():set(id, cjson.encode(st), ttl or 0)
  if not ok then ngx.log(ngx.ERR, "cxone job ", id, ": cannot store progress: ", err) end
end

local function count(st, r)
  st.done = st.done + 1
  if r.ok then st.ok = st.ok + 1
  elseif r.cancelled then st.cancelled = st.cancelled + 1
  else st.failed = st.failed + 1 end
  if r.outcome_unknown then st.unknown = st.unknown + 1 end
end

-- Writes results as JSON lines and flushes them: a result is durable before it is counted.
local function journal_write(journal, results, st)
  local lines = {}
  for i = 1, #results do
    lines[i] = cjson.encode(results[i])
    count(st, results[i])
  end
  journal:write(table.concat(lines, "\n"), "\n")
  journal:flush()
end

-- The worker is exiting before the timer ever ran (premature): nothing was sent, so every task
-- is recorded as cancelled; the journal then still accounts for every task.
local function journal_all_cancelled(journal, tasks, st, why)
  local results = {}
  for i = 1, #tasks do
    local t = tasks[i]
    local id = type(t) == "table" and type(t.contact_id) == "string" and t.contact_id or ""
    results[i] = { index = i, contact_id = id, ok = false, cancelled = true, status = 0,
                   attempts = 0, error = "cancelled: " .. why }
  end
  if #results > 0 then journal_write(journal, results, st) end
end

local function run_background(premature, id, tasks, batch_id)
  local st = { id = id, state = "running", total = #tasks, done = 0, ok = 0, failed = 0,
               cancelled = 0, unknown = 0, worker_pid = ngx.worker.pid(), journal = journal_path(id) }
  local journal, err = io.open(journal_path(id), "a")
  if not journal then
    running = running - 1
    st.state, st.error = "failed", "cannot open journal: " .. tostring(err)
    publish(id, st, conf.status_ttl)
    ngx.log(ngx.ERR, "cxone job ", id, ": ", st.error)
    return
  end
  if premature then
    journal_all_cancelled(journal, tasks, st, "nginx worker exiting before the job started")
    journal:close()
    running = running - 1
    st.state = "cancelled"
    publish(id, st, conf.status_ttl)
    return
  end

  local ok, job = pcall(bulk.start, tasks, engine_opts(batch_id))
  if not ok then
    journal_all_cancelled(journal, tasks, st, "job not started: " .. tostring(job))
    journal:close()
    running = running - 1
    st.state, st.error = "failed", tostring(job)
    publish(id, st, conf.status_ttl)
    return
  end
  publish(id, st)

  local exiting = false
  local pcall_ok, loop_err = pcall(function()
    while not job:done() do
      if not exiting and ngx.worker.exiting() then
        -- Graceful quit or reload: stop sending; unsent tasks come back as cancelled results
        -- within a poll or two, in-flight ones as outcome-unknown once their transfer aborts.
        exiting = true
        job:cancel("nginx worker exiting")
        ngx.log(ngx.NOTICE, "cxone job ", id, ": worker exiting, cancelling")
      end
      local results = job:poll(0)
      if #results > 0 then
        journal_write(journal, results, st)
        publish(id, st)
      end
      ngx.sleep(#results == 0 and conf.poll_interval or 0.001) -- always yield to the event loop
    end
  end)
  if not pcall_ok then
    -- Only a journal write can raise here; stop sending rather than lose results silently.
    ngx.log(ngx.ERR, "cxone job ", id, ": ", tostring(loop_err))
    job:cancel("journal write failed")
    st.error = tostring(loop_err)
  end
  local summary = job:summary()
  if not job:done() then
    job:cancel()
    -- Still running only after a journal failure: drop the job without waiting; __gc
    -- releases its threads without joining them.
    job = nil
  else
    local t0 = bulk.sys.monotime()
    job:close() -- every worker thread is already idle: this only reaps them
    st.close_ms = (bulk.sys.monotime() - t0) * 1000
  end
  journal:close()
  running = running - 1
  st.state = (exiting or st.cancelled > 0) and "cancelled" or (summary.error and "failed" or "done")
  st.error = st.error or summary.error
  st.requests, st.elapsed = summary.requests, summary.elapsed
  publish(id, st, conf.status_ttl)
end

--- POST /jobs?id=NAME with {"tasks": [...]}: 202 and the status URL, 409 if NAME is taken,
-- 429 when this worker already runs max_jobs_per_worker background jobs.
function M.start_job()
  if ngx.req.get_method() ~= "POST" then return reply(405, { error = "use POST" }) end
  if not conf.journal_dir then return reply(500, { error = "journal_dir is not configured" }) end
  local id = ngx.var.arg_id
  if id == nil or id == "" then
    id = string.format("job-%d-%d", ngx.worker.pid(), ngx.now() * 1000)
  elseif #id > 64 or not id:match("^[%w_.-]+$") then
    return reply(400, { error = "id must be 1-64 characters of [A-Za-z0-9_.-]" })
  end
  if status_dict():get(id) then return reply(409, { error = "job id already used: " .. id }) end
  if running >= conf.max_jobs_per_worker then
    return reply(429, { error = "this worker already runs a background job", worker_pid = ngx.worker.pid() })
  end
  local tasks, batch_id = read_batch()
  if not tasks then return reply(400, { error = batch_id }) end
  -- The journal must be writable by this worker (its user, not the one that started nginx)
  -- before the job is accepted: a 202 followed by a failed job loses the caller's request.
  local probe, perr = io.open(journal_path(id), "a")
  if not probe then
    return reply(500, { error = "cannot write the journal: " .. tostring(perr)
      .. " (nginx workers write journal_dir as the user in the `user` directive, nobody by default)" })
  end
  probe:close()
  local st = { id = id, state = "queued", total = #tasks, done = 0, worker_pid = ngx.worker.pid() }
  local added, err = status_dict():add(id, cjson.encode(st))
  if not added then
    if err == "exists" then return reply(409, { error = "job id already used: " .. id }) end
    return reply(500, { error = "cannot record the job: " .. tostring(err) })
  end
  running = running + 1
  -- batch_id defaults to the job id: resubmitting the same job id later replays, never repeats.
  local ok, terr = ngx.timer.at(0, run_background, id, tasks, batch_id ~= "" and batch_id or id)
  if not ok then
    running = running - 1
    status_dict():delete(id)
    return reply(503, { error = "cannot start a timer: " .. tostring(terr) })
  end
  return reply(202, { id = id, status = "/jobs/status?id=" .. id, journal = journal_path(id),
                      worker_pid = ngx.worker.pid() })
end

--- GET /jobs/status?id=NAME: the job's progress as last published by the worker running it.
function M.job_status()
  local id = ngx.var.arg_id
  if not id or id == "" then return reply(400, { error = "missing ?id=" }) end
  local v = status_dict():get(id)
  if not v then return reply(404, { error = "no such job: " .. id }) end
  ngx.header.content_type = "application/json"
  ngx.say(v)
end

--- GET /ping: answers from whichever worker took the connection, with its pid.
function M.ping()
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode { pong = true, worker_pid = ngx.worker.pid(), running = running })
end

return M
