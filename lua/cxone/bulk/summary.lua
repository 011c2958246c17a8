-- Run tally and the end-of-run summary: totals, skipped rows, retries, 429s, elapsed time,
-- effective rate, failures grouped by status with one example each, and the outcomes the
-- engine refused (--validate-outcomes), each with its suggestion.
local text = require "cxone.bulk.text"
local printable, shorten = text.printable, text.shorten

local M = {}

-- Longest example message per failure group, in bytes (cut between words).
M.EXAMPLE_MAX = 200

local Tally = {}
Tally.__index = Tally

function M.new()
    return setmetatable({
        done = 0, ok = 0, failed = 0, invalid = 0, cancelled = 0, skipped = 0, replayed = 0,
        retries = 0, groups = {}, group_order = {}, ok_status = {},
        outcomes = {}, outcome_order = {}, outcomes_more = 0, by_outcome = {}, by_outcome_n = 0,
    }, Tally)
end

-- Distinct outcomes counted one by one in --summary-json's by_outcome (the rest together).
M.MAX_BY_OUTCOME = 200
M.OTHER_OUTCOMES = "(other outcomes)"

--- The outcome a row asks for, as one key: "category / subcategory" (tutorial), "skill /
-- disposition_code" (cxone), the outcome_code when only that is known, "(none)" for a row that
-- names none (an invalid one).
function M.outcome_of(r)
    local function str(v) return type(v) == "string" and v ~= "" and v or nil end
    local a, b = str(r.category), str(r.subcategory)
    if not a and not b then a, b = str(r.skill), str(r.disposition_code) end
    if a or b then return (a or "?") .. " / " .. (b or "?") end
    return str(r.outcome_code) or "(none)"
end

-- The row's class in by_outcome: the same classes as the totals.
local function row_class(r)
    if r.skipped then return "skipped" end
    if r.ok then return "succeeded" end
    if r.invalid then return "invalid" end
    if r.cancelled then return "cancelled" end
    return "failed"
end

-- Counts one row under the outcome it asks for (r.target: M.outcome_of of the row).
function Tally:add_by_outcome(r)
    local key = r.target or "(none)"
    local t = self.by_outcome[key]
    if not t then
        if self.by_outcome_n >= M.MAX_BY_OUTCOME then
            key = M.OTHER_OUTCOMES
            t = self.by_outcome[key]
        end
        if not t then
            t = { rows = 0, succeeded = 0, failed = 0, invalid = 0, cancelled = 0, skipped = 0 }
            self.by_outcome[key] = t
            self.by_outcome_n = self.by_outcome_n + 1
        end
    end
    local c = row_class(r)
    t.rows, t[c] = t.rows + 1, t[c] + 1
end

-- Distinct refused outcomes kept for the summary (the rest are only counted): bounded memory
-- whatever the input.
M.MAX_OUTCOMES = 50
-- Of which the summary shows this many.
M.SHOW_OUTCOMES = 10

-- The rate the limit allowed over a run: `sent` updates in `elapsed` seconds under limit
-- {rate=, burst=}. The first `burst` may go at once, so the rate is that of the updates after
-- them: it never exceeds limit.rate (any window T holds at most burst + rate * T requests).
-- Returns the rate, and true when every update fitted in the burst.
function M.steady_rate(sent, elapsed, limit)
    if not limit then return elapsed > 0 and sent / elapsed or 0, false end
    if sent <= limit.burst then return 0, true end
    return elapsed > 0 and (sent - limit.burst) / elapsed or 0, false
end

-- Records an outcome the engine refused (r.outcome names it; r.error is the engine's words).
function Tally:add_outcome(r)
    local o = self.outcomes[r.outcome]
    if not o then
        if #self.outcome_order >= M.MAX_OUTCOMES then
            self.outcomes_more = self.outcomes_more + 1
            return
        end
        o = { count = 0, line = r.line, error = r.error }
        self.outcomes[r.outcome] = o
        self.outcome_order[#self.outcome_order + 1] = r.outcome
    end
    o.count = o.count + 1
end

-- The failure group of a result: "invalid", "cancelled", "no response" or the HTTP status.
local function group_of(r)
    if r.invalid then return "invalid" end
    if r.cancelled then return "cancelled" end
    if not r.status or r.status == 0 then return "no response" end
    return tostring(r.status)
end

-- Counts one result (r.line is the input line; r.skipped marks a journal skip; r.outcome names
-- an outcome the engine refused).
function Tally:add(r)
    self.done = self.done + 1
    self:add_by_outcome(r)
    if r.skipped then
        self.skipped = self.skipped + 1
        return
    end
    if r.ok then
        self.ok = self.ok + 1
        local key = (r.status and r.status > 0) and tostring(r.status) or "ok"
        self.ok_status[key] = (self.ok_status[key] or 0) + 1
        if r.replayed then self.replayed = self.replayed + 1 end
        return
    end
    if r.outcome then self:add_outcome(r) end
    if r.invalid then
        self.invalid = self.invalid + 1
    elseif r.cancelled then
        self.cancelled = self.cancelled + 1
    else
        self.failed = self.failed + 1
    end
    local key = group_of(r)
    local g = self.groups[key]
    if not g then
        g = { count = 0, line = r.line, contact_id = r.contact_id, error = r.error }
        self.groups[key] = g
        self.group_order[#self.group_order + 1] = key
    end
    g.count = g.count + 1
end

-- Rows that did not succeed and were not skipped.
function Tally:not_ok()
    return self.failed + self.invalid + self.cancelled
end

-- The summary as a table for --summary-json: row counts, rows by final status (HTTP status,
-- "ok" for a dry run's rows, "invalid", "cancelled", "no response", "skipped"), the engine's
-- request counters, elapsed seconds, rate (M.steady_rate; within_burst when every update went in
-- the first burst), rows by the outcome they ask for (by_outcome). extra: {target=, exit_code=,
-- dry_run=, interrupted=, error=, error_kind=, limit=, outcomes_checked=, params=, rate_found=}.
function Tally:to_table(engine, elapsed, extra)
    local by_status = {}
    for k, n in pairs(self.ok_status) do by_status[k] = n end
    for k, g in pairs(self.groups) do by_status[k] = (by_status[k] or 0) + g.count end
    if self.skipped > 0 then by_status.skipped = self.skipped end
    local t = {
        rows = self.done, succeeded = self.ok, failed = self.failed, invalid = self.invalid,
        skipped = self.skipped, cancelled = self.cancelled, replayed = self.replayed,
        by_status = by_status, elapsed = elapsed,
        dry_run = extra.dry_run and true or false, interrupted = extra.interrupted and true or false,
        target = extra.target, exit_code = extra.exit_code, error = extra.error,
        error_kind = extra.error_kind, outcomes_checked = extra.outcomes_checked,
        by_outcome = next(self.by_outcome) and self.by_outcome or nil, params = extra.params,
        rate_found = extra.rate_found,
    }
    t.rate, t.within_burst = 0, false
    if not extra.dry_run then t.rate, t.within_burst = M.steady_rate(self.ok + self.failed, elapsed, extra.limit) end
    if engine then
        t.requests, t.retries = engine.requests or 0, math.max(self.retries, engine.retried or 0)
        t.http_429, t.http_5xx = engine.http_429 or 0, engine.http_5xx or 0
        t.transport_errors = engine.transport_errors or 0
        t.rate_found = engine.rate_found
    end
    return t
end

-- "effective rate ..." as measured against the limit: never a figure above it.
local function rate_line(sent, elapsed, limit)
    local rate, within = M.steady_rate(sent, elapsed, limit)
    if not limit then return ("  effective rate %.1f updates/s"):format(rate) end
    if within then
        return ("  effective rate: burst (all %d updates within the first burst of %g; limit %g/s)"):format(
            sent, limit.burst, limit.rate)
    end
    return ("  effective rate %.1f updates/s after the first burst of %g (limit %s)"):format(rate, limit.burst,
        limit.auto and ("auto, at most %g/s"):format(limit.rate) or ("%g/s"):format(limit.rate))
end

-- The outcomes the engine refused, most rows first, each with its first line and the engine's
-- words (which carry the "did you mean" suggestion).
function Tally:render_outcomes(add)
    local order = self.outcome_order
    if #order == 0 then return end
    local keys = {}
    for i, k in ipairs(order) do keys[i] = k end
    table.sort(keys, function(a, b)
        local oa, ob = self.outcomes[a], self.outcomes[b]
        if oa.count ~= ob.count then return oa.count > ob.count end
        return oa.line < ob.line
    end)
    add("outcomes refused (not sent):")
    for i = 1, math.min(#keys, M.SHOW_OUTCOMES) do
        local o = self.outcomes[keys[i]]
        local msg = printable(tostring(o.error or "?"):gsub("%s+", " "))
        if #msg > 240 then msg = msg:sub(1, 240):gsub("[,;]?%s+%S*$", "") .. " ..." end -- at a word
        add("  %6d   line %d: %s", o.count, o.line, msg)
    end
    local more = #keys - M.SHOW_OUTCOMES + self.outcomes_more
    if more > 0 then add("  and %d more outcome(s): see the failed file", more) end
end

-- The summary text. engine: the job's summary table (may be nil for a dry run); elapsed: seconds;
-- extra: {interrupted=bool, dry_run=bool, unwritten=string|nil, target=string|nil, limit={rate=,
-- burst=}|nil, unchecked=string|nil (a check the dry run skipped)}.
function Tally:render(engine, elapsed, extra)
    extra = extra or {}
    local out = {}
    local function add(fmt, ...) out[#out + 1] = fmt:format(...) end
    local title = extra.dry_run and "dry run" or (extra.interrupted and "interrupted" or "done")
    local sent = self.ok + self.failed
    add("cxone-bulk %s: %d rows in %.1f s", title, self.done, elapsed)
    if extra.target then add("  target     %s", extra.target) end
    if extra.dry_run then
        add("  would send %9d", self.ok)
    else
        add("  succeeded  %9d%s", self.ok, self.replayed > 0 and ("   (%d replayed by the server)"):format(self.replayed) or "")
        add("  failed     %9d", self.failed)
    end
    add("  invalid    %9d", self.invalid)
    if self.skipped > 0 then add("  skipped    %9d   (already succeeded per the journal)", self.skipped) end
    if self.cancelled > 0 then add("  cancelled  %9d", self.cancelled) end
    if engine then
        add("  requests   %9d   retries %d   429s %d   5xx %d   transport errors %d",
            engine.requests or 0, math.max(self.retries, engine.retried or 0), engine.http_429 or 0,
            engine.http_5xx or 0, engine.transport_errors or 0)
        if (engine.pauses or 0) > 0 then
            add("  pauses     %9d   (%.1f s paused)", engine.pauses, engine.pause_seconds or 0)
        end
    end
    if not extra.dry_run and elapsed > 0 and sent > 0 then add("%s", rate_line(sent, elapsed, extra.limit)) end
    if engine and engine.rate_found then add("  limit found ≈ %.1f/s   (the send rate at the last 429)", engine.rate_found) end
    if extra.unchecked then add("  note: %s", extra.unchecked) end
    if #self.group_order > 0 then
        add("failures by status:")
        local keys = {}
        for i, k in ipairs(self.group_order) do keys[i] = k end
        table.sort(keys, function(a, b)
            local ga, gb = self.groups[a], self.groups[b]
            if ga.count ~= gb.count then return ga.count > gb.count end
            return a < b
        end)
        for _, k in ipairs(keys) do
            local g = self.groups[k]
            local where = g.line and ("line %d"):format(g.line) or "?"
            -- Server text and ids are shown escaped: no terminal escape sequence reaches the screen.
            if g.contact_id and g.contact_id ~= "" then where = where .. (" contact %s"):format(printable(g.contact_id)) end
            local msg = shorten(printable(tostring(g.error or "?"):gsub("%s+", " ")), M.EXAMPLE_MAX)
            add("  %-11s %6d   e.g. %s: %s", k, g.count, where, msg)
        end
    end
    self:render_outcomes(add)
    if extra.unwritten then add("%s", extra.unwritten) end
    return table.concat(out, "\n") .. "\n"
end

return M
