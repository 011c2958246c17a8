--- Live control of a running job: its rate (job:set_rate, job:set_max_rate) and its status
-- (job:status), plus how the rate options reach the C core. cxone.bulk adds these methods to its
-- job class (M.extend); the limiter does the work (src/limiter/limiter_rate.c, docs/limiter.md).
local options = require "cxone.bulk.options"

local M = {}

local fmt = string.format
local RATE = options.BY_NAME.rate

--- Checks rate and max_rate once every default is in (max_rate is derived for rate = "auto");
-- opt_error(message) raises naming the option.
function M.resolve(o, opt_error)
  local spec = options.rate_spec(o.rate)
  if not spec.auto then
    if o.max_rate ~= nil then
      opt_error(fmt("option 'max_rate' applies only to rate = \"auto\" (rate is %g/s)", spec.start))
    end
    return
  end
  if o.max_rate < spec.start then
    opt_error(fmt("option 'max_rate' (%g) must be >= the start rate (%g) of rate = %q", o.max_rate,
      spec.start, o.rate))
  end
end

--- The C core's view of the rate options: rate (the start), rate_auto, max_rate.
function M.core_config(o, c)
  local spec = options.rate_spec(o.rate)
  c.rate, c.rate_auto, c.max_rate = spec.start, spec.auto, o.max_rate
end

-- A rate as an operator passes it: a number within the rate option's range, else why not.
local function check_rate(what, r)
  local want = options.check({ kind = "number", min = RATE.min, above = RATE.above, max = RATE.max }, r)
  if want then return nil, fmt("%s must be %s (got %s)", what, want, tostring(r)) end
  return true
end

local function open_core(job)
  if not job._c then error("cxone.bulk: job is closed", 3) end
  return job._c
end

-- How many tasks the job will have in all: an array's length, or every task taken once the input
-- has closed; nil while an iterator or push input may still bring more.
local function known_total(job)
  if job._in.size then return job._in.size end
  if job._in.state == "closed" then return job._in.n end
end

--- Adds set_rate, set_max_rate and status to the job class.
function M.extend(Job)
  --- Changes the rate of the running job (and of every process sharing its limit). With rate =
  -- "auto" the controller goes on from r (r <= max_rate). Returns true, or nil and why not.
  function Job:set_rate(r)
    local c = open_core(self)
    local ok, err = check_rate("rate", r)
    if not ok then return nil, err end
    return c:set_rate(r)
  end

  --- rate = "auto" only: a new ceiling; a rate above it drops to it at once. true or nil, why.
  function Job:set_max_rate(r)
    local c = open_core(self)
    local ok, err = check_rate("max_rate", r)
    if not ok then return nil, err end
    return c:set_max_rate(r)
  end

  --- The job now: the summary's counts, the rate in force (rate, max_rate, rate_found — nil
  -- until a 429 showed a ceiling — adaptive, paused_for), done (results returned), remaining and
  -- eta (seconds; nil while the number of tasks is not known), finished.
  function Job:status()
    local s = {}
    for k, v in pairs(self:summary()) do s[k] = v end -- a copy: after close it is the final summary
    local c = self._c
    if c then
      local r = c:rate_status()
      s.rate, s.max_rate, s.rate_found, s.adaptive, s.paused_for = r.rate, r.max_rate, r.rate_found,
        r.adaptive, r.paused_for
    end
    s.done = self._returned
    s.finished = self:done()
    local total = known_total(self)
    if total then
      s.remaining = math.max(total - s.done, 0)
      if s.remaining == 0 then
        s.eta = 0
      elseif s.rate and s.rate > 0 then
        s.eta = s.remaining / s.rate + (s.paused_for or 0)
      end
    end
    return s
  end
end

--- The summary's share: the ceiling found (rate = "auto"; nil until a 429 showed one).
function M.summary(job, s)
  if job._c then s.rate_found = job._c:rate_status().rate_found end
end

return M
