-- --dry-run --validate-outcomes: the engine's own outcome check, with nothing sent.
--
-- A dry run that says "would send" for rows the real run would refuse is worse than none. With
-- credentials in the environment, a probe opens one engine job with validate_outcomes (same
-- token, same limiter, same requests as the real run's check: the outcome hierarchy, or each
-- skill's dispositions for --api cxone) and asks the job to prepare each task the way submit()
-- would, without ever submitting one: a refusal comes back in the engine's own words. Without
-- credentials the check is skipped, and the run says so.
--
-- The job has no public call for "prepare without sending" yet (issue 23 gives metadata fetches
-- their own path); until then this module is the one place that uses the job's internals
-- (_prepare, _fetch_skill, _gate, _skills), so that nothing else has to.
local options = require "cxone.bulk.options"
local profiles = require "cxone.bulk.profiles"

local M = {}

-- The first environment variable a job of `api` needs (its profile's credentials) that is not
-- set, or nil.
function M.missing_credential(api)
    local p = profiles.find(api or options.BY_NAME.api.default) or profiles.BY_NAME[options.BY_NAME.api.default]
    for _, name in ipairs(p.credentials) do
        local env = options.BY_NAME[name].env
        local v = os.getenv(env)
        if not v or v == "" then return env end
    end
    return nil
end

local Probe = {}
Probe.__index = Probe

-- Opens a probe: bulk is the cxone.bulk module, engine_opts the run's options, idle() is called
-- between waits and returns true to give up (a signal). Returns the probe; or nil, nil, reason
-- when the check is skipped; or nil, err, nil, kind when the engine refused to start.
function M.open(bulk, engine_opts, idle)
    local missing = M.missing_credential(engine_opts.api)
    if missing then
        return nil, nil, ("outcomes were not checked: --validate-outcomes needs credentials in a dry run "
            .. "(%s is not set); the real run may refuse rows counted here"):format(missing)
    end
    local o = {}
    for k, v in pairs(engine_opts) do o[k] = v end
    o.validate_outcomes = true
    local ok, job = pcall(bulk.open, o)
    if not ok then return nil, job, nil, bulk.error_kind(job) end
    local self = setmetatable({ job = job, idle = idle or function() return false end, n = 0 }, Probe)
    local werr, wkind = self:wait()
    if werr then
        self:close()
        return nil, werr, nil, wkind
    end
    return self
end

-- Polls until the job's pending fetch has arrived. Returns nil, or the whole-batch error (the
-- hierarchy could not be fetched, bad credentials) and its kind, or "interrupted".
function Probe:wait()
    local job = self.job
    while job._gate ~= "open" do
        if self.idle() then return "interrupted" end
        job:poll(0.1)
    end
    return job:error()
end

-- Why the engine would refuse this task's outcome ("task: ..."), or nil when it would send it;
-- or nil, err, kind when the check itself failed (whole-batch error, interrupted).
function Probe:check(task)
    local job = self.job
    self.n = self.n + 1
    for _ = 1, 3 do
        local p = job:_prepare(task, self.n)
        if not p.need_skill then return p.invalid end
        job:_fetch_skill(p.need_skill)
        local err, kind = self:wait()
        if err then return nil, err, kind end
    end
    return nil, "the dispositions of a skill could not be fetched"
end

function Probe:close()
    if self.job then self.job:close() end
    self.job = nil
end

return M
