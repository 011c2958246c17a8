--- The part of a job that catches a bad batch before it does harm (docs/api.md "Plan,
-- before-images, canary and auto-halt"): which reads a task asks the engine for, what comes
-- back from them, the canary gate, and the auto-halt. It belongs to the Job of cxone.bulk
-- (bulk.lua calls it at a handful of points and it calls the Job's own _abort/_drain and sets
-- its gate), and keeps bulk.lua to the job's life cycle.
--
-- The reads are the engine's (src/engine/attempt.c): a task with read_only is read and never written
-- (a plan), keep_before keeps what the first read showed (the before-image), skip_unchanged lets
-- a first read that already shows the wanted value settle the task without a write. Each read is
-- a request of its own: it takes its own limiter slot right before it is sent, with the usual
-- retries.
local halt = require "cxone.bulk.halt"
-- cxone.bulk.plan (before/after values) is loaded by the jobs that read: most never do.
local plan = setmetatable({}, { __index = function(t, k)
  local m = require "cxone.bulk.plan"
  setmetatable(t, { __index = m })
  return m[k]
end })

local M = {}

local Safety = {}
Safety.__index = Safety

-- Options that make no sense in a plan, which writes nothing.
local NOT_IN_PLAN = { "journal", "before_images", "skip_unchanged", "canary" }

--- Checks the options of this part (o: resolved options); opt_error raises naming the problem.
function M.check_opts(o, opt_error)
  if o.plan then
    for _, name in ipairs(NOT_IN_PLAN) do
      if o[name] then
        opt_error(("option '%s' cannot be used with plan = true (a plan reads and writes nothing)"):format(name))
      end
    end
  end
  if o.failure_min > o.failure_window then
    opt_error(("option 'failure_min' (%d) must be <= failure_window (%d)"):format(o.failure_min, o.failure_window))
  end
  if o.on_canary and not o.canary then opt_error("option 'on_canary' needs option 'canary'") end
end

--- The job's part. job: the Job; new_error(kind, message) makes the job's errors.
function M.new(o, job, new_error)
  local s = setmetatable({ api = o.api, plan = o.plan, before = o.before_images, skip = o.skip_unchanged,
    halt = halt.new(o), after = {}, unchanged = 0, job = job, new_error = new_error }, Safety)
  s.reads = o.plan or o.before_images or o.skip_unchanged
  if o.canary then
    s.canary = { left = o.canary, size = o.canary, results = {}, phase = "sending", on_canary = o.on_canary }
  end
  s.general = s.reads or s.canary ~= nil -- read per task (a field, not a call): see Safety:submitted
  return s
end

local function in_canary(self)
  return self.canary ~= nil and self.canary.phase == "sending"
end

--- Sets the read flags on a prepared task p bound for the engine, and keeps the value it asks
-- for (fields: the validated task fields) to hand back with its result as `after`.
function Safety:prepare(p, fields)
  local canary = in_canary(self)
  p.read_only = self.plan or nil
  p.keep_before = (self.before or canary) or nil -- the canary shows its transitions
  p.skip_unchanged = self.skip or nil
  if self.reads or canary then p.after = plan.after_of(self.api, fields) end
end

--- A prepared task p went to the engine (not invalid, not settled by the journal).
function Safety:submitted(p)
  if p.after then self.after[p.index] = p.after end
  local c = self.canary
  if c and c.phase == "sending" then
    c.left = c.left - 1
    if c.left == 0 then
      c.phase = "waiting"
      self.general = self.reads -- `general`: tasks must take the general path (read flags)
      self.job._gate = "canary" -- nothing more is taken until on_canary says so
    end
  end
end

--- Completes the job's results before anyone sees them: `before` decoded, `after` attached, a
-- plan's status; collects the canary's results; counts them for the auto-halt, which stops the
-- batch (kind "halted") at the result that crosses the limit.
function Safety:results(results)
  local c = self.canary
  if c and c.phase == "done" then c = nil end
  if not (c or self.reads) then return self:_count(results) end
  for i = 1, #results do
    local r = results[i]
    if r.before_body ~= nil then
      r.before = plan.decode_before(self.api, r.before_body)
      r.before_body = nil
    end
    local after = self.after[r.index]
    if after then
      r.after, self.after[r.index] = after, nil
    end
    if r.unchanged then self.unchanged = self.unchanged + 1 end
    if self.plan then r.plan = plan.status(r) end
    if c and not r.invalid and r.skipped ~= "journal" then c.results[#c.results + 1] = r end
    local msg = self.halt and self.halt:add(r)
    if msg then self.job:_abort(self.new_error("halted", msg), "halted by max_failure_rate", true) end
  end
end

-- The common case: no reads, no canary: only the auto-halt counts (a success costs one step).
function Safety:_count(results)
  local h = self.halt
  if not h then return end
  for i = 1, #results do
    local msg = h:add(results[i])
    if msg then return self.job:_abort(self.new_error("halted", msg), "halted by max_failure_rate", true) end
  end
end

--- True when the canary's tasks have all come back and on_canary is due.
function Safety:canary_ready()
  local c, job = self.canary, self.job
  return c ~= nil and c.phase == "waiting" and job._returned == job._in.n and #job._local == 0
end

--- Asks on_canary(summary, results) once the canary is back (at the start of a poll, so a
-- caller has handled every canary result first): true goes on, anything else stops the batch
-- with kind "canary". A raising on_canary cancels the job and its error reaches the caller.
function Safety:check_canary()
  if not self:canary_ready() then return end
  local c, job = self.canary, self.job
  c.phase = "done"
  local results = c.results
  c.results = nil
  if job._fatal then return end
  local go = false
  if c.on_canary then
    local ok, v = pcall(c.on_canary, job:summary(), results)
    if not ok then
      job._c:cancel()
      job:_drain()
      error(v, 0)
    end
    go = v == true
  end
  if go then
    job._gate = "open"
  else
    job:_abort(self.new_error("canary", ("stopped after the canary of %d tasks: %s"):format(c.size,
      c.on_canary and "on_canary did not confirm" or "no on_canary to confirm it")), "stopped after the canary", true)
  end
end

--- Adds this part's counters to a summary.
function Safety:summarize(s)
  s.unchanged = self.unchanged
  return s
end

return M
