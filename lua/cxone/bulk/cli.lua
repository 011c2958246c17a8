-- cxone-bulk: the operator command line on top of cxone.bulk.
--
-- Reads rows (CSV, JSON Lines or ids) and pushes them into ONE engine job for the whole run
-- (bulk.open + job:submit), so the run has one limiter, one burst and one token however its rows
-- repeat contacts. The feeder keeps rows for the same contact in input order. Results (JSONL),
-- failed rows (CSV) and the resume journal are written as results arrive. Signals, a closed
-- stdout and write errors stop the intake of rows at once; what is in flight is finished and
-- recorded before the process exits.
local args = require "cxone.bulk.args"
local input = require "cxone.bulk.input"
local output = require "cxone.bulk.output"
local journal_mod = require "cxone.bulk.journal"
local progress_mod = require "cxone.bulk.progress"
local summary_mod = require "cxone.bulk.summary"
local feeder_mod = require "cxone.bulk.feeder"
local paths_mod = require "cxone.bulk.paths"
local rows_mod = require "cxone.bulk.rows"
local watch_mod = require "cxone.bulk.watch"
local probe_mod = require "cxone.bulk.outcome_probe" -- its missing_credential
local options = require "cxone.bulk.options"
local profiles = require "cxone.bulk.profiles"
local printable = require("cxone.bulk.text").printable
local unsent_mod = require "cxone.bulk.unsent"
local shorten = require("cxone.bulk.text").shorten
local safety = require "cxone.bulk.safety_cli" -- --plan, --undo-file, --undo, --canary, the auto-halt
local cjson = require "cjson"
local observe_mod = require "cxone.bulk.observe" -- --metrics-file, --report

local M = {}

M.EXIT_OK, M.EXIT_FAILED, M.EXIT_USAGE, M.EXIT_OUTPUT, M.EXIT_INTERRUPTED = 0, 1, 2, 4, 130
-- The API (or the shared limit's Redis) could not be reached, or refused our credentials.
M.EXIT_UNREACHABLE = 3
-- The auto-halt stopped a run going wrong (--max-failure-rate); a canary was not confirmed.
M.EXIT_HALTED, M.EXIT_CANARY = 5, 6
-- The exit status of a run stopped by a whole-batch error, by the error's kind (docs/api.md):
-- the one place a kind becomes an exit code. Kinds not listed stop with EXIT_USAGE.
M.EXIT_BY_KIND = {
    network = M.EXIT_UNREACHABLE, tls = M.EXIT_UNREACHABLE, auth = M.EXIT_UNREACHABLE,
    permission = M.EXIT_UNREACHABLE, limiter = M.EXIT_UNREACHABLE, api = M.EXIT_UNREACHABLE,
    server = M.EXIT_UNREACHABLE, rate_limited = M.EXIT_UNREACHABLE,
    output = M.EXIT_OUTPUT, options = M.EXIT_USAGE, input = M.EXIT_USAGE,
    halted = M.EXIT_HALTED, canary = M.EXIT_CANARY,
}
-- Invalid rows echoed on stderr as they are read; the rest are only in the outputs.
M.SHOW_INVALID = 10
-- After an interrupt, in-flight requests get this long beyond --timeout to finish.
M.GRACE_EXTRA = 2
-- After a cancel, results for aborted transfers must come back within this.
M.CANCEL_WAIT = 5
-- Rows that need no request (invalid, already journaled) read per turn of the loop, so a long
-- stretch of them never delays a signal, a result or the progress line.
M.FEED_BUDGET = 256

-- Longest message line, in bytes: whatever a message quotes (a server's answer, a header of
-- 100,000 columns), it stays readable and is cut between words.
M.MESSAGE_MAX = 1000

local function stderr(fmt, ...)
    io.stderr:write("cxone-bulk: ", shorten(fmt:format(...), M.MESSAGE_MAX), "\n")
end

-- A run: everything one invocation owns, so helpers can share it without globals.
local Run = {}
Run.__index = Run

-- The flag of an engine option, or nil when the command has none for it.
local function flag_of(name)
    local d = options.BY_NAME[name]
    return d and d.flag and ("--" .. d.flag) or nil
end

-- An engine message as the operator should read it: no module prefix, and the batch_update
-- option names it mentions spelled as this command's flags ("option 'base_url'" -> --base-url,
-- "set allow_http = true" -> pass --allow-http, "give ca_file = \"X\"" -> pass --ca-file X).
-- Names without a flag are left as they are.
local function strip_label(err)
    local msg = tostring(err):gsub("^cxone%.bulk: ", ""):gsub("^task: ", "")
    msg = msg:gsub("option '([%w_]+)'", function(name) return flag_of(name) end)
    msg = msg:gsub("set ([%w_]+) = true", function(name)
        local f = flag_of(name)
        return f and ("pass " .. f) or nil
    end)
    msg = msg:gsub('give ([%w_]+) = "([^"]*)"', function(name, v)
        local f = flag_of(name)
        return f and ("pass " .. f .. " " .. v) or nil
    end)
    msg = msg:gsub("%f[%w_](%l+_[%w_]+)%f[^%w_]", function(name) return flag_of(name) end)
    return msg
end
M.strip_label = strip_label

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

---------------------------------------------------------------------------------------------
-- Preparing: every check that can refuse the run happens before anything is sent or written.
-- Each step returns true, or nil and the message to print (exit 2, or 130 when interrupted).
---------------------------------------------------------------------------------------------

-- Opens the input (a second time for --strict, which first reads it whole).
function Run:open_input(path, tee)
    local iopts = args.input_opts(self.opts) -- --delimiter, --column, --encoding
    iopts.format, iopts.category, iopts.subcategory = self.opts.format, self.opts.category, self.opts.subcategory
    iopts.tee, iopts.outcome_map, iopts.api = tee, self.outcome_map, self.engine_opts.api
    iopts.warn = function(msg) if not self.warned_input then self:warn(msg) end end
    -- Rows are checked by the library's own validator (cxone.bulk.validate) as they are read.
    return input.open(path, iopts)
end

-- A signal seen while preparing: the run ends as interrupted (exit 130), nothing sent.
function Run:interrupted_while(what)
    local sig = self.sys.signal_caught()
    if not sig then return false end
    self.interrupted = true
    self.prepare_interrupted = ("%s during %s: nothing was sent"):format(sig, what)
    return true
end

-- --strict: reads the whole input, stops at the first bad row. stdin is copied to a temporary
-- file on the way so that it can be read again for sending. Sets self.send_path, self.total.
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
    local rows, bad = 0, nil
    while true do
        if rows % M.FEED_BUDGET == 0 and self:interrupted_while("the --strict check") then break end
        local row = inp:next()
        if not row then break end
        if row.error then
            bad = ("line %d: %s (--strict: nothing was sent)"):format(row.line, row.error)
            break
        end
        rows = rows + 1
    end
    inp:close()
    if tee then
        -- The reader stops at the end of the data, so everything has gone through the tee.
        local ok, terr = tee:close()
        if not ok and not bad then bad = ("cannot write the temporary copy of stdin: %s"):format(terr) end
        path = self.tmp
    end
    if self.interrupted then return nil, self.prepare_interrupted end
    if bad then return nil, bad end
    self.send_path, self.total = path, rows
    return true
end

function Run:load_engine()
    local ok, bulk = pcall(require, "cxone.bulk")
    if not ok then return nil, ("cannot load the cxone.bulk engine: %s"):format(tostring(bulk)) end
    self.bulk, self.sys = bulk, bulk.sys
    -- Signals are ours from here on: no Lua traceback, whatever phase they hit.
    -- HUP too: a closed ssh session or terminal must not kill a run between two journal lines.
    self.sys.signal_trap({ "INT", "TERM", "HUP" })
    -- A closed stdout (| head) makes writes fail with EPIPE instead of killing the process, so the
    -- failed file, the journal and the summary are still written.
    self.sys.ignore_signal("PIPE")
    -- Likewise a file-size limit (ulimit -f) is a write error that names the file, not a crash.
    self.sys.ignore_signal("XFSZ")
    return true
end

-- A password in --shared-limit would be on the command line, where ps shows it to every user.
local function shared_limit_password(url)
    local userinfo = url and url:match("^%a[%w+.-]*://([^/?#]*)@")
    return userinfo ~= nil and userinfo:find(":", 1, true) ~= nil
end

function Run:check_options()
    local opts = self.opts
    if shared_limit_password(opts["shared-limit"]) then
        return nil, "--shared-limit must not carry a password (redis://user:PASSWORD@...): the command line "
            .. "is visible to every user of the machine (ps); set CXONE_REDIS_PASSWORD instead"
    end
    self.engine_opts = args.engine_opts(opts)
    self.batch_id = opts["batch-id"] or ""
    if opts["outcome-map"] then
        local map, merr = require("cxone.bulk.outcomes").load_map(opts["outcome-map"])
        if not map then return nil, merr end
        self.outcome_map = map -- rows are translated on input; the engine gets category/subcategory
    end
    local sok, serr = safety.check(self)
    if not sok then return nil, serr end
    -- Options are checked by the engine itself (URLs, ranges) before anything is read or sent.
    -- A dry run needs no target: without one its URLs read {base_url}.
    local ok, target = pcall(self.bulk.target, self.engine_opts, opts["dry-run"])
    if not ok then return nil, strip_label(target) end
    self.target = target
    local missing = not opts["dry-run"] and probe_mod.missing_credential(self.engine_opts.api)
    if missing then
        return nil, ("%s is not set: credentials come only from CXONE_CLIENT_ID and "
            .. "CXONE_CLIENT_SECRET"):format(missing)
    end
    return true
end

-- Refuses outputs that are the input or each other, before anything is opened for writing.
function Run:check_paths()
    local opts = self.opts
    local out_path = opts.output
    if not out_path and (opts["dry-run"] or not self.sys.isatty(io.stdout)) then out_path = "-" end
    self.out_path = out_path
    self.observe = observe_mod.new(opts, function(...) self:say(...) end)
    local entries = {
        { flag = "input", path = opts.input, role = "input" },
        { flag = "--output", path = out_path },
        { flag = "--failed", path = opts.failed },
        { flag = "--journal", path = opts.journal, keeps = true },
        { flag = "--summary-json", path = opts["summary-json"] },
    }
    for _, e in ipairs(safety.paths(self)) do entries[#entries + 1] = e end
    local extra, err = self.observe:path_checks()
    if not extra then return nil, err end
    for _, c in ipairs(extra) do entries[#entries + 1] = c end
    return paths_mod.check(self.sys, entries)
end

-- The run's parameters (never a secret) for the report, --summary-json and the journal header.
function Run:params()
    self.run_params = self.run_params or observe_mod.params(self.engine_opts, self.target, {
        { "input", self.input_name }, { "started", os.date("!%Y-%m-%dT%H:%M:%SZ") }, { "dry_run", self.opts["dry-run"] } })
    return self.run_params
end

function Run:open_source()
    local path = self.opts.input
    if self.opts.strict then
        local ok, err = self:strict_pass()
        if not ok then return nil, err end
        path = self.send_path
    end
    local inp, ierr = self:open_input(path, nil)
    if not inp then return nil, ierr end
    self.inp = inp
    self.total = self.total or input.estimate_rows(path, inp.format)
    if self.opts.input == "-" then
        self.input_name = "-"
    else
        self.input_name = self.sys.realpath(self.opts.input) or self.opts.input
    end
    return true
end

function Run:open_journal()
    local opts, path = self.opts, self.opts.journal
    if not path then return true end
    local st, err
    if opts["dry-run"] then
        st, err = journal_mod.load(path, self.input_name, self.sys)
    else
        self.journal, st = journal_mod.open(path, self.sys, self.input_name)
        if not self.journal then st, err = nil, st end
    end
    if not st then return nil, err end
    self.jstate = st
    local run = { batch_id = self.batch_id, base_url = self.target.base_url, client_id = self.target.client_id }
    local diff = st:mismatches(run)
    if self.target.placeholder then -- a dry run without a base URL cannot disagree about it
        for i = #diff, 1, -1 do
            if diff[i]:find("^base URL") then table.remove(diff, i) end
        end
    end
    if #diff > 0 and opts["journal-mismatch"] ~= "ignore" then
        return nil, ("journal %s was written by another batch: %s. Its successes are never re-applied, "
            .. "but mixing batches in one journal is most likely a mistake: use another --journal, or "
            .. "--journal-mismatch=ignore to continue anyway"):format(path, table.concat(diff, ", "))
    end
    if st.torn then self:warn(("journal %s: ignored a torn last line (interrupted write)"):format(path)) end
    if st.succeeded > 0 and not opts.quiet then
        stderr("journal %s: %d updates recorded as applied; rows repeating them (or superseded by a "
            .. "later applied row) are skipped", path, st.succeeded)
    end
    if self.journal then
        run.input = self.input_name
        run.started = os.date("!%Y-%m-%dT%H:%M:%SZ")
        run.params = observe_mod.param_map(self:params())
        local ok, jerr = pcall(self.journal.begin, self.journal, run)
        if not ok then return nil, jerr end
    end
    return true
end

function Run:open_outputs()
    local opts = self.opts
    if self.out_path then
        local fh, err = open_out(self.out_path, "results")
        if not fh then return nil, err end
        self.results_fh = fh
    end
    local name = self.out_path == "-" and "stdout" or self.out_path
    self.results = output.results(self.results_fh, name)
    if opts.failed then
        local fh, err = open_out(opts.failed, "failed")
        if not fh then return nil, err end
        self.failed_fh = fh
    end
    if opts["summary-json"] then
        -- Opened now, so that an unwritable path refuses the run before anything is sent.
        local fh, err = open_out(opts["summary-json"], "summary")
        if not fh then return nil, err end
        self.summary_fh = fh
    end
    local ok, failed = pcall(output.failed, self.failed_fh, self.inp:failed_layout(), opts.failed)
    if not ok then return nil, failed end
    self.failed = failed
    local opened, oerr = self.observe:open(self:params(), self.sys) -- --report, --metrics-file
    if not opened then return nil, oerr end
    return safety.open(self)
end

-- "https://host (client id)" as printed: what the run talks to, escaped for the terminal.
function Run:target_text()
    local t = self.target
    if t.placeholder then
        return ("none given (--base-url or $CXONE_BASE_URL): the URLs show %s in its place"):format(t.base_url)
    end
    return ("%s (client %s)"):format(printable(t.base_url), t.client_id and printable(t.client_id) or "not set")
end

function Run:start_display()
    local opts = self.opts
    self.tally = summary_mod.new()
    self.engine_sum = {}
    local tty = self.sys.isatty(io.stderr)
    -- Results lines on the same terminal as the bar would be cut into by its redraws: there the
    -- lines themselves show the progress, and the bar stays off (the summary is still printed).
    local lines_on_tty = tty and self.results_fh == io.stdout and self.sys.isatty(io.stdout)
    if not opts.quiet then stderr("target: %s", self:target_text()) end
    self.limit, self.watch = progress_mod.limit_of(self.engine_opts), watch_mod.new()
    self.progress = progress_mod.new({ out = io.stderr, tty = tty, quiet = opts.quiet or lines_on_tty,
        now = self.sys.monotime, total = self.total, limit = self.limit,
        width = (tty and not opts.quiet) and progress_mod.terminal_width() or 80 })
    return true
end

local PREPARE = { "load_engine", "check_options", "check_paths", "open_source", "open_journal",
    "open_outputs", "start_display" }

function Run:prepare()
    for _, step in ipairs(PREPARE) do
        local ok, err = self[step](self)
        if not ok then return nil, err end
        if self.sys and step ~= "load_engine" and self:interrupted_while("start-up") then
            return nil, self.prepare_interrupted
        end
    end
    return true
end

---------------------------------------------------------------------------------------------
-- Running
---------------------------------------------------------------------------------------------

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

-- Runs one write; a failure stops the intake of rows and is reported once at the end.
function Run:write_out(what, f)
    if self.dead_outputs[what] then return end
    local ok, err = pcall(f)
    if ok then return end
    self.dead_outputs[what] = true
    local msg = tostring(err)
    if not self.write_error then
        self.write_error = msg
        self:say("%s; no new rows are sent", msg)
    end
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
    self:write_out("results", function() self.results:write(shown) end)
    if not r.ok then
        self:write_out("failed", function() self.failed:write(row.fields or {}, out.error, rows_mod.state(row, r)) end)
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

-- No new row is sent from now on; the job finishes what it holds.
function Run:stop_intake()
    if self.stopping then return end
    self.stopping = true
    self.pending = nil
    if self.feeder then self.feeder:stop() end
    if self.job then self.job:close_input() end
end

-- Handles a trapped signal. The first stops new rows and lets what the engine already holds
-- finish (bounded); the second cancels in-flight requests.
function Run:check_signal()
    local sig = self.sys.signal_caught()
    if not sig then return end
    self.signals = self.signals + 1
    self.stop_signal = self.stop_signal or sig
    self.interrupted = true
    -- Rows the engine holds: handed out by the feeder, less the one waiting to be submitted.
    local n = self.feeder and (self.feeder.inflight_count - (self.pending and 1 or 0)) or 0
    self:stop_intake()
    local now, job = self.sys.monotime(), self.job
    if self.signals == 1 then
        self.grace_deadline = now + (self.engine_opts.timeout or 15) + M.GRACE_EXTRA
        if job and n > 0 then
            self:say("%s: no new rows are sent; press Ctrl-C again to abort the %d request%s in flight",
                sig, n, n == 1 and "" or "s")
        elseif job then
            self:say("%s: no new rows are sent; no request is in flight", sig)
        end
    elseif job and not self.cancelled_at then
        self:say("%s again: cancelling in-flight requests", sig)
        job:cancel()
        self.cancelled_at = now
    end
end

-- Opens the run's one job, the first time a row is to be sent (no token request when nothing
-- is to be sent). Returns true or nil, message.
function Run:open_job()
    local eopts = {}
    for k, v in pairs(self.engine_opts) do eopts[k] = v end
    eopts.on_event = function(ev) self:on_event(ev) end
    eopts.journal = self.journal -- opened, checked and headed in open_journal
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
    while not self.stopping do
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
                self.fatal, self.fatal_kind = err, kind
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
    for _, o in ipairs({ { "results", self.results_fh, self.out_path }, { "failed", self.failed_fh, self.opts.failed } }) do
        local what, fh, path = o[1], o[2], o[3]
        if fh and fh ~= io.stdout and self.sys.linked(fh) == false then
            self:write_out(what, function()
                error(("cannot write the %s file %s: it was removed while the run was writing it"):format(what, path), 0)
            end)
        end
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
        self:write_out("results", function() self.results:flush() end)
        safety.flush(self)
    end
end

-- Bounds the wind-down after a signal: cancel after the grace period, give up after CANCEL_WAIT.
function Run:wind_down()
    local now, job = self.sys.monotime(), self.job
    if self.grace_deadline and not self.cancelled_at and now > self.grace_deadline then
        self:say("in-flight requests did not finish in time; cancelling them")
        job:cancel()
        self.cancelled_at = now
    end
    return self.cancelled_at and now > self.cancelled_at + M.CANCEL_WAIT
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
            local wait = (self.feeder.budget_hit and not self.stopping) and 0 or 0.1
            local ok, results = pcall(job.poll, job, wait)
            if not ok then
                self.fatal = strip_label(results)
                break
            end
            self:take_results(results)
            local fatal, kind = job:error()
            if fatal and not self.fatal then
                self.fatal, self.fatal_kind = strip_label(fatal), kind
                self:stop_intake()
            end
            if job:done() or self:wind_down() then break end
        elseif self.stopping or self.input_done then
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
        self.engine_sum[k] = s[k] or 0
    end
    self.engine_sum.rate_found = s.rate_found -- rate = auto: the ceiling found (nil: none)
    self.job = nil
    job:close()
    self.engine_sum.rate_found = (job:summary() or {}).rate_found
    self.observe:job_closed(job) -- its final metrics
end

---------------------------------------------------------------------------------------------
-- Reporting and cleaning up
---------------------------------------------------------------------------------------------

-- After an early stop: every row without a result gets one (not sent), and the run says how to
-- finish the batch (lua/cxone/bulk/unsent.lua).
function Run:settle_unsent()
    local by_kind = { canary = "after its canary", halted = "halted: --max-failure-rate" }
    local why = self.stop_signal or (self.fatal and (by_kind[self.fatal_kind] or "a whole-batch error"))
        or "an output could not be written"
    local ok, n, unread = pcall(unsent_mod.settle, self, why)
    if ok then self.unsent_lines = unsent_mod.lines(self, n, unread) end
end

-- Flushes and closes every output, noting the first that could not be written. Idempotent.
function Run:cleanup()
    if self.cleaned then return end
    self.cleaned = true
    if self.journal then
        local sent = (self.engine_sum or {}).requests or 0 -- 0: no request can have reached the API
        self:write_out("journal", function()
            self.journal:finish(sent)
            self.journal:close()
        end)
    end
    if self.results then self:write_out("results", function() self.results:close() end) end
    safety.close(self)
    if self.failed then self:write_out("failed", function() self.failed:close() end) end
    if self.results_fh and self.results_fh ~= io.stdout and not self.results then self.results_fh:close() end
    if self.inp then self.inp:close() end
    if self.tmp then os.remove(self.tmp) end
end

-- A dry run with --validate-outcomes: whether the outcomes were checked (nil otherwise).
function Run:outcomes_checked()
    if not (self.opts["dry-run"] and self.engine_opts.validate_outcomes) then return nil end
    return self.unchecked == nil
end

-- --summary-json: the summary and the exit code, for scripts and CI. Returns true or nil, message.
function Run:write_summary_json(elapsed, status)
    local fh = self.summary_fh
    self.summary_fh = nil
    local t = self.tally:to_table(not self.opts["dry-run"] and self.engine_sum or nil, elapsed, {
        dry_run = self.opts["dry-run"], interrupted = self.interrupted, exit_code = status,
        target = { base_url = self.target.base_url, client_id = self.target.client_id },
        error = self.fatal or self.write_error, error_kind = self.fatal and (self.fatal_kind or "other") or nil,
        limit = self.limit, outcomes_checked = self:outcomes_checked(),
        params = observe_mod.param_map(self:params()), rate_found = self.engine_sum and self.engine_sum.rate_found,
    })
    safety.summary(self, t)
    -- lua-cjson escapes every "/" (valid, but noisy in URLs): each "\\/" is an escaped slash.
    local ok, err = fh:write((cjson.encode(t):gsub("\\/", "/")), "\n")
    if ok then ok, err = fh:close() else fh:close() end
    if not ok then return nil, ("cannot write the summary file %s: %s"):format(self.opts["summary-json"], err) end
    return true
end

function Run:report(elapsed)
    local opts = self.opts
    if not opts.quiet then
        local unwritten
        if not self.results_fh then
            unwritten = "(results were not written: stdout is a terminal; use --output FILE or --output -)"
        end
        io.stderr:write(self.tally:render(not opts["dry-run"] and self.engine_sum or nil, elapsed,
            { dry_run = opts["dry-run"], interrupted = self.interrupted, unwritten = unwritten,
              target = self:target_text(), limit = self.limit, unchecked = self.unchecked }))
    end
    for _, line in ipairs(safety.report(self)) do stderr("%s", line) end
    for _, line in ipairs(self.unsent_lines or {}) do stderr("%s", line) end
    local status = self:exit_status()
    local wrote, werr = self.observe:finish(self.engine_sum) -- --metrics-file, --report
    if not wrote then
        stderr("%s", werr)
        if status == M.EXIT_OK or status == M.EXIT_FAILED then status = M.EXIT_OUTPUT end
    end
    if self.summary_fh then
        local ok, err = self:write_summary_json(elapsed, status)
        if not ok then
            stderr("%s", err)
            if status == M.EXIT_OK or status == M.EXIT_FAILED then status = M.EXIT_OUTPUT end
        end
    end
    return status
end

-- The exit status of a run that started, printing why it stopped early.
function Run:exit_status()
    if self.fatal then
        stderr("stopped: %s", self.fatal)
        return M.EXIT_BY_KIND[self.fatal_kind] or M.EXIT_USAGE
    end
    if self.write_error then
        stderr("stopped: %s", self.write_error)
        return M.EXIT_OUTPUT
    end
    if self.interrupted then return M.EXIT_INTERRUPTED end
    if self.tally:not_ok() > 0 then return M.EXIT_FAILED end
    return M.EXIT_OK
end

-- Everything after parsing: prepare -> run -> report, cleanup in one place. Returns the status.
function Run:execute()
    local ok, err = self:prepare()
    if not ok then
        self:cleanup()
        if self.summary_fh then
            -- The run never started: no summary file rather than an empty one.
            self.summary_fh:close()
            self.summary_fh = nil
            os.remove(self.opts["summary-json"])
        end
        if self.observe then self.observe:abandon() end
        stderr("%s", err)
        if self.interrupted then return M.EXIT_INTERRUPTED end
        if self.write_error then return M.EXIT_OUTPUT end
        io.stderr:write("Try 'cxone-bulk --help' for the options and examples.\n")
        return M.EXIT_USAGE
    end
    local started = self.sys.monotime()
    local rok, rerr = pcall(function()
        if self.opts["dry-run"] then self:dry_run() else self:send() end
    end)
    if not rok then self.fatal = tostring(rerr) end
    if self.stopping and not self.opts["dry-run"] then self:settle_unsent() end
    self.progress:finish(self:progress_state())
    self:cleanup()
    return self:report(self.sys.monotime() - started)
end

-- Entry point: argv is the array of command-line arguments. Returns the exit status.
function M.main(argv)
    local opts, err = args.parse(argv)
    if not opts then
        stderr("%s", err)
        io.stderr:write("Try 'cxone-bulk --help' for the options and examples.\n")
        return M.EXIT_USAGE
    end
    if opts.help then
        io.stdout:write(args.usage())
        return M.EXIT_OK
    end
    if opts.version then
        local ok, bulk = pcall(require, "cxone.bulk")
        io.stdout:write("cxone-bulk ", ok and bulk._VERSION or "(engine not found)", "\n")
        return M.EXIT_OK
    end
    local run = setmetatable({ opts = opts, argv = argv, signals = 0, invalid_shown = 0, dead_outputs = {} }, Run)
    local status = run:execute()
    run:cleanup() -- whatever happened: the --strict copy of stdin is removed, outputs closed
    return status
end

return M
