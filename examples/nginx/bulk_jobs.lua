--- Background jobs for the nginx example (POST /jobs?id=NAME, GET /jobs/status?id=NAME).
--
-- A job runs in a timer on the worker that accepted it. Its record is the library's resume
-- journal (cxone.bulk.journal), journal_dir/NAME.journal: created 0640 whatever the worker's
-- umask and locked while a run writes it. It holds, per run, a header (here also naming the job,
-- its task count and a digest of its task list), an intent record before each task's first
-- request (synced by the engine before the request leaves), a result record per task (`line`:
-- the task's position in the list) and, when the run ends, a `run_end` record with the job's
-- final status. Its progress goes to a lua_shared_dict that every worker reads.
--
-- The state is honest: a status "queued" or "running" whose worker is gone (kill -9, crash) or
-- has stopped publishing reads as "interrupted". Resubmitting the id with the same batch id and
-- the same tasks resumes it through the library's journal: an update it records as applied is
-- not sent again (skipped = "journal"); one an earlier run may have applied without knowing (in
-- flight at a kill -9, or an unknown outcome) is read back first and written only if the contact
-- does not show it yet (verified = true otherwise); the rest are sent with the same batch id.
-- Exactly once without help from the server, so for the cxone profile too. A different task
-- list under a used id is refused.
local bulk = require "cxone.bulk"
local journal_mod = require "cxone.bulk.journal"
local cjson = require "cjson.safe"
local E = require "bulk_engine"
local L = require "bulk_live"

local ngx = ngx
local conf = E.conf

local J = {}

-- A running job publishes its status at least this often; one silent for STALE seconds is not
-- running any more, whatever its worker's pid says.
local HEARTBEAT, STALE = 1, 15
local SCAN_YIELD_EVERY = 1000 -- journal lines read between yields (status after a restart)

-- Ids this worker runs now (from acceptance to the end of the timer), and those whose journal
-- this worker's claim created.
local owned, created_here = {}, {}

local function dict() return E.shared(conf.dict) end

function J.journal_path(id) return conf.journal_dir .. "/" .. id .. ".journal" end

-- The status as published: plain fields only.
local function publish(st, ttl)
  st.beat = ngx.now()
  local ok, err = dict():set(st.id, cjson.encode(st), ttl or 0)
  if not ok then ngx.log(ngx.ERR, "cxone job ", st.id, ": cannot store progress: ", err) end
end

-- Gives the event loop a turn while a long journal is read.
local function pause() ngx.sleep(0.001) end

---------------------------------------------------------------------------------------------
-- Is the job's worker still running it?
---------------------------------------------------------------------------------------------

-- true when pid is an nginx worker process (of any nginx on the host: with the heartbeat that
-- is enough to tell a live owner from a dead one).
local function is_nginx_worker(pid)
  local f = io.open("/proc/" .. string.format("%d", pid) .. "/cmdline", "rb")
  if not f then return false end
  local cmd = f:read(64) or ""
  f:close()
  return cmd:find("^nginx: worker process") ~= nil
end

--- Why the job of status `st` has no live owner, or nil while one runs it (or it has ended).
local function owner_gone(st)
  if st.state ~= "queued" and st.state ~= "running" then return nil end
  local pid = tonumber(st.worker_pid) or 0
  if pid == ngx.worker.pid() then
    if owned[st.id] then return nil end
    return "this worker no longer runs it"
  end
  if not is_nginx_worker(pid) then return "its nginx worker (pid " .. pid .. ") is gone (killed or crashed)" end
  if ngx.now() - (st.beat or 0) > STALE then
    return string.format("its nginx worker (pid %d) has not reported for %.0f s", pid, ngx.now() - (st.beat or 0))
  end
  return nil
end

-- The status of a job no worker runs any more.
local function interrupted(st, why)
  st.state = "interrupted"
  st.error = "the job stopped before it finished: " .. why .. "; resubmit POST /jobs?id=" .. st.id
    .. " with the same tasks to resume it (what its journal records as applied is not sent again, what "
    .. "may have been applied is read back first)"
  return st
end

---------------------------------------------------------------------------------------------
-- The task list's identity
---------------------------------------------------------------------------------------------

-- Deterministic text of a decoded JSON value: object keys sorted, so the same tasks give the
-- same text whatever order a client wrote the keys in.
local function canonical(v, out)
  if type(v) ~= "table" then
    out[#out + 1] = cjson.encode(v) or tostring(v)
    return
  end
  local keys = {}
  for k in pairs(v) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if type(a) ~= type(b) then return type(a) < type(b) end
    return a < b
  end)
  out[#out + 1] = "{"
  for _, k in ipairs(keys) do
    out[#out + 1] = cjson.encode(k)
    out[#out + 1] = ":"
    canonical(v[k], out)
    out[#out + 1] = ","
  end
  out[#out + 1] = "}"
end

--- "md5:<hex>" of the task list (in order). Yields every 1,000 tasks (3-6 ms of work measured):
-- a long list must not hold the worker.
function J.digest(tasks)
  local out = {}
  for i = 1, #tasks do
    canonical(tasks[i], out)
    out[#out + 1] = "\n"
    if i % 1000 == 0 then ngx.sleep(0.001) end
  end
  return "md5:" .. ngx.md5(table.concat(out))
end

---------------------------------------------------------------------------------------------
-- Accepting a job
---------------------------------------------------------------------------------------------

--- Why `id` cannot be submitted now (a live worker runs it), or nil.
function J.busy(id)
  local old = cjson.decode(dict():get(id) or "null")
  if type(old) == "table" and not owner_gone(old) and (old.state == "queued" or old.state == "running") then
    return string.format("job %s is running on nginx worker %s (%s of %s done): GET /jobs/status?id=%s",
      id, tostring(old.worker_pid), tostring(old.done), tostring(old.total), id)
  end
end

-- The first run header of the journal at path: the run table, "" for an empty journal (created
-- by a claim whose job never started), or nil when the first line is no header of this handler.
local function first_run(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local line = f:read("*l")
  f:close()
  if line == nil or line == "" then return "" end
  local h = cjson.decode(line)
  if type(h) == "table" and type(h.run) == "table" and type(h.run.tasks_digest) == "string" then return h.run end
end

--- Checks that an existing journal is this job's: same id, batch id and tasks. Returns true,
-- resumed or nil, http status, message. Reads one line: the whole journal is read by the run.
local function check_journal(id, path, batch_id, digest, n)
  local run = first_run(path)
  if run == "" then return true, false end
  if not run or run.job ~= id then
    return nil, 409, "journal " .. path .. " is not this handler's record of job " .. id
      .. " (written by an earlier version or another program?): move it away or use another id"
  end
  if run.batch_id ~= batch_id then
    return nil, 409, string.format("job id %s was used with batch_id %q; this request has batch_id %q "
      .. "(resubmit with the original batch_id to resume it, or use a new job id)", id, tostring(run.batch_id), batch_id)
  end
  if run.tasks_digest ~= digest then
    return nil, 409, string.format("job id %s was used for a different task list (%s tasks, %s); this "
      .. "request has %d tasks (%s): resubmit the original tasks to resume it, or use a new job id",
      id, tostring(run.total), run.tasks_digest, n, digest)
  end
  return true, true
end

local function claim_locked(id, tasks, batch_id, digest)
  local busy = J.busy(id)
  if busy then return nil, 409, busy end
  local path = J.journal_path(id)
  -- Created now (mode as the library creates journals), so that a journal the workers cannot
  -- write is refused before the 202.
  local created, cerr = bulk.sys.create_file(path, journal_mod.MODE)
  if created == nil then
    return nil, 500, "cannot write the journal: " .. tostring(cerr)
      .. " (nginx workers write journal_dir as the user in the `user` directive, nobody by default)"
  end
  local ok, resumed, msg = check_journal(id, path, batch_id, digest, #tasks)
  if not ok then return nil, resumed, msg end
  local st = { id = id, state = "queued", total = #tasks, done = 0, ok = 0, failed = 0, cancelled = 0,
               unknown = 0, skipped = 0, verified = 0, worker_pid = ngx.worker.pid(), journal = path,
               resumed = resumed or nil, beat = ngx.now() }
  local set, err = dict():set(id, cjson.encode(st))
  if not set then return nil, 500, "cannot record the job: " .. tostring(err) end
  owned[id] = true
  created_here[id] = created or nil
  L.forget(id) -- a rate change left for an earlier run of this id is not this run's
  return st
end

--- Claims `id` for this worker: refuses an id that a live worker runs, or whose journal is
-- another job's; otherwise records it queued. Returns the status table, or nil, http status,
-- message. Runs without yielding, under a short lock in the shared dict (two workers taking the
-- same id at once); the run's lock on the journal itself guards the rest.
function J.claim(id, tasks, batch_id, digest)
  local d = dict()
  local lock = "lock:" .. id
  local got, lerr = d:add(lock, ngx.worker.pid(), 5)
  if not got then
    if lerr == "exists" then return nil, 409, "job " .. id .. " is being submitted by another request" end
    return nil, 500, "cannot record the job: " .. tostring(lerr)
  end
  local st, status, msg = claim_locked(id, tasks, batch_id, digest)
  d:delete(lock)
  return st, status, msg
end

-- Removes the journal a claim created when nothing was written to it: the id stays free for
-- any task list.
local function forget_empty(st)
  if not created_here[st.id] then return end
  local f = io.open(st.journal, "rb")
  local size = f and f:seek("end")
  if f then f:close() end
  if size == 0 then os.remove(st.journal) end
end

--- The request could not hand the job `st` to a timer: forget the claim.
function J.unclaim(st)
  dict():delete(st.id)
  forget_empty(st)
  owned[st.id], created_here[st.id] = nil, nil
end

---------------------------------------------------------------------------------------------
-- Running a job
---------------------------------------------------------------------------------------------

-- Counts one result in the status.
local function count(st, r)
  st.done = st.done + 1
  if r.ok then st.ok = st.ok + 1
  elseif r.cancelled then st.cancelled = st.cancelled + 1
  else st.failed = st.failed + 1 end
  if r.outcome_unknown then st.unknown = st.unknown + 1 end
  if r.skipped == "journal" then st.skipped = (st.skipped or 0) + 1 end
  if r.verified then st.verified = (st.verified or 0) + 1 end
end

-- Opens the journal for this run (locked; read with yields), checks it against the operator's
-- target and writes the run's header. Returns the journal or nil, message.
local function open_journal(st, batch_id, digest)
  local j, jst = journal_mod.open(st.journal, bulk.sys, nil, pause)
  if not j then return nil, jst end
  local target = E.target()
  local run = { job = st.id, batch_id = batch_id, base_url = target.base_url, client_id = target.client_id,
                total = st.total, tasks_digest = digest }
  local diff = jst:mismatches(run)
  if #diff > 0 then
    j:close()
    return nil, ("journal %s was written with another configuration: %s; resume it with the configuration it "
      .. "was started with, or submit the tasks under a new job id"):format(st.journal, table.concat(diff, ", "))
  end
  run.started = os.date("!%Y-%m-%dT%H:%M:%SZ")
  local ok, err = pcall(j.begin, j, run)
  if not ok then
    j:close()
    return nil, err
  end
  return j
end

-- Polls until the batch is done, counting each result (the library journals it first). Applies
-- the rate changes requests leave for it, and publishes its status (with job:status()'s rate,
-- pause and ETA) and its metrics for every worker to read (bulk_live.lua).
local function run_engine(job, st)
  local exiting = false
  local seen = {} -- the last rate change applied, when the metrics were last published
  while not job:done() do
    if not exiting and ngx.worker.exiting() then
      -- Graceful quit or reload: stop sending; unsent tasks come back as cancelled results
      -- within a poll or two, in-flight ones as outcome-unknown once their transfer aborts.
      exiting = true
      job:cancel("nginx worker exiting")
      ngx.log(ngx.NOTICE, "cxone job ", st.id, ": worker exiting, cancelling")
    end
    local results = job:poll(0) -- never waits
    for i = 1, #results do count(st, results[i]) end
    local ack = L.apply_wish(job, st, seen)
    if ack or #results > 0 or ngx.now() - st.beat >= HEARTBEAT then
      L.refresh(st, job)
      publish(st)
    end
    if ack then L.acknowledge(st.id, ack) end -- after the status that shows it
    L.tick_metrics(st.id, job, seen)
    ngx.sleep(#results == 0 and conf.poll_interval or 0.001) -- always yield to the event loop
  end
  return exiting
end

-- Sends the tasks with journal j; sets the final state. Returns the API requests sent.
local function run_batch(st, j, tasks, batch_id)
  -- The task's position travels as its `line`, which the journal records with it.
  for i = 1, #tasks do
    if type(tasks[i]) == "table" then tasks[i].line = i end
  end
  st.state = "running"
  publish(st)
  local ok, job = E.start(tasks, batch_id, j)
  if not ok then
    st.state, st.error = "failed", "job not started: " .. job
    return 0
  end
  local loop_ok, exiting = pcall(run_engine, job, st)
  if not loop_ok then
    st.error = "internal error: " .. tostring(exiting)
    job:cancel(st.error)
  end
  -- Every worker thread is idle once done() (close only reaps them); after an internal error
  -- close waits for in-flight transfers to abort, as the journal stays open until then.
  L.refresh(st, job) -- the last live figures (done: nothing remains); a closed job has no rate
  local t0 = bulk.sys.monotime()
  job:close()
  st.close_ms = (bulk.sys.monotime() - t0) * 1000
  L.final_metrics(st.id, job)
  local summary = job:summary()
  st.error = st.error or summary.error
  if exiting == true or st.cancelled > 0 then st.state = "cancelled"
  elseif st.error then st.state = "failed"
  else st.state = "done" end
  st.requests, st.elapsed = summary.requests, summary.elapsed
  return summary.requests or 0
end

local function run_job(premature, st, tasks, batch_id, digest)
  if premature then
    st.state, st.error = "cancelled", "nginx worker exiting before the job started: nothing was sent"
    return forget_empty(st)
  end
  local j, err = open_journal(st, batch_id, digest)
  if not j then
    st.state, st.error = "failed", err
    return forget_empty(st)
  end
  local ok, requests = pcall(run_batch, st, j, tasks, batch_id)
  if not ok then st.state, st.error, requests = "failed", "internal error: " .. tostring(requests), nil end
  st.beat = ngx.now()
  -- requests unknown (an internal error): nil keeps this run's intents in force for the next.
  local fin, ferr = pcall(function()
    j:finish(requests, { job = st })
    j:close()
  end)
  if not fin then
    st.state, st.error = "failed", tostring(ferr)
    pcall(j.close, j)
  end
end

--- The timer: runs the claimed job `st` (see J.claim), then releases the worker's job slot.
function J.run(premature, st, tasks, batch_id, digest)
  local ok, err = xpcall(run_job, debug.traceback, premature, st, tasks, batch_id, digest)
  if not ok then st.state, st.error = "failed", "internal error: " .. tostring(err) end
  if st.error then ngx.log(ngx.ERR, "cxone job ", st.id, ": ", st.error) end
  publish(st, conf.status_ttl)
  owned[st.id], created_here[st.id] = nil, nil
  E.release("jobs")
end

---------------------------------------------------------------------------------------------
-- Status
---------------------------------------------------------------------------------------------

-- The status a journal gives when no worker has one (nginx was restarted): the final status of
-- its last run when that run ended, else the counts its records give (a task whose last record
-- is an intent was in flight: its outcome is unknown). nil when the id has no journal.
local function status_from_journal(id)
  local path = J.journal_path(id)
  local f = io.open(path, "rb")
  if not f then return nil end
  local head, ended, last, n = nil, nil, {}, 0
  for line in f:lines() do
    local r = cjson.decode(line)
    if type(r) == "table" then
      if type(r.run) == "table" then head, ended = head or r.run, nil
      elseif type(r.run_end) == "table" then ended = r.run_end
      elseif type(r.line) == "number" then last[r.line] = r end
    end
    n = n + 1
    if n % SCAN_YIELD_EVERY == 0 then pause() end
  end
  f:close()
  if type(head) ~= "table" or head.job ~= id then return nil end
  if ended and type(ended.job) == "table" then return ended.job end
  local st = { id = id, total = head.total, journal = path, done = 0, ok = 0, failed = 0, cancelled = 0,
               unknown = 0, skipped = 0, verified = 0 }
  for _, r in pairs(last) do
    if r.intent then st.unknown = st.unknown + 1 else count(st, r) end
  end
  return interrupted(st, "no nginx worker runs it (nginx was restarted)")
end

--- The status of job `id` as a table, or nil when there is no such job. A job whose worker is
-- gone reads "interrupted"; after a restart (the dict is empty) the journal answers.
function J.status(id)
  local st = cjson.decode(dict():get(id) or "null")
  if type(st) == "table" then
    local why = owner_gone(st)
    if why then
      st = interrupted(st, why)
      publish(st, conf.status_ttl)
    end
    return st
  end
  if not conf.journal_dir then return nil end
  st = status_from_journal(id)
  if st then publish(st, conf.status_ttl) end
  return st
end

return J
