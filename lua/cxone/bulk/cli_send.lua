--- cxone.bulk.cli_send: the CLI run's send loop (methods of cxone.bulk.cli_class's Run): rows
-- pushed into the run's one job, results recorded as they arrive, signals and dead outputs
-- turned into a stop (cxone.bulk.run_stop), the dry run.
local options = require "cxone.bulk.options"
local profiles = require "cxone.bulk.profiles"
local feeder_mod = require "cxone.bulk.feeder"
local rows_mod = require "cxone.bulk.rows"
local summary_mod = require "cxone.bulk.summary"
local safety = require "cxone.bulk.safety_cli"

local K = require "cxone.bulk.cli_class"
local Run, M, strip_label = K.Run, K, K.strip_label


-- Builds the result record written for a row: the engine result (or a local one), plus the
-- input line and outcome. The engine's per-job index is dropped: `line` identifies the row.
local function result_for(row, r, profile)
    local out = {}
    for k, v in pairs(r) do out[k] = v end
    out.index = nil
    out.line = row.line
    out.error = rows_mod.labelled(r.error, row.line) -- the engine's "task N:" is not the line
    local task = row.task
    if task then
        out.contact_id = out.contact_id or task.contact_id
        for _, f in ipairs(profile.outcome) do out[f] = task[f] end
        for _, f in ipairs(profile.optional) do out[f] = task[f] end
    end
    return out
end

-- Runs one write to output `what`; a failure stops the intake of rows and is reported once at
-- the end (the run's stop state keeps the first).
function Run:write_out(what, f)
    local err = self.out:write(what, f)
    if not err then return end
    if self.stop:output_failed(err) then self:say("%s; no new rows are sent", err) end
    self:stop_intake()
end

-- Records one finished row: results, failed file and tally. The journal has recorded an engine
-- result already (the library writes it before the result reaches us: it is what resume trusts).
function Run:finish(row, r)
    local out = result_for(row, r, profiles.get(self.engine_opts.api or options.BY_NAME.api.default))
    local shown = out
    if r.skip then
        shown = {}
        for k, v in pairs(out) do shown[k] = v end
        shown.skip, shown.skipped = nil, r.skip
    end
    self:write_out("results", function() self.out.results:write(shown) end)
    if not r.ok then
        self:write_out("failed", function() self.out.failed:write(row.fields or {}, out.error, rows_mod.state(row, r)) end)
    end
    safety.finish(self, row, out)
    local refused = rows_mod.refused_outcome(row, r)
    if refused then self:show_invalid(row.line, rows_mod.bare(r.error)) end
    self.tally:add({ ok = r.ok, skipped = r.skip, invalid = r.invalid, cancelled = r.cancelled,
        status = r.status, error = r.error and rows_mod.bare(strip_label(r.error)), line = row.line,
        contact_id = out.contact_id, replayed = r.replayed, outcome = refused, target = summary_mod.outcome_of(out) })
    self.observe:result(shown)
    local warning = self.watch:add(r)
    if warning then self:warn(warning) end
end

-- Rows that need no request: invalid ones, ones the journal says were applied, and ones a later
-- applied row of the same input superseded. A row to send carries its line (the journal's
-- records name it).
function Run:classify(row)
    if row.error then return "local" end
    if self.jstate then
        row.skip = self.jstate:skip_reason(row.task, row.line, self.input_name)
        if row.skip then return "local" end
    end
    row.task.line = row.line
    return "send"
end

-- Echoes an invalid row on stderr (the first SHOW_INVALID of them).
function Run:show_invalid(line, err)
    self.invalid_shown = self.invalid_shown + 1
    if self.invalid_shown <= M.SHOW_INVALID then
        self:say("line %d: %s", line, err)
    elseif self.invalid_shown == M.SHOW_INVALID + 1 then
        self:say("more invalid rows: see the results and failed files")
    end
end

function Run:finish_local(row)
    if row.error then
        self:show_invalid(row.line, row.error)
        self:finish(row, { contact_id = row.task and row.task.contact_id or row.contact_id or "", ok = false, status = 0,
            error = row.error, attempts = 0, invalid = true })
    else
        self:finish(row, { contact_id = row.task.contact_id, ok = true, skip = row.skip })
    end
end

function Run:progress_state()
    local t = self.tally
    local paused = self.paused_until and self.paused_until - self.sys.monotime() or nil
    return { done = t.done, ok = t.ok, failed = t:not_ok(), skipped = t.skipped,
        retries = t.retries, paused = paused }
end

function Run:on_event(ev)
    self.observe:event(ev)
    if ev.type == "retry" then
        self.tally.retries = self.tally.retries + 1
    elseif ev.type == "pause" and ev.delay then
        self.paused_until = self.sys.monotime() + ev.delay
    elseif ev.type == "limiter" and ev.error then
        -- A shared limit's state reset, Redis unreachable or back: said once each, as it happens.
        self:warn(strip_label(ev.error))
    end
end

-- --dry-run: every row is validated and described; nothing is sent (cxone.bulk.dry_run).
function Run:dry_run()
    require("cxone.bulk.dry_run").run(self, { strip_label = strip_label, budget = M.FEED_BUDGET })
end

-- Handles a trapped signal. The first stops new rows and lets what the engine already holds
-- finish (bounded); the second cancels in-flight requests.
function Run:check_signal()
    local sig = self.sys.signal_caught()
    if not sig then return end
    local count = self.stop:signal_caught(sig)
    -- Rows the engine holds: handed out by the feeder, less the one waiting to be submitted.
    local n = self.feeder and (self.feeder.inflight_count - (self.pending and 1 or 0)) or 0
    self:stop_intake()
    local now, job = self.sys.monotime(), self.job
    if count == 1 then
        self.stop.grace_deadline = now + (self.engine_opts.timeout or 15) + M.GRACE_EXTRA
        if job and n > 0 then
            self:say("%s: no new rows are sent; press Ctrl-C again to abort the %d request%s in flight",
                sig, n, n == 1 and "" or "s")
        elseif job then
            self:say("%s: no new rows are sent; no request is in flight", sig)
        end
    elseif job and not self.stop.cancelled_at then
        self:say("%s again: cancelling in-flight requests", sig)
        job:cancel()
        self.stop:cancel(now)
    end
end

-- Opens the run's one job, the first time a row is to be sent (no token request when nothing
-- is to be sent). Returns true or nil, message.
function Run:open_job()
    local eopts = {}
    for k, v in pairs(self.engine_opts) do eopts[k] = v end
    eopts.on_event = function(ev) self:on_event(ev) end
    eopts.journal = self.out.journal -- opened, checked and headed in open_journal
    if eopts.canary then eopts.on_canary = safety.on_canary(self) end
    local ok, job = pcall(self.bulk.open, eopts)
    if not ok then return nil, strip_label(job), self.bulk.error_kind(job) end
    self.job = job
    return true
end

-- Pushes rows into the job until it is full, a row must wait for its contact, the feed budget
-- is spent, or the input ends. A pending signal is handled before every row is sent.
function Run:fill()
    local feeder = self.feeder
    while not self.stop:draining() do
        local task = self.pending
        if not task then
            task = feeder:next_task(M.FEED_BUDGET)
            if task == nil then
                self.input_done = true
                if self.job then self.job:close_input() end
                return
            end
            if task == false then return end
        end
        self.pending = task
        if self.sys.signal_pending() then
            self:check_signal()
            return
        end
        if not self.job then
            local ok, err, kind = self:open_job()
            if not ok then
                self.stop:fail(err, kind)
                return self:stop_intake()
            end
        end
        local index = self.job:submit(task)
        if not index then return end
        self.pending = nil
        assert(index == feeder.fed, "engine index and feeder order diverged")
    end
end

-- Outputs removed while the run writes them (rm, their directory deleted) take every write without
-- an error and are gone at the end: checked twice a second, such a file stops the run (exit 4).
M.LINK_CHECK_SECONDS = 0.5
function Run:check_outputs_linked()
    local now = self.sys.monotime()
    if self.link_checked and now - self.link_checked < M.LINK_CHECK_SECONDS then return end
    self.link_checked = now
    for _, gone in ipairs(self.out:removed(self.sys)) do
        local msg = gone[2]
        self:write_out(gone[1], function() error(msg, 0) end)
    end
end

function Run:take_results(results)
    for i = 1, #results do
        local r = results[i]
        local row = self.feeder:finish(r.index)
        if row then self:finish(row, r) end
    end
    self:check_outputs_linked()
    if #results > 0 then
        self:write_out("results", function() self.out.results:flush() end)
        safety.flush(self)
    end
end

-- Bounds the wind-down after a signal: cancel after the grace period, give up after CANCEL_WAIT.
function Run:wind_down()
    local now, job = self.sys.monotime(), self.job
    if self.stop.grace_deadline and not self.stop.cancelled_at and now > self.stop.grace_deadline then
        self:say("in-flight requests did not finish in time; cancelling them")
        job:cancel()
        self.stop:cancel(now)
    end
    return self.stop.cancelled_at and now > self.stop.cancelled_at + M.CANCEL_WAIT
end

function Run:send()
    self.feeder = feeder_mod.new(function() return self.inp:next() end,
        function(row) return self:classify(row) end,
        function(row) self:finish_local(row) end)
    while true do
        self:check_signal()
        self:fill()
        local job = self.job
        if job then
            local wait = (self.feeder.budget_hit and not self.stop:draining()) and 0 or 0.1
            local ok, results = pcall(job.poll, job, wait)
            if not ok then
                self.stop.fatal = strip_label(results)
                break
            end
            self:take_results(results)
            local fatal, kind = job:error()
            if fatal and not self.stop.fatal then
                self.stop:fail(strip_label(fatal), kind)
                self:stop_intake()
            end
            if job:done() or self:wind_down() then break end
        elseif self.stop:draining() or self.input_done then
            break
        end
        self.progress:update(self:progress_state())
        self.observe:tick(self.job)
    end
    self:close_job()
end

function Run:close_job()
    local job = self.job
    if not job then return end
    local s = job:summary() or {}
    for _, k in ipairs({ "requests", "retried", "http_429", "http_5xx", "transport_errors",
        "token_refreshes", "pauses", "pause_seconds", "replayed" }) do
        self.job_summary[k] = s[k] or 0
    end
    self.job_summary.rate_found = s.rate_found -- rate = auto: the ceiling found (nil: none)
    self.job = nil
    job:close()
    self.job_summary.rate_found = (job:summary() or {}).rate_found
    self.observe:job_closed(job) -- its final metrics
end
