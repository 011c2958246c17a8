--- cxone.bulk.job: a job's life cycle — how it is made (the C core, the journal, the safety
-- part), its poll loop and results, its summary, errors, metrics and close. Taking tasks is in
-- cxone.bulk.job_intake, the metadata validate_outcomes fetches in cxone.bulk.job_meta.
local core = require "cxone.bulk.core"
local options = require "cxone.bulk.options"
local errors = require "cxone.bulk.errors"
local job_safety = require "cxone.bulk.job_safety"
local live = require "cxone.bulk.live"
local profiles = require "cxone.bulk.profiles"
local Job = require "cxone.bulk.job_class"
require "cxone.bulk.job_intake"
require "cxone.bulk.job_meta"

local M = { Job = Job }

local monotime = core.sys.monotime
local new_error = errors.new
local tostring, ipairs, pcall, error = tostring, ipairs, pcall, error



-- The options the C core receives (complete and checked: it keeps no defaults of its own).
local function core_config(o)
  local c = {}
  for _, decl in ipairs(options.LIST) do
    if decl.core then c[decl.name] = o[decl.name] end
  end
  c.api = profiles.get(o.api).core -- the core knows request shapes, not profile names
  live.core_config(o, c)
  return c
end

-- A job's input side is in one of these states:
--   "open"      tasks may still come (from the iterator, or pushed with job:submit)
--   "draining"  an iterator is not read any further (cancel, deadline, a failing on_result):
--               the input closes at the next feed; an array is never drained, so each of its
--               tasks still comes back (cancelled) as its one result
--   "closed"    no more tasks: the core was told (close_input); results may still be pending
-- The deadline fires once (deadline_at is then cleared).
-- Independently, `gate` is "outcomes" while tasks wait for the outcome hierarchy
-- (validate_outcomes) and "open" otherwise, and `fatal` holds a whole-batch error once one
-- stopped the job. Every task the job took yields exactly one result, whatever happens.
local function new_job(o, iter, is_array, size)
  if o.insecure then
    io.stderr:write("cxone.bulk: WARNING: TLS certificate verification is disabled (insecure = true)\n")
  end
  local self = setmetatable({
    _o = o, _returned = 0, _gate = "open", _started = monotime(),
    -- The input side: the iterator (nil in push mode), its state (above), tasks taken so far, how
    -- many there are when known (an array), and the one task the engine could not take yet
    -- ({task=, index=, p=}).
    _in = { iter = iter, is_array = is_array, state = "open", n = 0, size = size, held = nil },
  }, Job)
  if o.deadline then self._deadline_at = self._started + o.deadline end
  local cfg = core_config(o)
  cfg.url_prefix = o.base_url and (o.base_url .. "/api/v2/contacts/") or ""
  local c, err, kind = core.new_job(cfg)
  if not c then error(new_error(kind, err), 0) end
  self._c = c
  self._local = {} -- results settled here, without the engine (journal skips), not yet returned
  self._safe = job_safety.new(o, self, new_error) -- plan reads, before-images, canary, auto-halt
  if o.journal then
    -- Loaded only for journaled jobs: compiling the journal modules is a cost the others skip.
    local job_journal = require "cxone.bulk.job_journal"
    local ok, jj = pcall(job_journal.open, o, c, core.sys, function(k, msg) error(new_error(k, msg), 0) end,
      function(k, msg) self:_abort(new_error(k, msg)) end)
    if not ok then
      c:close()
      error(jj, 0)
    end
    self._jj = jj
  end
  -- Outcome names checked against the hierarchy (validate_outcomes) and the cxone profile's
  -- bodies take the general path.
  self._p = profiles.get(o.api)
  self._plain = self._p.core == "tutorial" and not o.validate_outcomes and not o.journal
  if self._p.metadata == "skills" then
    self._skills = {} -- validate_outcomes: skill -> its dispositions, fetched at first use
  elseif o.validate_outcomes then
    -- Tasks wait until the hierarchy has arrived (same token, same limiter, one request).
    self._gate = "outcomes"
    self._c:fetch(o.base_url .. "/api/v2/contact/outcomes")
  end
  return self
end
M.new = new_job

function Job:_dispatch_events()
  local on_event = self._o.on_event
  local events = self._c:events()
  if on_event then
    for i = 1, #events do on_event(events[i]) end
  end
end

-- A whole-batch error found on this side (e: an Error: the outcome hierarchy could not be
-- fetched, the journal could not be written): nothing more is sent. Every task already taken,
-- and every task of an array, comes back cancelled naming the error; an iterator is not read
-- further.
-- halt: what is in flight finishes (a stop decided by the batch's own results: the auto-halt, a
-- canary); otherwise in-flight transfers are aborted too.
function Job:_abort(e, reason, halt)
  self._fatal = self._fatal or e
  self._gate = "open"
  if halt then self._c:halt(reason or e.message) else self._c:cancel(reason or e.message) end
  self:_drain()
end

-- A fatal error raised in the core (bad credentials, missing scope) stops reading an iterator.
function Job:_check_fatal(results)
  if self._fatal then return end
  for i = 1, #results do
    if results[i].cancelled then
      local _, fatal, kind = self._c:counters()
      if fatal then
        self._fatal = new_error(kind, fatal)
        self:_drain()
      end
      return
    end
  end
end

-- opts.deadline: past it, nothing new is sent and the remaining tasks come back cancelled.
function Job:_check_deadline()
  local at = self._deadline_at
  if at and monotime() >= at then
    self._deadline_at = nil
    self._c:cancel(string.format("deadline of %g s passed", self._o.deadline))
    self:_drain()
  end
end

--- Returns the results finished so far (an array, possibly empty), waiting up to max_wait
-- seconds (math.huge: until one arrives or the job is done) for at least one. poll(0) never
-- blocks. Callbacks run here, on the caller's thread.
function Job:poll(max_wait)
  if not self._c then error("cxone.bulk: job is closed", 2) end
  max_wait = max_wait or 0
  if type(max_wait) ~= "number" or not (max_wait >= 0) then -- luacheck: ignore 581 (NaN must fail)
    error("cxone.bulk: poll(max_wait) needs a number >= 0", 2)
  end
  local deadline = monotime() + max_wait
  local c = self._c
  self._safe:check_canary() -- before feeding: the caller has handled every canary result
  while true do
    self:_check_deadline()
    self:_feed()
    local until_ = deadline
    if self._deadline_at and self._deadline_at < until_ then until_ = self._deadline_at end
    local ready = self._safe:canary_ready()
    local left = (self._local[1] or ready) and 0 or until_ - monotime()
    local results = c:take(left > 0 and left or 0)
    self:_dispatch_events()
    if self._gate == "outcomes" then self:_take_fetched() end
    -- (the checks are inline: a poll that returns one result must stay cheap)
    if self._local[1] then self:_take_local(results) end
    if results[1] then
      self._safe:results(results) -- may halt the batch
      self._returned = self._returned + #results
      self:_check_fatal(results)
      if self._jj then self:_journal_results(results) end
      if self._o.on_result then self:_deliver(results) end
      return results
    end
    if self:done() or ready or monotime() >= deadline then return results end
    -- Push mode with an open input and nothing in flight: nothing can arrive, do not spin.
    if not self._in.iter and self._in.state == "open" and self._gate == "open" and self._in.n == self._returned then
      return results
    end
  end
end

-- Moves the results settled without the engine (journal skips) into results.
function Job:_take_local(results)
  local l = self._local
  for i = 1, #l do results[#results + 1] = l[i] end
  self._local_done = (self._local_done or 0) + #l
  self._local = {}
end

-- The journal records each result before the caller sees it (it is what a rerun trusts).
function Job:_journal_results(results)
  local jj = self._jj
  for i = 1, #results do jj:result(results[i]) end
  jj:tick()
end

-- on_result for each result: one protected call for the whole batch, not one per result. A
-- raising callback cancels the job and its error reaches the caller.
function Job:_deliver(results)
  local on_result = self._o.on_result
  local ok, err = pcall(function()
    for i = 1, #results do on_result(results[i]) end
  end)
  if not ok then
    self._c:cancel()
    self:_drain()
    error(err, 0)
  end
end

--- True once the input is closed and every task's result has been returned by poll.
function Job:done()
  if not self._c then return true end
  return self._in.state == "closed" and #self._local == 0 and self._c:finished()
end

--- Cancels at once: nothing new is sent, in-flight transfers abort. Never blocks.
function Job:cancel(reason)
  if self._c then
    self._c:cancel(reason)
    self:_drain()
  end
end

-- The whole-batch error (an Error), if one stopped the job.
function Job:_error()
  if self._fatal then return self._fatal end
  local _, fatal, kind = self._c:counters()
  if fatal then return new_error(kind, fatal) end
end

--- Live counters: totals, by status, retries, pauses, token refreshes; `error` and `error_kind`
-- when a whole-batch error stopped the job.
function Job:summary()
  if not self._c then return self._closed.summary end
  local s = self._c:counters()
  local n = self._local_done or 0 -- settled by the journal: taken, succeeded, skipped
  s.total, s.succeeded, s.skipped = s.total + n, s.succeeded + n, s.skipped + n
  s.elapsed = monotime() - self._started
  live.summary(self, s)
  local e = self:_error()
  if e then s.error, s.error_kind = e.message, e.kind end
  return self._safe:summarize(s)
end

--- The whole-batch error that stopped the job (bad credentials, missing scope, the API out of
-- reach, a failing task iterator): message and kind, or nil.
function Job:error()
  if self._c then
    local e = self:_error()
    if e then return e.message, e.kind end
    return nil
  end
  local f = self._closed and self._closed.summary
  if f and f.error then return f.error, f.error_kind end
end

-- What job:metrics() renders (cxone.bulk.metrics).
function Job:_metrics_data()
  local status
  if type(self.status) == "function" then -- the live state, where the job offers it
    local ok, st = pcall(self.status, self)
    if ok and type(st) == "table" then status = st end
  end
  return { core = self._c and self._c:metrics() or self._closed.metrics, summary = self:summary(),
    status = status, rate = self._o.rate, skipped_locally = self._local_done }
end

--- The job's metrics in the Prometheus text exposition format (docs/api.md "Prometheus
-- metrics"); labels (optional) are put on every sample. After close: the final figures.
function Job:metrics(labels)
  return require("cxone.bulk.metrics").render(self:_metrics_data(), labels) -- loaded when first used
end

--- Cancels and waits for the workers (bounded by the transfer abort time), then closes a
-- journal the job opened. Idempotent.
function Job:close()
  if not self._c then return end
  local c = self._c
  local final = self:summary()
  local metrics = c:metrics()
  self._c = nil
  c:close()
  if self._jj then
    local ok, err = pcall(self._jj.close, self._jj, final.requests)
    if not ok and not final.error then final.error, final.error_kind = tostring(err), "output" end
  end
  self._closed = { summary = final, metrics = metrics } -- what summary() and metrics() answer now
end
Job.__close = Job.close
live.extend(Job) -- set_rate, set_max_rate, status
function Job:__tostring() return "cxone.bulk.job: " .. tostring(self._c or "closed") end

return M
