--- The run report: one self-contained HTML file (inline SVG and CSS, no script, nothing fetched)
-- that shows a run — requests per second against the configured and the found limit, latency
-- percentiles over time, 429s and pauses on the timeline, results by outcome and by disposition,
-- failures by reason with examples and their input lines, and the run's parameters (never a
-- secret).
--
-- It is built from results alone, so a finished run's files are enough: every result carries
-- `at` (when its first request left, Unix time), `latency` and, when it sent more than one
-- request or set a pause, `tries` ({offset, status, latency[, pause]} per request: docs/api.md
-- "result"). The CLI feeds its results and events in as they come (--report); bulk.report()
-- reads a results file or a journal. Memory stays bounded by the run's length in seconds (one
-- small record per second), not by its rows.
local cjson = require "cjson.safe"
local summary_mod = require "cxone.bulk.summary"
local bins = require "cxone.bulk.report_bins"

local M = {}

local floor = math.floor

local bin_of = bins.bin_of

-- Bounds that keep a report small whatever the run: kept examples, reasons, outcomes and marks.
M.EXAMPLES = 3
M.MAX_REASONS = 60
M.MAX_OUTCOMES = 100
M.MAX_MARKS = 5000

local CLASSES = bins.CLASSES
M.CLASSES = CLASSES

local Agg = {}
Agg.__index = Agg

--- A new, empty report. opts: {params = {{name, value}, ...} (the run's parameters, already free
-- of secrets), source = words naming where the data came from}.
function M.new(opts)
    opts = opts or {}
    local counts = {}
    for _, c in ipairs(CLASSES) do counts[c] = 0 end
    return setmetatable({
        params = opts.params or {}, source = opts.source, sec = {}, lat = {}, counts = counts, rows = 0,
        requests = 0, n429 = 0, nerr = 0, unknown = 0, replayed = 0, pauses = {}, rates = {},
        targets = {}, target_order = {}, reasons = {}, reason_order = {},
    }, Agg)
end

-- The outcome class of a result (the same classes as the CLI's summary).
local function class_of(r)
    if r.skipped or r.skip then return "skipped" end
    if r.ok then return "succeeded" end
    if r.invalid then return "invalid" end
    if r.cancelled then return "cancelled" end
    return "failed"
end
M.class_of = class_of

local function is_num(v) return type(v) == "number" and v == v and v > -math.huge and v < math.huge end

-- One request that left at t (Unix time) and ended with status (0: no answer) after latency s.
function Agg:_request(t, status, latency)
    local key = floor(t)
    local b = self.sec[key]
    if not b then
        b = { n = 0, n429 = 0, nerr = 0, lat = {} }
        self.sec[key] = b
    end
    b.n = b.n + 1
    self.requests = self.requests + 1
    if status == 429 then
        b.n429, self.n429 = b.n429 + 1, self.n429 + 1
    elseif status == 0 or (type(status) == "number" and status >= 500) then
        b.nerr, self.nerr = b.nerr + 1, self.nerr + 1
    end
    if is_num(latency) then
        local k = bin_of(latency)
        b.lat[k] = (b.lat[k] or 0) + 1
        self.lat[k] = (self.lat[k] or 0) + 1
    end
    local last = t + (is_num(latency) and latency or 0)
    if not self.t_min or t < self.t_min then self.t_min = t end
    if not self.t_max or last > self.t_max then self.t_max = last end
end

function Agg:_pause(at, seconds, set_by)
    if #self.pauses < M.MAX_MARKS and is_num(at) and is_num(seconds) and seconds > 0 then
        self.pauses[#self.pauses + 1] = { at = at, seconds = seconds, by = set_by }
    end
end

-- A result's requests: its tries, or its one request (at, status, latency).
function Agg:_requests_of(r)
    if not is_num(r.at) then return end
    if type(r.tries) == "table" and #r.tries > 0 then
        for _, try in ipairs(r.tries) do
            if type(try) == "table" and is_num(try[1]) then
                local sent = r.at + try[1]
                self:_request(sent, tonumber(try[2]) or 0, try[3])
                if is_num(try[4]) then self:_pause(sent + (is_num(try[3]) and try[3] or 0), try[4], r.contact_id) end
            end
        end
    else
        self:_request(r.at, tonumber(r.status) or 0, r.latency)
    end
end

-- The failure reason of a result that did not succeed: its kind and its last status.
local function reason_of(r, class)
    local kind = type(r.error_kind) == "string" and r.error_kind or (class == "invalid" and "input" or "other")
    local status = tonumber(r.status) or 0
    return kind .. "\0" .. status, kind, status
end

function Agg:_failure(r, class)
    local key, kind, status = reason_of(r, class)
    local g = self.reasons[key]
    if not g then
        if #self.reason_order >= M.MAX_REASONS then
            key, kind, status = "more\0", "(other reasons)", 0
            g = self.reasons[key]
        end
        if not g then
            g = { kind = kind, status = status, class = class, count = 0, examples = {} }
            self.reasons[key] = g
            self.reason_order[#self.reason_order + 1] = key
        end
    end
    g.count = g.count + 1
    if #g.examples < M.EXAMPLES then
        g.examples[#g.examples + 1] = { line = tonumber(r.line), contact_id = r.contact_id, error = r.error }
    end
end

function Agg:_target(r, class)
    local key = summary_mod.outcome_of(r)
    local t = self.targets[key]
    if not t then
        if #self.target_order >= M.MAX_OUTCOMES then
            key = "(other outcomes)"
            t = self.targets[key]
        end
        if not t then
            t = { rows = 0 }
            for _, c in ipairs(CLASSES) do t[c] = 0 end
            self.targets[key] = t
            self.target_order[#self.target_order + 1] = key
        end
    end
    t.rows, t[class] = t.rows + 1, t[class] + 1
end

--- Adds one result (an engine result, or a results / journal line decoded).
function Agg:result(r)
    if type(r) ~= "table" then return end
    local class = class_of(r)
    self.rows = self.rows + 1
    self.counts[class] = self.counts[class] + 1
    if r.outcome_unknown then self.unknown = self.unknown + 1 end
    if r.replayed then self.replayed = self.replayed + 1 end
    self:_target(r, class)
    if class ~= "succeeded" and class ~= "skipped" then self:_failure(r, class) end
    self:_requests_of(r)
end

--- Adds one engine event: a pause another process set (a pause of this job's is in the result
-- of the task whose answer set it), and a change of the adaptive rate (type "rate").
function Agg:event(ev)
    if type(ev) ~= "table" or not is_num(ev.at) then return end
    if ev.type == "pause" and ev.index == nil then
        self:_pause(ev.at, ev.delay, "another process")
    elseif ev.type == "rate" and #self.rates < M.MAX_MARKS then
        local rate = is_num(ev.rate) and ev.rate or (is_num(ev.value) and ev.value or nil)
        if rate then self.rates[#self.rates + 1] = { at = ev.at, rate = rate } end
    end
end

--- What the run's summary adds: the limit the adaptive rate found (rate_found).
function Agg:summary(s)
    if type(s) ~= "table" then return end
    if is_num(s.rate_found) then self.found = s.rate_found end
end

--- The percentile q (0..1) in ms of a latency bin table, or nil when it is empty.
M.quantile = bins.quantile

--- The report as HTML text.
function Agg:html()
    return require("cxone.bulk.report_html").page(self)
end

--- Writes the report to path. Returns true, or nil and a message naming the file.
function Agg:write(path)
    local fh, err = io.open(path, "wb")
    if not fh then return nil, ("cannot write the report: %s"):format(tostring(err)) end
    local ok, werr = fh:write(self:html())
    if ok then ok, werr = fh:close() else fh:close() end
    if not ok then return nil, ("cannot write the report %s: %s"):format(path, tostring(werr)) end
    return true
end

---------------------------------------------------------------------------------------------
-- A finished run, from its files
---------------------------------------------------------------------------------------------

-- Parameters as {{name, value}} from a table of name -> value (sorted), or the list as it is.
local function param_list(p)
    if type(p) ~= "table" then return {} end
    if p[1] ~= nil then return p end
    local out = {}
    for k, v in pairs(p) do
        if type(v) == "string" or type(v) == "number" or type(v) == "boolean" then out[#out + 1] = { k, v } end
    end
    table.sort(out, function(a, b) return a[1] < b[1] end)
    return out
end
M.param_list = param_list

-- Reads a --summary-json file: its params and rate_found. Returns the table or nil, message.
local function read_summary(path)
    local fh, err = io.open(path, "rb")
    if not fh then return nil, ("cannot read the summary: %s"):format(tostring(err)) end
    local text = fh:read("*a")
    fh:close()
    local s = cjson.decode(text or "")
    if type(s) ~= "table" then return nil, ("the summary %s is not a JSON object"):format(path) end
    return s
end

-- A journal's run header as parameters (batch id, target, client, input, start, and the params
-- the CLI recorded).
local function journal_params(run)
    local out = {}
    for _, k in ipairs({ "batch_id", "base_url", "client_id", "input", "started" }) do
        if run[k] ~= nil then out[#out + 1] = { k, run[k] } end
    end
    for _, kv in ipairs(param_list(run.params)) do out[#out + 1] = kv end
    return out
end

-- Feeds the lines of fh into a new report. A journal (first line {"journal":...}) gives the
-- records of its run number `run` (nil: the last); its intent lines and run_end are skipped.
-- Returns the report, or nil and a message naming the file and line.
local function read_records(fh, path, opts)
    local agg, lineno, journal, runs = M.new({ source = path }), 0, false, 0
    for line in fh:lines() do
        lineno = lineno + 1
        if line:match("%S") then
            local rec = cjson.decode(line)
            if type(rec) ~= "table" then return nil, ("%s line %d is not a JSON object"):format(path, lineno) end
            if lineno == 1 and rec.journal ~= nil then journal = true end
            if journal and type(rec.run) == "table" then
                runs = runs + 1
                if not opts.run or runs <= opts.run then
                    agg = M.new({ source = ("%s (run %d)"):format(path, runs), params = journal_params(rec.run) })
                end
            elseif not (journal and (rec.intent or rec.run_end)) and (not opts.run or runs == opts.run) then
                agg:result(rec)
            end
        end
    end
    if opts.run and runs < opts.run then
        return nil, ("%s holds %d run(s): there is no run %d"):format(path, runs, opts.run)
    end
    return agg
end

--- Builds the report of a finished run from its files. source: a results file (JSON Lines, as
-- --output writes it) or a journal; opts: {summary = the run's --summary-json file (parameters,
-- the found limit), run = which run of a journal (default: the last)}. Returns true, or nil, a
-- message naming the file (and line) and its kind ("options", "input" or "output").
function M.build(source, path, opts)
    opts = opts or {}
    if type(source) ~= "string" or source == "" then return nil, "report: the source must be a file path", "options" end
    if type(path) ~= "string" or path == "" then return nil, "report: the report path must be a file path", "options" end
    if type(opts) ~= "table" then return nil, "report: opts must be a table", "options" end
    if opts.run ~= nil and (type(opts.run) ~= "number" or opts.run < 1 or opts.run ~= floor(opts.run)) then
        return nil, "report: opts.run must be a whole number >= 1", "options"
    end
    local fh, err = io.open(source, "rb")
    if not fh then return nil, ("cannot read the run's file: %s"):format(tostring(err)), "input" end
    local agg, rerr = read_records(fh, source, opts)
    fh:close()
    if not agg then return nil, rerr, "input" end
    if opts.summary then
        local s, serr = read_summary(opts.summary)
        if not s then return nil, serr, "input" end
        agg:summary(s)
        if #agg.params == 0 then agg.params = param_list(s.params) end
    end
    local ok, werr = agg:write(path)
    if not ok then return nil, werr, "output" end
    return true
end

return M
