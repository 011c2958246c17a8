-- After a run stops early (a signal, a whole-batch error, an output that cannot be written):
-- every row that got no result gets one, so nothing an operator does loses a row.
--
-- The rows the engine never sent come back from it cancelled "before it was sent"; the rest never
-- reached it: the row that waited for a free slot, the rows held behind a duplicate contact, and
-- the rows of the input not read yet. Each becomes a result `cancelled`, `"not sent: ..."` and a
-- failed-file row in state `not sent` with its raw fields (ready to feed back), except rows the
-- journal records as applied (their usual `skipped`) and invalid rows (their usual error). The
-- run then names the count and, with a journal, the exact command that finishes the batch.
local M = {}

-- The rows the feeder handed out without a result, and those it holds, in input order.
local function feeder_rows(feeder)
    local rows = {}
    for _, row in pairs(feeder.inflight) do rows[#rows + 1] = row end
    for _, q in pairs(feeder.held) do
        for i = q.head, q.tail do rows[#rows + 1] = q[i] end
    end
    feeder.inflight, feeder.held, feeder.inflight_count, feeder.held_count = {}, {}, 0, 0
    table.sort(rows, function(a, b) return a.line < b.line end)
    return rows
end

-- Gives every row without a result its result. run: the CLI's Run; why: what stopped it ("SIGINT",
-- or the error). The rest of the input is read only when a failed file takes the rows (reading a
-- long input just to count it would keep a Ctrl-C waiting); a second signal stops the reading.
-- Returns the number of rows not sent, and whether part of the input was not read.
function M.settle(run, why)
    local n = 0
    local function not_sent(row)
        if row.error or row.skip then return run:finish_local(row) end
        n = n + 1
        run:finish(row, { contact_id = row.task.contact_id, ok = false, status = 0, attempts = 0, cancelled = true,
            error = ("not sent: the run stopped (%s) before this row was sent"):format(why) })
    end
    if run.feeder then
        for _, row in ipairs(feeder_rows(run.feeder)) do not_sent(row) end
    end
    local signals = run.stop.signals
    local read = run.inp and run.opts.failed and not run.out.dead.failed
    while read do
        if run.sys.signal_pending() then run:check_signal() end
        if run.stop.signals > signals then break end -- asked again: the rerun line names the rest
        local row = run.inp:next()
        if not row then return n, false end
        if not row.error then run:classify(row) end
        not_sent(row)
    end
    return n, not (run.feeder and run.feeder.exhausted)
end

local function shell_word(a)
    if a:match("^[%w%-%._/:=@,+]+$") then return a end
    return "'" .. a:gsub("'", "'\\''") .. "'"
end

--- "cxone-bulk ARGS..." as typed (shell-quoted), for the rerun line.
function M.command(argv)
    local parts = { "cxone-bulk" }
    for _, a in ipairs(argv or {}) do parts[#parts + 1] = shell_word(a) end
    return table.concat(parts, " ")
end

--- The closing lines: how many rows were not sent, where they are, how to finish the batch.
-- unread: part of the input was not read.
function M.lines(run, n, unread)
    if n == 0 and not unread and not run.stop.canary then return {} end
    local opts = run.opts
    local count = ("%d rows"):format(n) .. (unread and ", and the rest of the input (not read)" or "")
    local out = {}
    if opts.failed and not run.out.dead.failed then
        out[#out + 1] = ("not sent: %s; the ones read are in %s, marked 'not sent'"):format(count, opts.failed)
    else
        out[#out + 1] = ("not sent: %s"):format(count)
    end
    if run.stop.canary then -- the journal skips what the canary applied
        out[#out + 1] = "continue: " .. M.command(run.argv) .. " --yes"
    elseif opts.journal then
        out[#out + 1] = "rerun: " .. M.command(run.argv)
    elseif not opts.failed then
        out[#out + 1] = "(no --journal or --failed: a rerun of the same command sends every row again; "
            .. "next time add --journal FILE so that a rerun sends only these)"
    end
    return out
end

return M
