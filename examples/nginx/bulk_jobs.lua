--- Background jobs for the nginx example (POST /jobs?id=NAME, GET /jobs/status?id=NAME).
--
-- A job runs in a timer on the worker that accepted it. Its journal, journal_dir/NAME.jsonl
-- (created 0640 whatever the worker's umask), holds a header line naming the job, its batch id
-- and a digest of its task list, then one JSON line per result as it finishes, and a
-- {"job_end": status} line when a run of it ends. Its progress goes to a lua_shared_dict that
-- every worker reads.
--
-- The state is honest: a status "queued" or "running" whose worker is gone (kill -9, crash) or
-- has stopped publishing reads as "interrupted". Resubmitting the id with the same batch id and
-- the same tasks resumes it: tasks whose last journaled result is a success are not sent again,
-- the others are sent with the same batch id (so the same Idempotency-Keys: the tutorial API
-- replays what was applied). A different task list under a used id is refused.
local bulk = require "cxone.bulk"
local cjson = require "cjson.safe"
local E = require "bulk_engine"

local ngx = ngx
local conf = E.conf

local J = {}

J.JOURNAL_MODE = "0640"
-- A running job publishes its status at least this often; one silent for STALE seconds is not
-- running any more, whatever its worker's pid says.
local HEARTBEAT, STALE = 1, 15
local SCAN_YIELD_EVERY = 1000 -- journal lines read between yields when resuming

-- Ids this worker runs now (from acceptance to the end of the timer).
local owned = {}

local function dict()
  local d = ngx.shared[conf.dict]
  if not d then error("lua_shared_dict " .. conf.dict .. " is not declared in nginx.conf", 0) end
  return d
end

function J.journal_path(id) return conf.journal_dir .. "/" .. id .. ".jsonl" end

local function publish(st, ttl)
  st.beat = ngx.now()
  local ok, err = dict():set(st.id, cjson.encode(st), ttl or 0)
  if not ok then ngx.log(ngx.ERR, "cxone job ", st.id, ": cannot store progress: ", err) end
end

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
    .. " with the same tasks to resume it (what its journal records as applied is not sent again)"
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
-- The journal
---------------------------------------------------------------------------------------------

local function read_header(path)
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read the journal: " .. tostring(err) end
  local line = f:read("*l")
  f:close()
  local h = line and cjson.decode(line)
  if type(h) ~= "table" or type(h.job) ~= "string" then
    return nil, "journal " .. path .. " has no job header (written by an earlier version of this "
      .. "handler?): move it away or use another id"
  end
  return h
end

-- The last complete line of the file (its final status, when a run ended).
local function read_last_line(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local size = f:seek("end")
  f:seek("set", math.max(0, size - 65536))
  local tail = f:read("*a") or ""
  f:close()
  return tail:match("([^\n]+)\n$")
end

--- Creates the journal (mode 0640) with its header, or checks that an existing one is this
-- job's: same batch id, same tasks. Returns true, resumed or nil, http status, message.
local function open_journal(id, tasks, batch_id, digest)
  local path = J.journal_path(id)
  local created, err = bulk.sys.create_file(path, J.JOURNAL_MODE)
  if created == nil then
    return nil, 500, "cannot write the journal: " .. tostring(err)
      .. " (nginx workers write journal_dir as the user in the `user` directive, nobody by default)"
  end
  if created then
    local f, oerr = io.open(path, "a")
    local ok = f and f:write(cjson.encode { job = id, batch_id = batch_id, total = #tasks,
      tasks_digest = digest, created = ngx.time() }, "\n") and f:close()
    if not ok then
      os.remove(path)
      return nil, 500, "cannot write the journal: " .. tostring(oerr or path)
    end
    return true, false
  end
  local h, herr = read_header(path)
  if not h then return nil, 409, herr end
  if h.batch_id ~= batch_id then
    return nil, 409, string.format("job id %s was used with batch_id %q; this request has batch_id %q "
      .. "(resubmit with the original batch_id to resume it, or use a new job id)", id, tostring(h.batch_id), batch_id)
  end
  if h.tasks_digest ~= digest then
    return nil, 409, string.format("job id %s was used for a different task list (%s tasks, %s); this "
      .. "request has %d tasks (%s): resubmit the original tasks to resume it, or use a new job id",
      id, tostring(h.total), tostring(h.tasks_digest), #tasks, digest)
  end
  return true, true
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

local function claim_locked(id, tasks, batch_id, digest)
  local busy = J.busy(id)
  if busy then return nil, 409, busy end
  local ok, resumed, msg = open_journal(id, tasks, batch_id, digest)
  if not ok then return nil, resumed, msg end
  local st = { id = id, state = "queued", total = #tasks, done = 0, ok = 0, failed = 0, cancelled = 0,
               unknown = 0, worker_pid = ngx.worker.pid(), journal = J.journal_path(id),
               resumed = resumed or nil, beat = ngx.now() }
  local set, err = dict():set(id, cjson.encode(st))
  if not set then return nil, 500, "cannot record the job: " .. tostring(err) end
  owned[id] = true
  return st
end

--- Claims `id` for this worker: refuses an id that a live worker runs, or whose journal is
-- another job's; otherwise records it queued. Returns the status table, or nil, http status,
-- message. Runs without yielding, under a short lock in the shared dict (two workers taking the
-- same id at once).
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

--- The request could not hand the job `st` to a timer: forget the claim, and the journal if
-- this request created it (nothing ran: the id stays free for any task list).
function J.unclaim(st)
  owned[st.id] = nil
  dict():delete(st.id)
  if not st.resumed then os.remove(st.journal) end
end

---------------------------------------------------------------------------------------------
-- Running a job
---------------------------------------------------------------------------------------------

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
  assert(journal:write(table.concat(lines, "\n"), "\n"))
  assert(journal:flush())
end

-- One cancelled result for each task not sent (the worker exits before the job started, or the
-- engine refused to start): the journal still accounts for every task.
local function journal_all_cancelled(journal, tasks, map, st, why)
  local results = {}
  for i = 1, #tasks do
    local t = tasks[i]
    local id = type(t) == "table" and type(t.contact_id) == "string" and t.contact_id or ""
    results[i] = { index = map[i], contact_id = id, ok = false, cancelled = true, status = 0,
                   attempts = 0, error = "cancelled: " .. why }
  end
  if #results > 0 then journal_write(journal, results, st) end
end

-- true when the file is empty or ends with a newline.
local function ends_with_newline(path)
  local f = io.open(path, "rb")
  if not f then return true end
  local size = f:seek("end")
  local c = "\n"
  if size > 0 then
    f:seek("end", -1)
    c = f:read(1)
  end
  f:close()
  return c == "\n"
end

-- Resuming: the indexes whose last journaled result is a success, read line by line with a yield
-- every SCAN_YIELD_EVERY lines (none in a premature timer: the worker is exiting). Also ends a
-- line a killed worker left unfinished, so the next record starts on a line of its own.
local function scan_applied(journal, path, st, can_yield)
  local last = {}
  local n = 0
  for line in io.lines(path) do
    local r = cjson.decode(line)
    if type(r) == "table" and type(r.index) == "number" then last[r.index] = r.ok == true end
    n = n + 1
    if can_yield and n % SCAN_YIELD_EVERY == 0 then
      ngx.sleep(0.001)
      if ngx.now() - st.beat >= HEARTBEAT then publish(st) end
    end
  end
  if not ends_with_newline(path) then assert(journal:write("\n")) end
  return last
end

-- The tasks still to send, with their journal indexes; counts the skipped ones as done and ok.
local function remaining(tasks, applied, st)
  local todo, map = {}, {}
  for i = 1, #tasks do
    if applied and applied[i] then
      st.done, st.ok, st.skipped = st.done + 1, st.ok + 1, (st.skipped or 0) + 1
    else
      todo[#todo + 1] = tasks[i]
      map[#todo] = i
    end
  end
  return todo, map
end

-- Polls until the batch is done, journaling each result under its index in the whole list.
local function run_engine(job, journal, map, st)
  local exiting = false
  while not job:done() do
    if not exiting and ngx.worker.exiting() then
      -- Graceful quit or reload: stop sending; unsent tasks come back as cancelled results
      -- within a poll or two, in-flight ones as outcome-unknown once their transfer aborts.
      exiting = true
      job:cancel("nginx worker exiting")
      ngx.log(ngx.NOTICE, "cxone job ", st.id, ": worker exiting, cancelling")
    end
    local results = job:poll(0) -- never waits
    if #results > 0 then
      for i = 1, #results do results[i].index = map[results[i].index] end
      journal_write(journal, results, st)
    end
    if #results > 0 or ngx.now() - st.beat >= HEARTBEAT then publish(st) end
    ngx.sleep(#results == 0 and conf.poll_interval or 0.001) -- always yield to the event loop
  end
  return exiting
end

-- Sends `todo` (journal indexes in `map`) and journals every result; sets the final state.
local function run_batch(st, journal, todo, map, batch_id)
  st.state = "running"
  publish(st)
  local ok, job = E.start(todo, batch_id)
  if not ok then
    journal_all_cancelled(journal, todo, map, st, "job not started: " .. job)
    st.state, st.error = "failed", job
    return
  end
  local loop_ok, exiting = pcall(run_engine, job, journal, map, st)
  if not loop_ok then
    -- Only a journal write can raise here; stop sending rather than lose results silently.
    job:cancel("journal write failed")
    st.error = tostring(exiting)
  end
  local summary = job:summary()
  if job:done() then
    local t0 = bulk.sys.monotime()
    job:close() -- every worker thread is already idle: this only reaps them
    st.close_ms = (bulk.sys.monotime() - t0) * 1000
  end -- else (a journal failure) __gc releases its threads without joining them
  st.error = st.error or summary.error
  if exiting == true or st.cancelled > 0 then st.state = "cancelled"
  elseif st.error then st.state = "failed"
  else st.state = "done" end
  st.requests, st.elapsed = summary.requests, summary.elapsed
end

local function run_job(premature, st, tasks, batch_id)
  local journal, err = io.open(st.journal, "a")
  if not journal then
    st.state, st.error = "failed", "cannot open journal: " .. tostring(err)
    return
  end
  local applied = st.resumed and scan_applied(journal, st.journal, st, not premature)
  local todo, map = remaining(tasks, applied, st)
  if premature then
    journal_all_cancelled(journal, todo, map, st, "nginx worker exiting before the job started")
    st.state = "cancelled"
  elseif #todo == 0 then
    st.state = "done"
  else
    run_batch(st, journal, todo, map, batch_id)
  end
  assert(journal:write(cjson.encode { job_end = st }, "\n"))
  assert(journal:close())
end

--- The timer: runs the claimed job `st` (see J.claim), then releases the worker's job slot.
function J.run(premature, st, tasks, batch_id)
  local ok, err = xpcall(run_job, debug.traceback, premature, st, tasks, batch_id)
  if not ok then
    st.state, st.error = "failed", "internal error: " .. tostring(err)
    ngx.log(ngx.ERR, "cxone job ", st.id, ": ", st.error)
  end
  if st.error then ngx.log(ngx.ERR, "cxone job ", st.id, ": ", st.error) end
  publish(st, conf.status_ttl)
  owned[st.id] = nil
  E.release("jobs")
end

---------------------------------------------------------------------------------------------
-- Status
---------------------------------------------------------------------------------------------

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
  local h = read_header(J.journal_path(id))
  if not h then return nil end
  local last = cjson.decode(read_last_line(J.journal_path(id)) or "null")
  if type(last) == "table" and type(last.job_end) == "table" then return last.job_end end
  return interrupted({ id = id, total = h.total, journal = J.journal_path(id) },
    "no nginx worker runs it (nginx was restarted)")
end

return J
