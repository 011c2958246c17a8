--- Live control and metrics of the background jobs: GET /jobs/{id} (the status with the rate in
-- force, pause and ETA), POST /jobs/{id}/rate and GET /metrics.
--
-- A job runs in a timer of the worker that accepted it, and its job object lives only there; a
-- request for it lands on any worker. So everything crosses through shared dicts, and only the
-- owner touches the job:
--   * status: the owner copies job:status() into the status it publishes (bulk_jobs.lua);
--   * rate: the request puts the wish under "rate:<id>" with a sequence number and waits; the
--     owner's poll loop applies it (job:set_max_rate, job:set_rate), publishes the new status and
--     acknowledges under "rateack:<id>"; the request answers with that;
--   * metrics: the owner puts job:metrics{job_id = id} into the metrics dict every second and,
--     final, when the job ends; GET /metrics merges every job's text into one exposition.
local cjson = require "cjson.safe"
local options = require "cxone.bulk.options"
local E = require "bulk_engine"

local ngx = ngx
local conf = E.conf
local fmt = string.format

local L = {}

local METRICS_EVERY = 1   -- seconds between two publications of a running job's metrics
local METRICS_STALE = 15  -- a running job's metrics not refreshed this long (its worker died) vanish
local ACK_WAIT = 3        -- seconds a rate request waits for the job's worker to apply it
local WISH_TTL = 60       -- seconds a rate wish and its acknowledgement stay in the dict

local function jobs() return E.shared(conf.dict) end

---------------------------------------------------------------------------------------------
-- Status
---------------------------------------------------------------------------------------------

-- What job:status() adds to the published status. Its counts that the handler keeps itself
-- (done, failed, cancelled, skipped, verified, total) stay the handler's, as GET /jobs/status
-- has always shown them.
local LIVE = { "rate", "max_rate", "rate_found", "adaptive", "paused_for", "remaining", "eta", "requests",
               "succeeded", "retried", "http_429", "http_5xx", "transport_errors", "pauses", "pause_seconds",
               "replayed", "token_refreshes" }

local function finite(v)
  return type(v) ~= "number" or (v == v and v ~= math.huge and v ~= -math.huge)
end

--- Copies the running job's live figures into its status `st`.
function L.refresh(st, job)
  local ok, s = pcall(job.status, job)
  if not ok or type(s) ~= "table" then return end
  for _, k in ipairs(LIVE) do
    if finite(s[k]) then st[k] = s[k] end -- JSON has no infinity
  end
end

---------------------------------------------------------------------------------------------
-- Rate: the request's side
---------------------------------------------------------------------------------------------

local RATE_FIELDS = { rate = true, max_rate = true }

-- Why `v` is no value for the rate field `name`, or nil.
local function bad_rate(name, v)
  local o = options.BY_NAME[name]
  if type(v) == "number" and v == v and v > o.min and v <= o.max then return nil end
  return fmt('"%s" must be a number %s (got %s)', name, options.describe_range(o), cjson.encode(v) or tostring(v))
end

--- The body of POST /jobs/{id}/rate: {"rate": R, "max_rate": R} (either or both). Returns the
-- wish {rate =, max_rate =} or nil and what is wrong, naming the field.
function L.parse_rate(data)
  local body, err = cjson.decode(data or "")
  if body == nil then
    return nil, "request body is not JSON (" .. tostring(err) .. '): expected {"rate": R} and/or {"max_rate": R}'
  end
  if type(body) ~= "table" or (next(body) ~= nil and #body > 0) then
    return nil, 'request body must be a JSON object: {"rate": R} and/or {"max_rate": R}'
  end
  for k in pairs(body) do
    if not RATE_FIELDS[k] then
      return nil, fmt('unknown field "%s" in the request body: only "rate" and "max_rate" are read', tostring(k))
    end
  end
  if body.rate == nil and body.max_rate == nil then return nil, 'give "rate", "max_rate" or both' end
  for _, k in ipairs { "rate", "max_rate" } do
    if body[k] ~= nil then
      local why = bad_rate(k, body[k])
      if why then return nil, why end
    end
  end
  if body.rate and body.max_rate and body.rate > body.max_rate then
    return nil, fmt('"rate" (%g) is above "max_rate" (%g)', body.rate, body.max_rate)
  end
  return { rate = body.rate, max_rate = body.max_rate }
end

-- The acknowledgement of wish `seq`, or nil while there is none.
local function ack_of(id, seq)
  local ack = cjson.decode(jobs():get("rateack:" .. id) or "null")
  if type(ack) == "table" and ack.seq == seq then return ack end
end

--- Hands the wish to the worker running job `id` and waits for it to be applied. status_of(id)
-- reads a job's status (bulk_jobs J.status). Returns the http status and the body.
function L.request_rate(id, wish, status_of)
  local st = status_of(id)
  if not st then return 404, { error = "no such job: " .. id } end
  if st.state ~= "running" and st.state ~= "queued" then
    return 409, { error = fmt("job %s is not running (%s): a rate change applies to a running job", id,
      tostring(st.state)) }
  end
  local d = jobs()
  local seq, err = d:incr("rateseq:" .. id, 1, 0)
  if not seq then return 500, { error = "cannot record the rate change: " .. tostring(err) } end
  wish.seq = seq
  local ok, serr = d:set("rate:" .. id, cjson.encode(wish), WISH_TTL)
  if not ok then return 500, { error = "cannot record the rate change: " .. tostring(serr) } end
  local t0 = ngx.now()
  repeat
    ngx.sleep(0.01) -- the owner may be this very worker: yield to its timer
    local ack = ack_of(id, seq)
    if ack then
      if not ack.ok then return 409, { error = fmt("job %s: %s", id, tostring(ack.error)) } end
      local now = status_of(id) or st
      now.applied = { rate = wish.rate, max_rate = wish.max_rate }
      return 200, now
    end
    local current = cjson.decode(d:get("rate:" .. id) or "null")
    if type(current) == "table" and current.seq ~= seq then
      return 409, { error = fmt("job %s: a later rate change replaced this one (GET /jobs/%s shows the rate in force)", id, id) }
    end
  until ngx.now() - t0 > ACK_WAIT
  st = status_of(id) or st
  return 504, { error = fmt("job %s: its worker (pid %s) did not apply the rate change within %d s (state %s)",
    id, tostring(st.worker_pid), ACK_WAIT, tostring(st.state)) }
end

---------------------------------------------------------------------------------------------
-- Rate: the owner's side
---------------------------------------------------------------------------------------------

--- Forgets any wish left for `id` by an earlier run of the same id (a new claim).
function L.forget(id)
  jobs():delete("rate:" .. id)
end

--- In the owner's poll loop: applies a new wish for job `st.id` to `job`. Returns the
-- acknowledgement to send (after the new status is published: L.acknowledge), or nil.
-- `seen` is the loop's own table (the last wish applied).
function L.apply_wish(job, st, seen)
  local raw = jobs():get("rate:" .. st.id)
  if not raw or raw == seen.raw then return nil end
  seen.raw = raw
  local w = cjson.decode(raw)
  if type(w) ~= "table" then return nil end
  -- The ceiling first: raising both needs the new ceiling before the rate, lowering both drops
  -- the rate with the ceiling and then sets it (rate <= max_rate was checked on the request).
  local ok, err = true, nil
  if w.max_rate then ok, err = job:set_max_rate(w.max_rate) end
  if ok and w.rate then ok, err = job:set_rate(w.rate) end
  ngx.log(ngx.NOTICE, "cxone job ", st.id, ": rate change ", raw, ok and " applied" or (": " .. tostring(err)))
  return { seq = w.seq, ok = ok and true or false, error = err }
end

function L.acknowledge(id, ack)
  local ok, err = jobs():set("rateack:" .. id, cjson.encode(ack), WISH_TTL)
  if not ok then ngx.log(ngx.ERR, "cxone job ", id, ": cannot acknowledge a rate change: ", err) end
end

---------------------------------------------------------------------------------------------
-- Metrics
---------------------------------------------------------------------------------------------

-- Stores the job's exposition text; `final` once it has ended (closed: its final figures).
local function store_metrics(id, job, final)
  local ok, text = pcall(job.metrics, job, { job_id = id })
  if not ok then
    ngx.log(ngx.ERR, "cxone job ", id, ": metrics: ", tostring(text))
    return
  end
  -- set may push out the least recently stored text of a finished job when the dict is full
  local set, err = E.shared(conf.metrics_dict):set(id, text, final and conf.metrics_ttl or METRICS_STALE)
  if not set then ngx.log(ngx.ERR, "cxone job ", id, ": cannot store metrics: ", err) end
end

--- In the owner's poll loop: publishes the running job's metrics at most every METRICS_EVERY s.
function L.tick_metrics(id, job, seen)
  local now = ngx.now()
  if seen.metrics_at and now - seen.metrics_at < METRICS_EVERY then return end
  seen.metrics_at = now
  store_metrics(id, job, false)
end

--- Once the job is closed: its final figures, kept metrics_ttl seconds (a scrape between two
-- runs still sees the counters).
function L.final_metrics(id, job) store_metrics(id, job, true) end

-- Adds one job's text to the families: each family keyed by its "# HELP" line; its TYPE line
-- and samples follow it, as cxone.bulk.metrics writes them.
local function add_text(text, families, order)
  local cur
  for line in text:gmatch("[^\n]+") do
    local name = line:match("^# HELP (%S+)")
    if name then
      cur = families[name]
      if not cur then
        cur = { line }
        families[name] = cur
        order[#order + 1] = name
      end
    elseif line:match("^# TYPE ") then
      if cur and #cur == 1 then cur[2] = line end -- the first job's; later ones say the same
    elseif cur then
      cur[#cur + 1] = line
    end
  end
end

--- GET /metrics: every job's text as one exposition (each family's HELP and TYPE once, the
-- samples of every job under it, told apart by their job_id label).
function L.metrics_text()
  local d = E.shared(conf.metrics_dict)
  local keys = d:get_keys(0)
  table.sort(keys)
  local families, order = {}, {}
  for i, id in ipairs(keys) do
    local text = d:get(id)
    if text then add_text(text, families, order) end
    if i % 50 == 0 then ngx.sleep(0.001) end -- many jobs: let other requests run
  end
  local out = {}
  for _, name in ipairs(order) do out[#out + 1] = table.concat(families[name], "\n") end
  if #out == 0 then return "" end
  return table.concat(out, "\n") .. "\n"
end

return L
