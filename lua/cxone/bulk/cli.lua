-- cxone-bulk: the operator command line on top of cxone.bulk.
--
-- Reads rows (CSV, JSON Lines or ids), feeds them to the engine through bulk.start + job:poll so
-- it can draw progress, watch for SIGINT/SIGTERM and keep rows for the same contact in input
-- order, and writes results (JSONL), failed rows (CSV) and a resume journal as results arrive.
local args = require "cxone.bulk.args"
local input = require "cxone.bulk.input"
local output = require "cxone.bulk.output"
local journal_mod = require "cxone.bulk.journal"
local progress_mod = require "cxone.bulk.progress"
local summary_mod = require "cxone.bulk.summary"
local feeder_mod = require "cxone.bulk.feeder"

local M = {}

M.EXIT_OK, M.EXIT_FAILED, M.EXIT_USAGE, M.EXIT_INTERRUPTED = 0, 1, 2, 130
-- Invalid rows echoed on stderr as they are read; the rest are only in the outputs.
M.SHOW_INVALID = 10
-- After an interrupt, in-flight requests get this long beyond --timeout to finish.
M.GRACE_EXTRA = 2
-- After a cancel, results for aborted transfers must come back within this.
M.CANCEL_WAIT = 5

local ENGINE_SUMS = { "requests", "retried", "http_429", "http_5xx", "transport_errors",
    "token_refreshes", "pauses", "pause_seconds", "replayed" }

local function stderr(fmt, ...)
    io.stderr:write("cxone-bulk: ", fmt:format(...), "\n")
end

-- A run: everything one invocation owns, so helpers can share it without globals.
local Run = {}
Run.__index = Run

-- Usage errors: the message plus a pointer to --help.
local function usage_error(msg)
    stderr("%s", msg)
    io.stderr:write("Try 'cxone-bulk --help' for the options and examples.\n")
    return M.EXIT_USAGE
end

-- An engine message as the operator should read it: no module prefix, and the batch_update
-- option names it mentions spelled as this command's flags (base_url -> --base-url).
local function strip_label(err)
    local msg = tostring(err):gsub("^cxone%.bulk: ", ""):gsub("^task: ", "")
    msg = msg:gsub("option '([%w_]+)'", function(name) return "--" .. name:gsub("_", "-") end)
    return msg
end

-- Opens a file for writing ("-" is stdout). Returns handle or nil, message.
local function open_out(path, what)
    if path == "-" then return io.stdout end
    local fh, err = io.open(path, "wb")
    if not fh then return nil, ("cannot open %s file: %s"):format(what, err) end
    return fh
end

-- A message on stderr while the progress bar may be on screen.
function Run:say(fmt, ...)
    if self.progress then self.progress:clear() end
    stderr(fmt, ...)
end

function Run:warn(msg)
    self:say("warning: %s", msg)
end

-- Opens the input (a second time for --strict, which first reads it whole).
function Run:open_input(path, tee)
    local bulk = self.bulk
    return input.open(path, {
        format = self.opts.format, category = self.opts.category, subcategory = self.opts.subcategory,
        tee = tee, outcome_map = self.outcome_map,
        warn = function(msg) if not self.warned_input then self:warn(msg) end end,
        validate = function(task)
            local ok, err = bulk.validate_task(task)
            if ok then return true end
            return nil, strip_label(err)
        end,
    })
end

-- --strict: reads the whole input, stops at the first bad row. stdin is copied to a temporary
-- file on the way so that it can be read again for sending. Returns the path to send from and
-- the exact row count, or nil, message.
function Run:strict_pass()
    local path, tee = self.opts.input, nil
    if path == "-" then
        self.tmp = os.tmpname()
        local err
        tee, err = io.open(self.tmp, "wb")
        if not tee then return nil, ("cannot create a temporary copy of stdin: %s"):format(err) end
    end
    local inp, err = self:open_input(path, tee)
    if not inp then
        if tee then tee:close() end
        return nil, err
    end
    self.warned_input = true -- warnings were given on this first pass
    local rows = 0
    while true do
        local row = inp:next()
        if not row then break end
        if row.error then
            inp:close()
            if tee then tee:close() end
            return nil, ("line %d: %s (--strict: nothing was sent)"):format(row.line, row.error)
        end
        rows = rows + 1
    end
    if tee then
        -- The reader stops at the end of the data, so everything has gone through the tee.
        tee:close()
        path = self.tmp
    end
    inp:close()
    return path, rows
end

-- Builds the result record written for a row: the engine result (or a local one), plus the
-- input line and outcome. The engine's per-job index is dropped: `line` identifies the row.
local function result_for(row, r)
    local out = {}
    for k, v in pairs(r) do out[k] = v end
    out.index = nil
    out.line = row.line
    local task = row.task
    if task then
        out.contact_id = out.contact_id or task.contact_id
        out.category, out.subcategory = task.category, task.subcategory
    end
    return out
end

-- Records one finished row everywhere: journal first (it is what resume trusts), then results,
-- failed file and tally.
function Run:finish(row, r)
    local out = result_for(row, r)
    if self.journal and not r.cancelled and not r.invalid and not r.journal_skip then
        local rec = {}
        for k, v in pairs(out) do rec[k] = v end
        rec.batch_id = self.batch_id
        rec.given_key = row.task.idempotency_key
        self.journal:append(rec)
    end
    local shown = out
    if r.journal_skip then
        shown = {}
        for k, v in pairs(out) do shown[k] = v end
        shown.journal_skip, shown.skipped = nil, "journal"
    end
    self.results:write(shown)
    if not r.ok then self.failed:write(row.fields or {}, r.error) end
    self.tally:add({ ok = r.ok, skipped = r.journal_skip, invalid = r.invalid, cancelled = r.cancelled,
        status = r.status, error = r.error, line = row.line, contact_id = out.contact_id,
        replayed = r.replayed })
end

-- Rows that need no request: invalid ones, and ones the journal says already succeeded.
function Run:classify(row)
    if row.error then return "local" end
    if self.done_set and self.done_set[journal_mod.identity(row.task, self.batch_id)] then return "local" end
    return "send"
end

function Run:finish_local(row)
    if row.error then
        self.invalid_shown = self.invalid_shown + 1
        if self.invalid_shown <= M.SHOW_INVALID then
            self:say("line %d: %s", row.line, row.error)
        elseif self.invalid_shown == M.SHOW_INVALID + 1 then
            self:say("more invalid rows: see the results and failed files")
        end
        self:finish(row, { contact_id = row.task and row.task.contact_id or row.contact_id or "", ok = false, status = 0,
            error = row.error, attempts = 0, invalid = true })
    else
        self:finish(row, { contact_id = row.task.contact_id, ok = true, journal_skip = true })
    end
end

function Run:progress_state()
    local t = self.tally
    local paused = self.paused_until and self.paused_until - self.sys.monotime() or nil
    return { done = t.done, ok = t.ok, failed = t:not_ok(), skipped = t.skipped,
        retries = t.retries, paused = paused }
end

function Run:on_event(ev)
    if ev.type == "retry" then
        self.tally.retries = self.tally.retries + 1
    elseif ev.type == "pause" and ev.delay then
        self.paused_until = self.sys.monotime() + ev.delay
    end
end

-- --dry-run: every row is validated and described; nothing touches the network.
function Run:dry_run(inp)
    local describe = self.bulk.describer(self.engine_opts) -- options checked once, not per row
    while true do
        local row = inp:next()
        if not row then break end
        if self:classify(row) == "local" then
            self:finish_local(row)
        else
            local d, err = describe(row.task)
            if not d then
                row.error = strip_label(err)
                self:finish_local(row)
            else
                self.results:write({ line = row.line, contact_id = row.task.contact_id,
                    category = row.task.category, subcategory = row.task.subcategory,
                    method = d.method, url = d.url, idempotency_key = d.idempotency_key, body = d.body })
                self.tally:add({ ok = true, line = row.line })
            end
        end
        self.progress:update(self:progress_state())
    end
end

-- Handles a signal seen in the poll loop. The first stops new rows and lets what the engine
-- already holds finish (bounded); the second cancels in-flight requests.
function Run:on_signal(sig, job)
    self.signals = self.signals + 1
    self.interrupted = true
    self.feeder:stop()
    local now = self.sys.monotime()
    if self.signals == 1 then
        self.grace_deadline = now + (self.engine_opts.timeout or 15) + M.GRACE_EXTRA
        self:say("%s: no new rows; waiting for in-flight requests (again to abort them)", sig)
    elseif job and not self.cancelled_at then
        self:say("%s again: cancelling in-flight requests", sig)
        job:cancel()
        self.cancelled_at = now
    end
end

-- Runs one engine job fed by the feeder until it has returned every result. The feeder ends a
-- job's input when the next row must wait for a contact that is in flight (bulk.start's
-- iterator has no "not yet"); the caller then starts the next job, so rows for the same contact
-- stay in input order while everything else runs in parallel. Returns nil or a fatal message.
function Run:run_job()
    local feeder, sys = self.feeder, self.sys
    local offset = feeder.fed
    -- No job (and so no token request) unless at least one row is to be sent.
    local first = feeder:next_task()
    if not first then return nil end
    local function tasks()
        local t = first or feeder:next_task()
        first = nil
        if t == false then return nil end
        return t
    end
    local eopts = {}
    for k, v in pairs(self.engine_opts) do eopts[k] = v end
    eopts.on_event = function(ev) self:on_event(ev) end
    local ok, job = pcall(self.bulk.start, tasks, eopts)
    if not ok then return strip_label(job) end
    local fatal
    while not job:done() do
        local pok, results = pcall(job.poll, job, 0.1)
        if not pok then
            fatal = strip_label(results)
            break
        end
        for i = 1, #results do
            local r = results[i]
            local row = feeder:finish(offset + r.index)
            if row then self:finish(row, r) end
        end
        if self.journal then self.journal:tick() end
        if #results > 0 then self.results:flush() end
        self.progress:update(self:progress_state())
        local sig = sys.signal_caught()
        if sig then self:on_signal(sig, job) end
        local now = sys.monotime()
        if self.grace_deadline and not self.cancelled_at and now > self.grace_deadline then
            self:say("in-flight requests did not finish in time; cancelling them")
            job:cancel()
            self.cancelled_at = now
        end
        if self.cancelled_at and now > self.cancelled_at + M.CANCEL_WAIT then break end
    end
    local s = job:summary() or {}
    for _, k in ipairs(ENGINE_SUMS) do
        self.engine_sum[k] = (self.engine_sum[k] or 0) + (s[k] or 0)
    end
    fatal = fatal or job:error()
    job:close()
    return fatal
end

function Run:send()
    self.sys.signal_trap({ "INT", "TERM" })
    self.feeder = feeder_mod.new(function() return self.inp:next() end,
        function(row) return self:classify(row) end,
        function(row) self:finish_local(row) end)
    while not self.interrupted and not self.feeder:drained() do
        local fatal = self:run_job()
        if fatal then return fatal end
        local sig = self.sys.signal_caught()
        if sig then self:on_signal(sig, nil) end
    end
    return nil
end

-- Flushes and closes every output; returns false when something could not be written.
function Run:close_outputs()
    local ok = true
    local function try(f)
        local good, err = pcall(f)
        if not good then
            stderr("%s", tostring(err))
            ok = false
        end
    end
    if self.journal then try(function() self.journal:close() end) end
    try(function() self.results:flush() end)
    try(function() self.failed:flush() end)
    if self.results_fh and self.results_fh ~= io.stdout then self.results_fh:close() end
    if self.failed_fh then self.failed_fh:close() end
    if self.inp then self.inp:close() end
    if self.tmp then os.remove(self.tmp) end
    return ok
end

-- Everything after parsing: returns the exit status.
function Run:execute()
    local opts = self.opts
    local ok, bulk = pcall(require, "cxone.bulk")
    if not ok then
        stderr("cannot load the cxone.bulk engine: %s", tostring(bulk))
        return M.EXIT_USAGE
    end
    self.bulk, self.sys = bulk, bulk.sys
    self.engine_opts = args.engine_opts(opts)
    self.batch_id = opts["batch-id"] or ""
    if opts["outcome-map"] then
        local map, merr = require("cxone.bulk.outcomes").load_map(opts["outcome-map"])
        if not map then return usage_error(merr) end
        self.outcome_map = map -- rows are translated on input; the engine gets category/subcategory
    end
    -- Options are checked by the engine itself (URLs, ranges) before anything is read or sent.
    local dok, derr = pcall(bulk.describe, { contact_id = "x", category = "x", subcategory = "x" }, self.engine_opts)
    if not dok then return usage_error(strip_label(derr)) end
    if not opts["dry-run"] then
        for _, name in ipairs({ "CXONE_CLIENT_ID", "CXONE_CLIENT_SECRET" }) do
            local v = os.getenv(name)
            if not v or v == "" then
                stderr("%s is not set: credentials come only from CXONE_CLIENT_ID and CXONE_CLIENT_SECRET", name)
                return M.EXIT_USAGE
            end
        end
    end

    local path, total = opts.input, nil
    if opts.strict then
        local p, n = self:strict_pass()
        if not p then
            stderr("%s", n)
            if self.tmp then os.remove(self.tmp) end
            return M.EXIT_USAGE
        end
        path, total = p, n
    end
    local inp, ierr = self:open_input(path, nil)
    if not inp then
        stderr("%s", ierr)
        if self.tmp then os.remove(self.tmp) end
        return M.EXIT_USAGE
    end
    self.inp = inp
    total = total or input.estimate_rows(path, inp.format)

    if opts.journal then
        local done, info = journal_mod.load(opts.journal, function(m) self:warn(m) end)
        if not done then
            stderr("%s", info)
            return M.EXIT_USAGE
        end
        self.done_set = done
        if info.torn then self:warn(("journal %s: ignored a torn last line (interrupted write)"):format(opts.journal)) end
        if info.succeeded > 0 and not opts.quiet then
            stderr("journal %s: %d rows already succeeded and will be skipped", opts.journal, info.succeeded)
        end
        if not opts["dry-run"] then
            local j, jerr = journal_mod.open(opts.journal, self.sys.fsync, self.sys.monotime)
            if not j then
                stderr("%s", jerr)
                return M.EXIT_USAGE
            end
            self.journal = j
        end
    end

    local out_path = opts.output
    if not out_path and (opts["dry-run"] or not self.sys.isatty(io.stdout)) then out_path = "-" end
    if out_path then
        local fh, err = open_out(out_path, "results")
        if not fh then
            stderr("%s", err)
            return M.EXIT_USAGE
        end
        self.results_fh = fh
    end
    self.results = output.results(self.results_fh)
    if opts.failed then
        local fh, err = open_out(opts.failed, "failed")
        if not fh then
            stderr("%s", err)
            return M.EXIT_USAGE
        end
        self.failed_fh = fh
    end
    local header, error_index, width = inp:failed_columns()
    self.failed = output.failed(self.failed_fh, header, error_index, width)

    self.tally = summary_mod.new()
    self.engine_sum = {}
    local tty = self.sys.isatty(io.stderr)
    self.progress = progress_mod.new({ out = io.stderr, tty = tty, quiet = opts.quiet,
        now = self.sys.monotime, total = total,
        width = (tty and not opts.quiet) and progress_mod.terminal_width() or 80 })
    local started = self.sys.monotime()

    local fatal
    local rok, rerr = pcall(function()
        if opts["dry-run"] then
            self:dry_run(inp)
        else
            fatal = self:send()
        end
    end)
    if not rok then fatal = tostring(rerr) end
    self.progress:finish(self:progress_state())
    local wrote = self:close_outputs()
    local elapsed = self.sys.monotime() - started
    if not opts.quiet then
        local unwritten
        if not self.results_fh then
            unwritten = "(results were not written: stdout is a terminal; use --output FILE or --output -)"
        end
        io.stderr:write(self.tally:render(not opts["dry-run"] and self.engine_sum or nil, elapsed,
            { dry_run = opts["dry-run"], interrupted = self.interrupted, unwritten = unwritten }))
    end
    if fatal then
        stderr("stopped: %s", fatal)
        return M.EXIT_USAGE
    end
    if self.interrupted then return M.EXIT_INTERRUPTED end
    if not wrote then return M.EXIT_FAILED end
    if self.tally:not_ok() > 0 then return M.EXIT_FAILED end
    return M.EXIT_OK
end

-- Entry point: argv is the array of command-line arguments. Returns the exit status.
function M.main(argv)
    local opts, err = args.parse(argv)
    if not opts then return usage_error(err) end
    if opts.help then
        io.stdout:write(args.USAGE)
        return M.EXIT_OK
    end
    if opts.version then
        local ok, bulk = pcall(require, "cxone.bulk")
        io.stdout:write("cxone-bulk ", ok and bulk._VERSION or "(engine not found)", "\n")
        return M.EXIT_OK
    end
    local run = setmetatable({ opts = opts, signals = 0, invalid_shown = 0 }, Run)
    local status = run:execute()
    if run.tmp then os.remove(run.tmp) end -- the --strict copy of stdin, whatever happened
    return status
end

return M
