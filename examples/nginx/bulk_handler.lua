--- cxone-bulk inside nginx (Debian's libnginx-mod-http-lua, or OpenResty): two patterns.
--
--   stream_batch()  POST /batch: runs the batch in the JSON body and streams one JSON line per
--                   result back as results finish, then a summary line.
--   start_job()     POST /jobs?id=NAME: starts the batch in the background (ngx.timer.at) and
--                   answers 202 at once; the library's resume journal records it (intents and
--                   results) and the progress goes to a lua_shared_dict, which job_status()
--                   (GET /jobs/status?id=NAME, GET /jobs/NAME) reads from any worker (bulk_jobs.lua).
--   job_rate()      POST /jobs/NAME/rate: a new rate for the running job, applied by its worker.
--   metrics()       GET /metrics: every job and streamed batch of every worker, one exposition
--                   (bulk_live.lua).
--
-- Every batch and job of the instance, in every worker, draws from one rate bucket
-- (bulk_engine.lua): the operator sets the rate; a request only brings tasks and a batch_id.
--
-- Nothing here blocks the nginx worker: the engine's own threads do the HTTP; this code only
-- calls job:poll(0), which never waits, and yields to the event loop with ngx.sleep between
-- polls. Jobs are only ever started from request handlers and timers, i.e. in worker processes:
-- a job started in init_by_lua* would live in the master and be unusable after the fork.
local bulk = require "cxone.bulk"
local cjson = require "cjson.safe"
local E = require "bulk_engine"
local J = require "bulk_jobs"
local L = require "bulk_live"

local ngx = ngx
local conf = E.conf
local M = {}

M.configure = E.configure

local function reply(status, body)
  ngx.status = status
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode(body))
  return ngx.exit(status)
end

-- Frees the request's slot, then answers.
local function refuse(status, message)
  E.release_request()
  return reply(status, { error = message })
end

--- log_by_lua of /batch and /jobs: a request that ended without handing its slot on (the client
-- hung up mid-upload, an error) gives it back here.
M.release = E.release_request

local BODY_FIELDS = { tasks = true, batch_id = true }

-- true when t is a JSON array (cjson decodes [] and {} alike to an empty table).
local function is_array(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  return n == #t
end

-- The request body as text, or nil and why not (`expected`: what it should hold).
local function read_body(expected)
  ngx.req.read_body()
  local data = ngx.req.get_body_data()
  if not data then
    local file = ngx.req.get_body_file() -- body larger than client_body_buffer_size
    if not file then return nil, "empty request body: expected " .. expected end
    local f, err = io.open(file, "rb")
    if not f then return nil, "cannot read the buffered request body: " .. tostring(err) end
    data = f:read("*a")
    f:close()
  end
  return data
end

-- Reads the request body: {"tasks": [...], "batch_id": "..."}. Returns tasks, batch_id or
-- nil, message. Tasks themselves are checked by the engine (bad ones become failed results).
-- Any other field is refused: engine options (rate, burst, shared_limit, workers...) are the
-- operator's, never a request's.
local function read_batch()
  local data, rerr = read_body('{"tasks": [...]}')
  if not data then return nil, rerr end
  local body, err = cjson.decode(data)
  if body == nil then return nil, "request body is not JSON: " .. tostring(err) end
  if type(body) ~= "table" or type(body.tasks) ~= "table" or not is_array(body.tasks) then
    return nil, "request body must be a JSON object with a \"tasks\" array"
  end
  for k in pairs(body) do
    if not BODY_FIELDS[k] then
      return nil, string.format("unknown field %q in the request body: only \"tasks\" and \"batch_id\" are "
        .. "read (the rate, burst, workers and rate bucket are the server's configuration)", tostring(k))
    end
  end
  local batch_id = body.batch_id
  if batch_id ~= nil and type(batch_id) ~= "string" then return nil, "batch_id must be a string" end
  return body.tasks, batch_id or ""
end

---------------------------------------------------------------------------------------------
-- Pattern 1: run a batch inside the request, streaming results as they finish
---------------------------------------------------------------------------------------------

-- Polls until the batch is done, writing each result as a JSON line; its metrics go to GET
-- /metrics under job_id = key like a background job's. Returns whether the client is still there.
local function stream(job, key)
  -- The client hanging up cancels the batch (needs `lua_check_client_abort on`).
  local client_gone = false
  ngx.on_abort(function()
    client_gone = true
    job:cancel("client closed the connection")
  end)
  local exiting, seen = false, {}
  while not job:done() do
    L.tick_metrics(key, job, seen)
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
  return not client_gone
end

function M.stream_batch()
  if ngx.req.get_method() ~= "POST" then return reply(405, { error = "use POST" }) end
  -- The slot is taken before the body is read (reading yields): see E.reserve.
  if not E.reserve("batches") then
    return reply(429, { error = "this worker already runs " .. conf.max_batches_per_worker .. " batches",
                        worker_pid = ngx.worker.pid() })
  end
  local tasks, batch_id = read_batch()
  if not tasks then return refuse(400, batch_id) end
  local ok, job = E.start(tasks, batch_id)
  if not ok then return refuse(500, "cannot start the batch: " .. job) end

  ngx.header.content_type = "application/x-ndjson"
  ngx.header["X-Accel-Buffering"] = "no"
  -- The batch's name in GET /metrics: "batch:" + its batch_id (if given) + this request's id.
  local key = "batch:" .. (batch_id ~= "" and batch_id .. ":" or "") .. ngx.var.request_id
  local client_there = stream(job, key)
  local summary = job:summary()
  -- done() means every worker thread is idle: close() only joins threads that are already
  -- returning (measured and reported as close_ms), it never waits for a transfer.
  local t0 = bulk.sys.monotime()
  job:close()
  L.final_metrics(key, job)
  E.release_request()
  summary.close_ms = (bulk.sys.monotime() - t0) * 1000
  summary.worker_pid = ngx.worker.pid()
  if client_there then
    ngx.say(cjson.encode { summary = summary })
    ngx.flush(true)
  end
end

---------------------------------------------------------------------------------------------
-- Pattern 2: a background job in a timer, progress in a shared dict, results in a journal
---------------------------------------------------------------------------------------------

--- POST /jobs?id=NAME with {"tasks": [...]}: 202 and the status URL; 409 if NAME runs now or
-- was used for other tasks; 429 when this worker already runs max_jobs_per_worker jobs.
-- The same NAME with the same tasks (and batch_id) after the job ended or its worker died
-- resumes it from its journal.
function M.start_job()
  if ngx.req.get_method() ~= "POST" then return reply(405, { error = "use POST" }) end
  if not conf.journal_dir then return reply(500, { error = "journal_dir is not configured" }) end
  local id = ngx.var.arg_id
  if id == nil or id == "" then
    id = string.format("job-%d-%d", ngx.worker.pid(), ngx.now() * 1000)
  elseif #id > 64 or not id:match("^[%w_.-]+$") then
    return reply(400, { error = "id must be 1-64 characters of [A-Za-z0-9_.-]" })
  end
  local busy = J.busy(id) -- checked again once the body is in
  if busy then return reply(409, { error = busy }) end
  if not E.reserve("jobs") then
    return reply(429, { error = "this worker already runs a background job", worker_pid = ngx.worker.pid() })
  end
  local tasks, batch_id = read_batch()
  if not tasks then return refuse(400, batch_id) end
  -- batch_id defaults to the job id: resubmitting the job sends the same Idempotency-Keys.
  if batch_id == "" then batch_id = id end
  local digest = J.digest(tasks)
  local st, status, err = J.claim(id, tasks, batch_id, digest)
  if not st then return refuse(status, err) end
  local ok, terr = ngx.timer.at(0, J.run, st, tasks, batch_id, digest)
  if not ok then
    J.unclaim(st)
    return refuse(503, "cannot start a timer: " .. tostring(terr))
  end
  E.handover() -- the timer releases the slot when the job ends
  return reply(202, { id = id, status = "/jobs/status?id=" .. id, journal = st.journal,
                      worker_pid = ngx.worker.pid(), resumed = st.resumed or false })
end

local function bad_id(id)
  if not id or id == "" or #id > 64 or not id:match("^[%w_.-]+$") then
    return "id must be 1-64 characters of [A-Za-z0-9_.-] (got " .. (cjson.encode(id or "") or "?") .. ")"
  end
end

-- The job's progress as last published by the worker running it ("interrupted" when that
-- worker is gone): the handler's counts, state and worker, and job:status()'s rate, pause, ETA.
local function answer_status(id)
  local bad = bad_id(id)
  if bad then return reply(400, { error = bad }) end
  local st = J.status(id)
  if not st then return reply(404, { error = "no such job: " .. id }) end
  return reply(200, st)
end

--- GET /jobs/status?id=NAME
function M.job_status()
  if not ngx.var.arg_id or ngx.var.arg_id == "" then return reply(400, { error = "missing ?id=" }) end
  return answer_status(ngx.var.arg_id)
end

--- GET /jobs/NAME: the same as /jobs/status?id=NAME.
function M.job(id)
  local method = ngx.req.get_method()
  if method ~= "GET" and method ~= "HEAD" then return reply(405, { error = "use GET" }) end
  return answer_status(id)
end

--- POST /jobs/NAME/rate with {"rate": R} and/or {"max_rate": R}: the worker running the job
-- applies it (job:set_max_rate, then job:set_rate) to the one bucket every batch and job of the
-- instance draws from. 200 with the job's new status; 400 for a bad body (naming the field),
-- 404 for an unknown job, 409 when the job is not running or the library refuses the change.
function M.job_rate(id)
  if ngx.req.get_method() ~= "POST" then return reply(405, { error = "use POST" }) end
  local bad = bad_id(id)
  if bad then return reply(400, { error = bad }) end
  local data, err = read_body('{"rate": R} and/or {"max_rate": R}')
  if not data then return reply(400, { error = err }) end
  local wish, why = L.parse_rate(data)
  if not wish then return reply(400, { error = why }) end
  return reply(L.request_rate(id, wish, J.status))
end

--- GET /metrics: every background job and streamed batch of every worker (running; finished
-- ones for metrics_ttl seconds) in the Prometheus text format, each sample labelled job_id.
function M.metrics()
  local text = L.metrics_text()
  ngx.header.content_type = "text/plain; version=0.0.4; charset=utf-8"
  ngx.print(text)
end

--- GET /ping: answers from whichever worker took the connection, with its pid, what it runs and
-- the rate bucket every batch draws from.
function M.ping()
  ngx.header.content_type = "application/json"
  ngx.say(cjson.encode { pong = true, worker_pid = ngx.worker.pid(), running = E.running.jobs,
                         batches = E.running.batches, shared_limit = E.limit_label() })
end

return M
