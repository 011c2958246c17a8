--- A job's metrics in the Prometheus text exposition format (version 0.0.4), for job:metrics(),
-- the CLI's --metrics-file (node_exporter's textfile collector) and the nginx example's /metrics.
--
-- Names follow the Prometheus conventions: the cxone_bulk_ prefix, _total for counters, base
-- units (_seconds), one HELP and one TYPE line per family. The figures come from the C core's
-- ledger (core job:metrics(): requests by method and status, the latency histogram, limiter
-- wait, results by outcome and kind, queued / in-flight tasks), the job's summary (retries,
-- 429s, pauses, tokens) and, where the job has it, job:status() (the current, maximum and found
-- rate, the pause in force, the ETA). Every name is listed in docs/api.md "Prometheus metrics".
local M = {}

local fmt, concat = string.format, table.concat

-- A sample value: integers exactly, others with enough digits, infinities as Prometheus spells them.
local function number(v)
    if v ~= v then return "NaN" end
    if v == math.huge then return "+Inf" end
    if v == -math.huge then return "-Inf" end
    if v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return fmt("%d", v) end
    return fmt("%.15g", v)
end
M.number = number

-- Label values escape backslash, double quote and line feed; HELP text backslash and line feed.
local function label_value(s)
    return (tostring(s):gsub("[\\\"\n]", { ["\\"] = "\\\\", ['"'] = '\\"', ["\n"] = "\\n" }))
end

local function help_text(s)
    return (s:gsub("[\\\n]", { ["\\"] = "\\\\", ["\n"] = "\\n" }))
end

--- Checks extra labels (the caller's, put on every sample): names as Prometheus allows them,
-- values strings or numbers. Returns nil or what is wrong.
function M.check_labels(labels)
    if labels == nil then return nil end
    if type(labels) ~= "table" then return "labels must be a table of name = value" end
    for k, v in pairs(labels) do
        if type(k) ~= "string" or not k:match("^[%a_][%w_]*$") or k:sub(1, 2) == "__" then
            return fmt("label name %q is not a Prometheus label name", tostring(k))
        end
        if type(v) ~= "string" and type(v) ~= "number" then
            return fmt("label %s must be a string or a number", k)
        end
    end
    return nil
end

-- '{a="x",b="y"}' from the sample's own labels (an array of {name, value}) and the caller's.
local function label_set(own, extra)
    local parts = {}
    for _, kv in ipairs(own or {}) do parts[#parts + 1] = kv[1] .. '="' .. label_value(kv[2]) .. '"' end
    for _, k in ipairs(extra) do parts[#parts + 1] = k[1] .. '="' .. label_value(k[2]) .. '"' end
    if #parts == 0 then return "" end
    return "{" .. concat(parts, ",") .. "}"
end

-- The text builder: each family once (HELP, TYPE) in the order first declared, with the samples
-- of every job rendered into it; a series given twice (two jobs with the same labels) raises.
local Out = {}
Out.__index = Out

function Out:family(name, kind, help)
    local f = self.families[name]
    if not f then
        f = { "# HELP " .. name .. " " .. help_text(help), "# TYPE " .. name .. " " .. kind }
        self.families[name] = f
        self.order[#self.order + 1] = name
    end
    self.current = f
end

function Out:sample(name, value, labels)
    local series = name .. label_set(labels, self.extra)
    if self.seen[series] then
        error(("cxone.bulk: metrics: the series %s is given twice: give each job labels of its own"):format(series), 0)
    end
    self.seen[series] = true
    self.current[#self.current + 1] = series .. " " .. number(value)
end

function Out:text()
    local lines = {}
    for _, name in ipairs(self.order) do
        for _, line in ipairs(self.families[name]) do lines[#lines + 1] = line end
    end
    return concat(lines, "\n") .. "\n"
end

-- A family with one sample (skipped entirely when value is nil: not known for this job).
function Out:single(name, kind, help, value)
    if value == nil then return end
    self:family(name, kind, help)
    self:sample(name, value)
end

local function sorted_extra(labels)
    local keys = {}
    for k in pairs(labels or {}) do keys[#keys + 1] = k end
    table.sort(keys)
    local out = {}
    for i, k in ipairs(keys) do out[i] = { k, labels[k] } end
    return out
end

local function add_requests(out, core)
    out:family("cxone_bulk_requests_total", "counter",
        "API requests sent, by method and HTTP status (status \"none\": no HTTP answer)")
    local rows = {}
    for _, r in ipairs(core.requests or {}) do rows[#rows + 1] = r end
    table.sort(rows, function(a, b)
        if a.method ~= b.method then return a.method < b.method end
        return a.status < b.status
    end)
    for _, r in ipairs(rows) do
        out:sample("cxone_bulk_requests_total", r.count,
            { { "method", r.method }, { "status", r.status == 0 and "none" or tostring(r.status) } })
    end
end

local function add_latency(out, core)
    local lat = core.latency or { bounds = {}, counts = {}, sum = 0, count = 0 }
    local name = "cxone_bulk_request_duration_seconds"
    out:family(name, "histogram", "time from sending an API request to its answer (or transport failure)")
    local cum = 0
    for i, bound in ipairs(lat.bounds) do
        cum = cum + (lat.counts[i] or 0)
        out:sample(name .. "_bucket", cum, { { "le", number(bound) } })
    end
    cum = cum + (lat.counts[#lat.bounds + 1] or 0)
    out:sample(name .. "_bucket", cum, { { "le", "+Inf" } })
    out:sample(name .. "_sum", lat.sum or 0)
    out:sample(name .. "_count", lat.count or 0)
end

-- Results by outcome and kind: the core's, plus the tasks the facade settled without it (a
-- journal's skips: succeeded earlier, no request).
local function add_results(out, core, skipped_locally)
    out:family("cxone_bulk_results_total", "counter",
        "task results by outcome (succeeded, failed, invalid, cancelled, skipped) and error kind (none when ok)")
    local cells, order = {}, {}
    local function add(outcome, kind, n)
        local key = outcome .. "\0" .. kind
        if not cells[key] then
            cells[key] = { outcome, kind, 0 }
            order[#order + 1] = key
        end
        cells[key][3] = cells[key][3] + n
    end
    for _, r in ipairs(core.results or {}) do add(r.outcome, r.kind, r.count) end
    if (skipped_locally or 0) > 0 then add("skipped", "none", skipped_locally) end
    table.sort(order)
    for _, key in ipairs(order) do
        local c = cells[key]
        out:sample("cxone_bulk_results_total", c[3], { { "outcome", c[1] }, { "kind", c[2] } })
    end
end

local COUNTERS = {
    { "cxone_bulk_tasks_total", "total", "tasks the job took" },
    { "cxone_bulk_retries_total", "retried", "retries scheduled (429, 5xx, 408, 409, no answer)" },
    { "cxone_bulk_rate_limited_total", "http_429", "429 answers (rate limited)" },
    { "cxone_bulk_server_errors_total", "http_5xx", "5xx answers" },
    { "cxone_bulk_transport_errors_total", "transport_errors", "requests that got no HTTP answer" },
    { "cxone_bulk_pauses_total", "pauses", "pool-wide pauses (a Retry-After above pause_threshold, or another process's)" },
    { "cxone_bulk_pause_seconds_total", "pause_seconds", "seconds of the pool-wide pauses" },
    { "cxone_bulk_token_refreshes_total", "token_refreshes", "access tokens fetched" },
    { "cxone_bulk_reauths_total", "reauths", "401 answers answered with a fresh token" },
    { "cxone_bulk_replayed_total", "replayed", "updates the server replayed (Idempotency-Key seen before)" },
    { "cxone_bulk_verified_total", "verified", "updates settled by a read-back showing the wanted value" },
    { "cxone_bulk_events_dropped_total", "events_dropped", "events dropped because the owner did not drain them" },
}

-- A number from job:status(), when the job has one and it says so.
local function status_number(status, key)
    local v = status and status[key]
    if type(v) == "number" and v == v then return v end
    return nil
end

local function add_rates(out, d)
    local status = d.status
    local configured = type(d.rate) == "number" and d.rate or nil
    out:single("cxone_bulk_rate_requests_per_second", "gauge", "the rate the limiter allows now",
        status_number(status, "rate") or configured)
    out:single("cxone_bulk_rate_configured_requests_per_second", "gauge", "the rate the job was given (rate)",
        configured)
    out:single("cxone_bulk_rate_max_requests_per_second", "gauge", "the most the adaptive rate may reach (max_rate)",
        status_number(status, "max_rate"))
    out:single("cxone_bulk_rate_found_requests_per_second", "gauge",
        "the tenant's limit the adaptive rate found (absent until found)", status_number(status, "rate_found"))
    out:single("cxone_bulk_paused_seconds", "gauge", "seconds left of the pool-wide pause in force",
        status_number(status, "paused_for"))
    out:single("cxone_bulk_eta_seconds", "gauge", "estimated seconds until every task has its result",
        status_number(status, "eta"))
end

-- One job's samples into out.
local function add_job(out, d)
    local core, s = d.core or {}, d.summary or {}
    add_requests(out, core)
    add_latency(out, core)
    add_results(out, core, d.skipped_locally)
    for _, c in ipairs(COUNTERS) do out:single(c[1], "counter", c[3], s[c[2]] or 0) end
    out:single("cxone_bulk_limiter_wait_seconds_total", "counter",
        "seconds requests waited for a limiter slot (pauses included)", core.limiter_wait_seconds or 0)
    out:single("cxone_bulk_limiter_slots_total", "counter", "limiter slots taken by API requests",
        core.limiter_waits or 0)
    out:single("cxone_bulk_tasks_queued", "gauge", "tasks waiting for a worker", core.queued or 0)
    out:single("cxone_bulk_tasks_in_flight", "gauge", "tasks at a worker (sending, or waiting to retry)",
        core.in_flight or 0)
    add_rates(out, d)
    out:single("cxone_bulk_start_time_seconds", "gauge", "when the job started, Unix time", core.started)
    if s.error_kind then
        out:family("cxone_bulk_stopped", "gauge", "1 when a whole-batch error stopped the job, by its kind")
        out:sample("cxone_bulk_stopped", 1, { { "kind", s.error_kind } })
    end
end

--- The exposition text of several jobs: list = {{data, labels}, ...}, where data is {core = the
-- core job's metrics() table (nil: nothing counted yet), summary = job:summary(), status =
-- job:status() or nil, rate = the configured rate, skipped_locally = results the facade settled
-- without the core} and labels the job's own labels (each job needs labels of its own). `what`
-- names the caller in errors.
function M.render_many(list, what)
    local out = setmetatable({ families = {}, order = {}, seen = {} }, Out)
    for _, item in ipairs(list) do
        local why = M.check_labels(item[2])
        if why then error(("cxone.bulk: %s: %s"):format(what or "metrics", why), 0) end
        out.extra = sorted_extra(item[2])
        add_job(out, item[1])
    end
    return out:text()
end

--- The exposition text of one job (labels: optional, put on every sample: {run = "nightly"}).
function M.render(d, labels)
    return M.render_many({ { d, labels } }, "job:metrics()")
end

return M
