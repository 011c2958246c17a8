--- A job's resume journal (opts.journal): what makes a rerun exactly once without a server key.
--
-- For every task the job takes it answers, from what earlier runs recorded: skip it (its update
-- was applied), read the contact back before writing (an earlier run may have applied it without
-- knowing: an intent without a result, or an unknown outcome), or send it. Before a task goes to
-- the engine its intent record is buffered here; flush() writes the buffered intents in one
-- write and tells the engine, whose worker syncs the file before the task's first request
-- leaves (src/engine/durable.h). Every result is recorded as it reaches the caller.
local journal_mod = require "cxone.bulk.journal"

local M = {}

local JobJournal = {}
JobJournal.__index = JobJournal

local RESULT_FIELDS = { "contact_id", "ok", "status", "error", "error_kind", "attempts", "replayed",
    "verified", "outcome_unknown", "cancelled", "skipped", "elapsed", "unchanged", "before", "at", "latency",
    "tries" }

--- The journal opts name, opened and checked, attached to core job c. opts.journal is a path (the
-- journal is opened here, locked, checked against this batch and headed) or a journal object of
-- cxone.bulk.journal whose owner (the CLI) did that. fail(kind, message) raises (while opening);
-- a later write that fails calls on_error(kind, message) instead: the job stops the batch.
function M.open(o, c, sys, fail, on_error)
  local j, own = o.journal, false
  local st
  if type(j) == "table" then
    st = j.state
  else
    j, st = journal_mod.open(j, sys, nil)
    if not j then fail("options", st) end
    own = true
    local run = { batch_id = o.batch_id, base_url = o.base_url or o.api_base or ("(from " .. o.issuer .. ")"),
                  client_id = o.client_id }
    local diff = st:mismatches(run)
    if #diff > 0 and o.journal_mismatch ~= "ignore" then
      j:close()
      fail("options", ("journal %s was written by another batch: %s; use another journal, or "
        .. "journal_mismatch = \"ignore\" to continue anyway"):format(o.journal, table.concat(diff, ", ")))
    end
    run.started = os.date("!%Y-%m-%dT%H:%M:%SZ")
    local ok, err2 = pcall(j.begin, j, run)
    if not ok then
      j:close()
      fail("output", err2)
    end
  end
  c:attach_journal(j.fh)
  return setmetatable({ j = j, st = st, own = own, batch_id = o.batch_id, on_error = on_error,
                        open = {}, upto = 0, buffered = false }, JobJournal)
end

--- "journal" when the update was applied by an earlier run (no request), "verify" when it may
-- have been (read back first), nil to send it as usual.
function JobJournal:gate(ident)
  if self.st.done[journal_mod.identity(ident)] then return "journal" end
  if self.st:needs_verify(ident) then return "verify" end
  return nil
end

-- Runs a journal write; a failure stops the batch with kind "output" (nothing whose intent was
-- not written is sent: the engine waits for flush). Returns true when written.
function JobJournal:_write(f, ...)
  if self.failed then return false end
  local ok, err = pcall(f, ...)
  if not ok then
    self.failed = true
    self.on_error("output", err)
  end
  return ok
end

--- Task `index` (ident: its identity fields; line: its input line or nil) goes to the engine:
-- its intent record is buffered, and kept for its result record.
function JobJournal:intent(index, ident, line)
  local rec = { line = line, batch_id = self.batch_id, given_key = ident.idempotency_key }
  for k, v in pairs(ident) do
    if k ~= "idempotency_key" then rec[k] = v end
  end
  self.open[index] = rec
  if self:_write(self.j.intent, self.j, rec) then self.upto, self.buffered = index, true end
end

--- Writes the buffered intents and lets the engine send their tasks (c: the core job).
function JobJournal:flush(c)
  if not self.buffered then return end
  self.buffered = false
  if self:_write(self.j.flush_intents, self.j) then c:intents_written(self.upto) end
end

--- Records a result of the engine (r.index names its task). Results of tasks the journal did
-- not see (none) are left alone.
function JobJournal:result(r)
  local rec = self.open[r.index]
  if not rec then return end
  self.open[r.index] = nil
  rec.intent = nil
  for _, f in ipairs(RESULT_FIELDS) do
    if r[f] ~= nil then rec[f] = r[f] end
  end
  self:_write(self.j.append, self.j, rec)
end

function JobJournal:tick()
  self:_write(self.j.tick, self.j)
end

--- Closes a journal this job opened, recording how many requests the run sent (0 voids its
-- intents: nothing can have reached the API). A caller's journal is the caller's to close.
function JobJournal:close(requests)
  if not self.own or not self.j then return end
  local j = self.j
  self.j = nil
  local ok, err = pcall(function()
    j:finish(requests)
    j:close()
  end)
  if not ok then error(err, 0) end
end

return M
