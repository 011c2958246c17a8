--- What the CLI shows of a run beyond its results: --metrics-file (the job's Prometheus metrics,
-- rewritten every few seconds and at the end the way node_exporter's textfile collector wants
-- it: a temporary file in the same directory, then an atomic rename) and --report (the HTML run
-- report of cxone/bulk/report.lua, fed with every result and event, written at the end). Also
-- the run's parameters, free of secrets, for the report, --summary-json and the journal header.
local options = require "cxone.bulk.options"
local profiles = require "cxone.bulk.profiles"
local report_mod = require "cxone.bulk.report"
local metrics_mod = require "cxone.bulk.metrics"

local M = {}

-- Seconds between two writes of the metrics file while the run goes on.
M.METRICS_EVERY = 5

local Obs = {}
Obs.__index = Obs

-- A URL as it may be shown: without user info (redis://user:password@host).
local function without_userinfo(url)
    return (tostring(url):gsub("^(%a[%w+.-]*://)[^/?#]*@", "%1"))
end

--- The run's parameters as {{name, value}, ...}: every engine option the command line can set
-- (its value, else its default), never one declared secret, plus the target, the input and the
-- start time. engine_opts: the options the command line gave; target: bulk.target()'s answer.
function M.params(engine_opts, target, extra)
    local out = {}
    local function add(k, v)
        if v ~= nil and v ~= "" and type(v) ~= "table" and type(v) ~= "function" then out[#out + 1] = { k, v } end
    end
    add("api", engine_opts.api or options.BY_NAME.api.default)
    add("base_url", target and target.base_url)
    add("token_url", target and target.token_url)
    add("client_id", target and target.client_id)
    local profile = profiles.find(engine_opts.api or options.BY_NAME.api.default) or {}
    for _, d in ipairs(options.LIST) do
        local name = d.name
        local other_profile = d.discovery and not profile.discovery -- issuer, api_version, ...
        if d.flag and not d.secret and not other_profile and name ~= "api" and name ~= "base_url"
            and name ~= "token_url" then
            local v = engine_opts[name]
            if v == nil then v = d.default end
            if name == "shared_limit" and v then v = without_userinfo(v) end
            add(name, v)
        end
    end
    for _, kv in ipairs(extra or {}) do add(kv[1], kv[2]) end
    return out
end

--- The parameters as a name -> value table (for JSON).
function M.param_map(list)
    local t = {}
    for _, kv in ipairs(list) do t[kv[1]] = kv[2] end
    return t
end

--- opts: the parsed command line (its "metrics-file" and "report"); say(fmt, ...) prints a
-- warning on stderr.
function M.new(opts, say)
    return setmetatable({ metrics_path = opts["metrics-file"], report_path = opts.report, say = say,
        last_write = nil }, Obs)
end

--- The output paths for the CLI's checks (paths.lua): neither may be the input or another output,
-- nor stdout. Returns the entries, or nil and a message.
function Obs:path_checks()
    local list = { { flag = "--metrics-file", path = self.metrics_path }, { flag = "--report", path = self.report_path } }
    for _, e in ipairs(list) do
        if e.path == "-" then
            return nil, ("%s needs a file path: '-' (stdout) is not one: the file is rewritten, or opened "
                .. "in a browser"):format(e.flag)
        end
    end
    return list
end

-- Writes text to path atomically: a temporary file beside it, then rename (a reader never sees
-- half a file). Returns true, or nil and a message.
local function write_atomic(path, text, pid)
    local tmp = ("%s.tmp.%s"):format(path, tostring(pid or "0"))
    local fh, err = io.open(tmp, "wb")
    if not fh then return nil, ("cannot write the metrics file %s: %s"):format(path, tostring(err)) end
    local ok, werr = fh:write(text)
    if ok then ok, werr = fh:close() else fh:close() end
    if ok then ok, werr = os.rename(tmp, path) end
    if not ok then
        os.remove(tmp)
        return nil, ("cannot write the metrics file %s: %s"):format(path, tostring(werr))
    end
    return true
end

--- Opens what the run will write, before anything is sent: the report's file (so that a path
-- that cannot be written refuses the run) and a first metrics file (zeros). params: M.params().
-- sys: the core's sys table. Returns true or nil, message.
function Obs:open(params, sys)
    self.sys, self.params = sys, params
    if self.report_path then
        local fh, err = io.open(self.report_path, "wb")
        if not fh then return nil, ("cannot open report file: %s"):format(tostring(err)) end
        self.report_fh = fh
        self.report = report_mod.new({ params = params, source = "this run" })
    end
    if self.metrics_path then
        local ok, err = write_atomic(self.metrics_path, metrics_mod.render({}), sys.getpid())
        if not ok then return nil, err end
    end
    return true
end

function Obs:result(r)
    if self.report then self.report:result(r) end
end

function Obs:event(ev)
    if self.report then self.report:event(ev) end
end

-- Writes the job's metrics now; a failure is warned about once, and the run goes on.
function Obs:_write_metrics(text)
    local ok, err = write_atomic(self.metrics_path, text, self.sys.getpid())
    if not ok and not self.metrics_warned then
        self.metrics_warned = true
        self.say("warning: %s (the run goes on; retried every %d s)", err, M.METRICS_EVERY)
    end
    return ok, err
end

--- Called from the run's loop: rewrites the metrics file every METRICS_EVERY seconds.
function Obs:tick(job)
    if not self.metrics_path or not job then return end
    local now = self.sys.monotime()
    if self.last_write and now - self.last_write < M.METRICS_EVERY then return end
    self.last_write = now
    self:_write_metrics(job:metrics())
end

--- The job is closing: its final metrics are written (and kept for the report's summary).
function Obs:job_closed(job)
    self.final_job = job
end

--- At the end of the run: the last metrics file and the report. summary: the engine's summary
-- (rate_found). Returns true, or nil and the first message of what could not be written.
function Obs:finish(summary)
    local first_err
    if self.metrics_path then
        local job = self.final_job
        local ok, err = self:_write_metrics(job and job:metrics() or metrics_mod.render({}))
        if not ok then first_err = err end
    end
    if self.report_fh then
        local fh = self.report_fh
        self.report_fh = nil
        self.report:summary(summary)
        local ok, err = fh:write(self.report:html())
        if ok then ok, err = fh:close() else fh:close() end
        if not ok then first_err = first_err or ("cannot write the report %s: %s"):format(self.report_path, tostring(err)) end
    end
    if first_err then return nil, first_err end
    return true
end

--- Closes what is open without writing (a run refused before it started): the report file is
-- removed rather than left empty.
function Obs:abandon()
    if self.report_fh then
        self.report_fh:close()
        self.report_fh = nil
        os.remove(self.report_path)
    end
end

return M
