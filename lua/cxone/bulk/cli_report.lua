--- cxone.bulk.cli_report: the end of a CLI run (methods of cxone.bulk.cli_class's Run): rows left
-- unsent settled, outputs closed, the summary (screen and --summary-json) and the exit status.
local unsent_mod = require "cxone.bulk.unsent"
local safety = require "cxone.bulk.safety_cli"
local observe_mod = require "cxone.bulk.observe"
local cjson = require "cjson"

local K = require "cxone.bulk.cli_class"
local Run, M, stderr = K.Run, K, K.stderr


-- After an early stop: every row without a result gets one (not sent), and the run says how to
-- finish the batch (lua/cxone/bulk/unsent.lua).
function Run:settle_unsent()
    local why = self.stop:reason({ canary = "after its canary", halted = "halted: --max-failure-rate" })
    local ok, n, unread = pcall(unsent_mod.settle, self, why)
    if ok then self.unsent_lines = unsent_mod.lines(self, n, unread) end
end

-- Flushes and closes every output, noting the first that could not be written. Idempotent.
function Run:cleanup()
    if self.cleaned then return end
    self.cleaned = true
    local sent = (self.job_summary or {}).requests or 0 -- 0: no request can have reached the API
    local function guard(what, f) self:write_out(what, f) end
    self.out:close_journal_and_results(sent, guard)
    safety.close(self)
    self.out:close_rest(guard)
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
    local fh = self.out:take_summary()
    local t = self.tally:to_table(not self.opts["dry-run"] and self.job_summary or nil, elapsed, {
        dry_run = self.opts["dry-run"], interrupted = self.stop.interrupted, exit_code = status,
        target = { base_url = self.target.base_url, client_id = self.target.client_id },
        error = self.stop.fatal or self.stop.write_error, error_kind = self.stop.fatal and (self.stop.kind or "other") or nil,
        limit = self.limit, outcomes_checked = self:outcomes_checked(),
        params = observe_mod.param_map(self:params()), rate_found = self.job_summary and self.job_summary.rate_found,
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
        if not self.out.results_fh then
            unwritten = "(results were not written: stdout is a terminal; use --output FILE or --output -)"
        end
        io.stderr:write(self.tally:render(not opts["dry-run"] and self.job_summary or nil, elapsed,
            { dry_run = opts["dry-run"], interrupted = self.stop.interrupted, unwritten = unwritten,
              target = self:target_text(), limit = self.limit, unchecked = self.unchecked }))
    end
    for _, line in ipairs(safety.report(self)) do stderr("%s", line) end
    for _, line in ipairs(self.unsent_lines or {}) do stderr("%s", line) end
    local status = self:exit_status()
    local wrote, werr = self.observe:finish(self.job_summary) -- --metrics-file, --report
    if not wrote then
        stderr("%s", werr)
        if status == M.EXIT_OK or status == M.EXIT_FAILED then status = M.EXIT_OUTPUT end
    end
    if self.out.summary_fh then
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
    local status, why = self.stop:exit_status(M, self.tally:not_ok())
    if why then stderr("%s", why) end
    return status
end


-- Everything after parsing: prepare -> run -> report, cleanup in one place. Returns the status.
function Run:execute()
    local ok, err = self:prepare()
    if not ok then
        self:cleanup()
        self.out:drop_summary() -- the run never started: no summary file rather than an empty one
        if self.observe then self.observe:abandon() end
        stderr("%s", err)
        if self.stop.interrupted then return M.EXIT_INTERRUPTED end
        if self.stop.write_error then return M.EXIT_OUTPUT end
        io.stderr:write("Try 'cxone-bulk --help' for the options and examples.\n")
        return M.EXIT_USAGE
    end
    local started = self.sys.monotime()
    local rok, rerr = pcall(function()
        if self.opts["dry-run"] then self:dry_run() else self:send() end
    end)
    if not rok then self.stop.fatal = tostring(rerr) end
    if self.stop:draining() and not self.opts["dry-run"] then self:settle_unsent() end
    self.progress:finish(self:progress_state())
    self:cleanup()
    return self:report(self.sys.monotime() - started)
end
