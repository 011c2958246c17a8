-- cxone-bulk's side of catching a bad batch before it does harm (docs/cli.md "Plan, canary,
-- undo and auto-halt"): --plan FILE, --undo-file FILE, --undo FILE, --canary N with --yes, and
-- the messages of the auto-halt. The work is the library's (bulk opts plan, before_images,
-- skip_unchanged, canary/on_canary, max_failure_rate: lua/cxone/bulk/job_safety.lua); this
-- module checks the flags, opens and writes the plan and undo files, asks the canary's question
-- and prints the tables. cli.lua calls it at a few points of a run.
local csv = require "cxone.bulk.csv"
local plan = require "cxone.bulk.plan"
local undo = require "cxone.bulk.undo"
local options = require "cxone.bulk.options"
local printable = require("cxone.bulk.text").printable

local M = {}

-- Transitions shown in a table; the rest are summed on one line.
M.SHOW_TRANSITIONS = 20

-- Flags a plan cannot take: it writes nothing, so nothing to journal, undo or confirm. (A plan of
-- an undo file, --plan FILE --undo UNDO, says what the undo would change.)
local NOT_WITH_PLAN = { "journal", "failed", "undo-file", "canary", "skip-unchanged", "dry-run" }

local function first_line(path)
  local fh = io.open(path, "rb")
  if not fh then return nil end
  local line = fh:read("*l")
  fh:close()
  return line
end

local function nonempty_file(path)
  local fh = io.open(path, "rb")
  if not fh then return false end
  local size = fh:seek("end")
  fh:close()
  return size and size > 0
end

--- Checks the flags of this part and sets the engine options they imply (run.engine_opts).
-- Returns true, or nil and the message (exit 2).
function M.check(run)
  local opts, e = run.opts, run.engine_opts
  if opts.plan then
    for _, f in ipairs(NOT_WITH_PLAN) do
      if opts[f] then return nil, ("--plan reads and writes nothing: leave out --%s"):format(f) end
    end
    e.plan = true
  end
  if opts["undo-file"] then
    if opts["dry-run"] then return nil, "--undo-file needs a real run: a dry run changes nothing to undo" end
    e.before_images = true
  end
  if opts.canary and not opts.journal then
    return nil, "--canary needs --journal: the continuation after the canary must skip the rows it applied"
  end
  if opts.undo then
    if opts.input ~= opts.undo then return nil, "give the undo file with --undo alone (it is the input)" end
    local why = undo.check_header(first_line(opts.undo), e.api or options.BY_NAME.api.default)
    if why then return nil, ("--undo %s: %s"):format(opts.undo, why) end
    e.skip_unchanged = not opts.plan or nil -- a contact already back at its value costs no write
  end
  return true
end

--- The files this part writes, for the check that no output is the input or another output.
function M.paths(run)
  local opts, out = run.opts, {}
  if opts.plan then out[#out + 1] = { flag = "--plan", path = opts.plan } end
  local u = opts["undo-file"]
  if u then
    out[#out + 1] = { flag = "--undo-file", path = u }
    out[#out + 1] = { flag = "--undo-file's list", path = undo.no_previous_path(u) }
  end
  return out
end

-- The plan file's columns.
M.PLAN_HEADER = { "line", "contact_id", "status", "before", "after", "error" }

--- Opens the plan and undo files (before anything is sent). Returns true or nil, message.
function M.open(run)
  local opts = run.opts
  if opts.plan then
    local fh, err = io.open(opts.plan, "wb")
    if not fh then return nil, ("cannot open the plan file: %s"):format(err) end
    run.plan_fh, run.plan_tally = fh, plan.new()
    fh:write(csv.format_row(M.PLAN_HEADER))
  end
  if opts["undo-file"] then return M.open_undo(run) end
  return true
end

-- The undo file: a new one, or, for a run that continues a journaled batch, the one it began.
function M.open_undo(run)
  local u, api = run.opts["undo-file"], run.engine_opts.api or options.BY_NAME.api.default
  local listed
  if nonempty_file(u) or nonempty_file(undo.no_previous_path(u)) then
    if not run.opts.journal then
      return nil, ("--undo-file: %s exists: it may hold the only record of earlier values; give each run its "
        .. "own undo file, or continue a journaled batch with its --journal"):format(u)
    end
    local why = undo.check_header(first_line(u), api)
    if why then return nil, ("--undo-file %s: %s"):format(u, why) end
    listed = undo.listed(u)
  end
  local fh, err = io.open(u, listed and "ab" or "wb")
  if not fh then return nil, ("cannot open the undo file: %s"):format(err) end
  local core = require "cxone.bulk.core"
  local ok, w = pcall(undo.new, fh, u, api, { derive_key = core.derive_key, encode_body = run.bulk.encode_body },
    run.sys, listed)
  if not ok then return nil, w end
  run.undo = w
  return true
end

local function plan_row(run, row, r)
  local task = row.task
  local after = r.after or (task and not r.invalid and plan.after_of(run.engine_opts.api, task)) or nil
  local status = r.plan or plan.status(r)
  local cells = { row.line, r.contact_id or (task and task.contact_id) or "", status,
    r.before and plan.label(r.before) or "", after and plan.label(after) or "", r.error or "" }
  for i, c in ipairs(cells) do cells[i] = csv.neutralise(tostring(c)) end
  run.plan_fh:write(csv.format_row(cells))
  run.plan_tally:add({ plan = status, before = r.before, after = after })
end

--- Records one finished row (out: its results record, whose error names the input line).
function M.finish(run, row, out)
  if run.plan_fh then
    run:write_out("plan", function() plan_row(run, row, out) end)
  end
  if run.undo then
    run:write_out("undo", function() run.undo:add(row, out) end)
  end
end

--- After each batch of results: the plan and undo files are flushed.
function M.flush(run)
  if run.plan_fh then run:write_out("plan", function() assert(run.plan_fh:flush()) end) end
  if run.undo then run:write_out("undo", function() run.undo:flush() end) end
end

function M.close(run)
  if run.plan_fh then
    local fh = run.plan_fh
    run.plan_fh = nil
    run:write_out("plan", function()
      local ok, err = fh:close()
      if not ok then error(("cannot write the plan file %s: %s"):format(run.opts.plan, tostring(err)), 0) end
    end)
  end
  if run.undo then
    local w = run.undo
    run.undo, run.undo_done = nil, w
    run:write_out("undo", function() w:close() end)
  end
end

-- The canary's results as lines: counts, failures by status, and its transitions.
local function canary_lines(summary, results)
  local ok, failed, by = 0, 0, {}
  local tally = plan.new()
  for _, r in ipairs(results) do
    if r.ok then ok = ok + 1 else
      failed = failed + 1
      local k = r.cancelled and "cancelled" or tostring(r.status ~= 0 and r.status or r.error_kind)
      by[k] = (by[k] or 0) + 1
    end
    tally:add(r)
  end
  local parts = {}
  for k, n in pairs(by) do parts[#parts + 1] = ("%s ×%d"):format(k, n) end
  table.sort(parts)
  local out = { ("canary: %d rows sent: %d ok, %d failed%s; %d requests"):format(#results, ok, failed,
    #parts > 0 and (" (" .. table.concat(parts, ", ") .. ")") or "", summary.requests or 0) }
  out[#out + 1] = "canary transitions (before → after):"
  local lines = tally:lines(M.SHOW_TRANSITIONS, printable)
  for i = 1, #lines - 1 do out[#out + 1] = lines[i] end -- the plan's status totals do not apply
  return out
end

-- Asks on the terminal; true for y/yes. The answer is read by a child shell, so Ctrl-C at the
-- prompt ends the question (as "no") at once instead of waiting for Enter.
local function ask(question)
  io.stderr:write(question)
  io.stderr:flush()
  local a = os.execute([[IFS= read -r a || exit 1; case "$a" in y|Y|yes|Yes|YES) exit 0;; esac; exit 1]])
  return a == true or a == 0
end

--- on_canary for the library: shows the canary's results, then continues with --yes, on a
-- terminal's "y", and otherwise stops the run (exit code of kind "canary") with the command
-- that continues it (lua/cxone/bulk/unsent.lua).
function M.on_canary(run)
  return function(summary, results)
    if run.progress then run.progress:clear() end
    for _, l in ipairs(canary_lines(summary, results)) do io.stderr:write("cxone-bulk: ", l, "\n") end
    if run.opts.yes then
      io.stderr:write("cxone-bulk: canary: --yes: continuing with the remaining rows\n")
      return true
    end
    local tty = run.opts.input ~= "-" and run.sys.isatty(io.stdin) and run.sys.isatty(io.stderr)
    if tty and ask("cxone-bulk: continue with the remaining rows? [y/N] ") then return true end
    run.stop.canary = true
    run.stop:fail(("canary of %d rows sent; %s: nothing more was sent"):format(#results,
      tty and "not confirmed" or "no terminal to ask and no --yes"), "canary")
    run:stop_intake()
    return false
  end
end

--- Lines printed at the end: the plan's table, where the undo files are.
function M.report(run)
  local out = {}
  if run.plan_tally then
    out[#out + 1] = ("plan: written to %s; nothing was changed. Transitions (before → after):"):format(run.opts.plan)
    for _, l in ipairs(run.plan_tally:lines(M.SHOW_TRANSITIONS, printable)) do out[#out + 1] = l end
  end
  local u = run.undo_done
  if u then
    out[#out + 1] = ("undo: %s lists the previous value of %d contacts this run changed; to put them back: "
      .. "cxone-bulk --undo %s --journal NEW.journal (with this run's target options)"):format(run.opts["undo-file"],
      u.rows, run.opts["undo-file"])
    if u.no_previous > 0 then
      out[#out + 1] = ("undo: %d contacts cannot be restored (listed with the reason in %s)"):format(u.no_previous,
        u.np_path)
    end
  end
  return out
end

--- Adds this part to the --summary-json table.
function M.summary(run, t)
  if run.plan_tally then t.plan, t.transitions = run.plan_tally.counts, run.plan_tally:transitions() end
  if run.undo_done then t.undo = { rows = run.undo_done.rows, no_previous = run.undo_done.no_previous } end
end

return M
