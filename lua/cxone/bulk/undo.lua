--- The undo file (cxone-bulk --undo-file FILE): for every contact this run changed, the value it
-- had before, as an input file the same command takes back (cxone-bulk --undo FILE).
--
-- Rows come from results with a before-image (the engine read the contact right before writing
-- it: bulk opts.before_images). A contact is listed once, with the value it had before the
-- run's FIRST row for it (rows of one contact finish in input order: lua/cxone/bulk/feeder.lua),
-- so a contact the run changed twice goes back to where it started. Listed are rows whose write
-- was applied, or may have been (outcome unknown: restoring a value the contact still has is
-- harmless, and --undo reads first and skips it); not listed are rows the run did not change
-- (the contact already showed the target, a failure with a definitive answer, rows the journal
-- skipped). Contacts that cannot be restored go to a second file, FILE's name with
-- ".no-previous.csv", one row each with the reason:
--   * the contact had no value before the run (the API sets values; it cannot clear one);
--   * the write was found applied by an earlier run whose answer was lost (verified): the value
--     it had before that run was never recorded.
--
-- Columns (an input of the same profile; the failed file's empty cxone_bulk_state column makes
-- the reader take back exactly what was written, formula-neutralised cells included):
--   tutorial  contact_id,category,subcategory,idempotency_key,cxone_bulk_state
--   cxone     contact_id,skill,disposition_code,notes,cxone_bulk_state
-- A rerun that continues a journaled batch (the same --journal: after a canary, a stop, a crash)
-- may name the same undo file: its rows are appended, and a contact the file already lists keeps
-- that first, older value (M.listed reads them back).
-- A tutorial row carries its own Idempotency-Key, derived from the original write's key: never
-- one an earlier write of the same value used (that would be replayed, not applied), and the
-- same on every rerun of the undo (exactly once). The cxone row restores the previous
-- disposition id and notes through the task's own skill.
local csv = require "cxone.bulk.csv"
local plan = require "cxone.bulk.plan"
local failed_file = require "cxone.bulk.failed_file"
local profiles = require "cxone.bulk.profiles"

local M = {}

--- The undo file's header for profile `api`: the profile's undo columns and the failed file's
-- state column (an undo file is re-fed as input).
function M.header(api)
  local t = {}
  for i, c in ipairs(profiles.get(api).undo) do t[i] = c end
  t[#t + 1] = failed_file.STATE_COLUMN
  return t
end
M.NO_PREVIOUS_HEADER = { "contact_id", "line", "reason" }

M.REASON_NO_VALUE = "had no value before this run: the API sets values but cannot clear one; "
  .. "set it by hand if it must go back"
M.REASON_LOST = "applied by an earlier run whose answer was lost: the value it had before that run was "
  .. "never recorded"

--- The companion file's path: "undo.csv" -> "undo.no-previous.csv".
function M.no_previous_path(path)
  local base = path:match("^(.*)%.[cC][sS][vV]$") or path
  return base .. ".no-previous.csv"
end

--- Why a file cannot be an undo file of `api` (its first line), or nil when it can.
function M.check_header(first_line, api)
  local want = M.header(api)
  local got = (first_line or ""):gsub("^\239\187\191", ""):gsub("\r?\n?$", "")
  if got == table.concat(want, ",") then return nil end
  return ("its header is not an undo file's (%s) for --api %s"):format(table.concat(want, ","), api)
end

--- The contacts an existing undo file (and its companion list) already name: id -> true. Cells
-- as written (neutralised) are read back as the reader reads a failed file.
function M.listed(path)
  local seen = {}
  for _, p in ipairs({ path, M.no_previous_path(path) }) do
    local fh = io.open(p, "rb")
    if fh then
      local first = true
      for fields in csv.records(fh) do
        if fields and not first and fields[1] then seen[csv.unneutralise(fields[1])] = true end
        first = false
      end
      fh:close()
    end
  end
  return seen
end

local Undo = {}
Undo.__index = Undo

-- Raises naming the file when a write fails (the run then stops taking rows: exit 4).
local function check(name, ok, err)
  if not ok then error(("cannot write the undo file %s: %s"):format(name, tostring(err)), 0) end
end

local function row_text(cells)
  local out = {}
  for i, c in ipairs(cells) do out[i] = csv.neutralise(tostring(c or "")) end
  return csv.format_row(out)
end

--- An undo writer. fh: the undo file, open for writing; path: its name; api: the profile;
-- engine: {derive_key(seed, contact_id, body), encode_body(category, subcategory)} (the tutorial
-- rows' keys); sys: bulk.sys (fsync); listed: nil for a new file, or the contacts an existing
-- file already names (M.listed; fh then appends to it).
function M.new(fh, path, api, engine, sys, listed)
  local self = setmetatable({ fh = fh, path = path, api = api, engine = engine, sys = sys, seen = listed or {},
    rows = 0, no_previous = 0, np_path = M.no_previous_path(path), append = listed ~= nil }, Undo)
  if not listed then check(path, fh:write(row_text(M.header(api)))) end
  return self
end

function Undo:_no_previous(id, line, reason)
  if not self.np then
    local existing = self.append and io.open(self.np_path, "rb")
    if existing then existing:close() end
    local fh, err = io.open(self.np_path, existing and "ab" or "wb")
    if not fh then error(("cannot write the undo file's list %s: %s"):format(self.np_path, tostring(err)), 0) end
    self.np = fh
    if not existing then check(self.np_path, fh:write(row_text(M.NO_PREVIOUS_HEADER))) end
  end
  check(self.np_path, self.np:write(row_text({ id, line or "", reason })))
  self.no_previous = self.no_previous + 1
end

-- The before-image equals the value the row asked for (the run did not change the contact).
-- set-disposition replaces the whole disposition: a row without notes changed a contact that
-- had some.
local function same(before, after)
  if before.category then return before.category == after.category and before.subcategory == after.subcategory end
  local code = after.disposition_code
  if code ~= before.disposition_id and code ~= before.disposition_name then return false end
  return (after.notes or "") == (before.notes or "")
end

-- The undo row that puts `before` back, by the request shape of the profile (its `core`).
local RESTORE = {
  -- The set-disposition goes through the task's own skill, with the previous id and notes.
  cxone = function(_, id, task, _, before)
    return { id, task.skill, before.disposition_id or before.disposition_name, before.notes or "", "" }
  end,
  -- The key is derived from the key of the write it undoes: every rerun of the undo sends it again.
  tutorial = function(self, id, _, r, before)
    local body = self.engine.encode_body(before.category, before.subcategory)
    local key = self.engine.derive_key("cxone-bulk undo of " .. tostring(r.idempotency_key or ""), id, body)
    return { id, before.category, before.subcategory, key, "" }
  end,
}

function Undo:_restore(id, task, r, before)
  return RESTORE[profiles.get(self.api).core](self, id, task, r, before)
end

--- Records one finished row (row: the CLI's row {task=, line=}; r: its result).
function Undo:add(row, r)
  local task = row.task
  if not task or r.invalid or type(r.skipped) == "string" then return end
  local id = task.contact_id
  if self.seen[id] then return end
  local maybe = r.ok or r.outcome_unknown
  if not maybe or r.unchanged then return end
  local before = r.before
  if before == nil then
    if r.verified then -- settled by a read-back of an earlier run's write, no before-image
      self.seen[id] = true
      self:_no_previous(id, row.line, M.REASON_LOST)
    end
    return
  end
  if plan.is_empty(before) then
    self.seen[id] = true
    return self:_no_previous(id, row.line, M.REASON_NO_VALUE)
  end
  if same(before, r.after or plan.after_of(self.api, task)) then return end
  self.seen[id] = true
  check(self.path, self.fh:write(row_text(self:_restore(id, task, r, before))))
  self.rows = self.rows + 1
end

function Undo:flush()
  check(self.path, self.fh:flush())
  if self.np then check(self.np_path, self.np:flush()) end
end

--- Flushes, syncs and closes both files (the undo file may be the only record of the values).
function Undo:close()
  for _, f in ipairs({ { self.fh, self.path }, { self.np, self.np_path } }) do
    local fh, name = f[1], f[2]
    if fh then
      check(name, fh:flush())
      if self.sys and self.sys.fsync then check(name, self.sys.fsync(fh)) end
      check(name, fh:close())
    end
  end
  self.fh, self.np = nil, nil
end

return M
