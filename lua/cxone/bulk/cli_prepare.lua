--- cxone.bulk.cli_prepare: the CLI run's preparing steps (methods of cxone.bulk.cli_class's Run).
-- Every check that can refuse the run happens before anything is sent or written; each step
-- returns true, or nil and the message to print (exit 2, or 130 when interrupted).
local args = require "cxone.bulk.args"
local input = require "cxone.bulk.input"
local journal_mod = require "cxone.bulk.journal"
local progress_mod = require "cxone.bulk.progress"
local summary_mod = require "cxone.bulk.summary"
local paths_mod = require "cxone.bulk.paths"
local watch_mod = require "cxone.bulk.watch"
local probe_mod = require "cxone.bulk.outcome_probe" -- its missing_credential
local printable = require("cxone.bulk.text").printable
local safety = require "cxone.bulk.safety_cli" -- --plan, --undo-file, --undo, --canary, the auto-halt
local observe_mod = require "cxone.bulk.observe" -- --metrics-file, --report

local K = require "cxone.bulk.cli_class"
local Run, M, stderr, strip_label = K.Run, K, K.stderr, K.strip_label

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
    self.stop.interrupted, self.stop.note = true, ("%s during %s: nothing was sent"):format(sig, what)
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
    if self.stop.interrupted then return nil, self.stop.note end
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
    self.out.path = out_path
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
        self.out.journal, st = journal_mod.open(path, self.sys, self.input_name)
        if not self.out.journal then st, err = nil, st end
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
    if self.out.journal then
        run.input = self.input_name
        run.started = os.date("!%Y-%m-%dT%H:%M:%SZ")
        run.params = observe_mod.param_map(self:params())
        local ok, jerr = pcall(self.out.journal.begin, self.out.journal, run)
        if not ok then return nil, jerr end
    end
    return true
end

function Run:open_outputs()
    local ok, err = self.out:open(self.inp:failed_layout()) -- results, failed, summary
    if not ok then return nil, err end
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
    self.job_summary = {}
    local tty = self.sys.isatty(io.stderr)
    -- Results lines on the same terminal as the bar would be cut into by its redraws: there the
    -- lines themselves show the progress, and the bar stays off (the summary is still printed).
    local lines_on_tty = tty and self.out.results_fh == io.stdout and self.sys.isatty(io.stdout)
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
            return nil, self.stop.note
        end
    end
    return true
end
