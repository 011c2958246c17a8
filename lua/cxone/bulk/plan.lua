--- What a batch would change, read from the tenant: the values a read shows (before-images),
-- the value a task asks for (after), a plan row's status, and the transition table
-- ("Not Contacted / No Answer -> Contacted / Information Provided: 1,204").
--
-- Values are plain tables, one shape per profile:
--   tutorial  {category =, subcategory =}
--   cxone     before: {disposition_id =, disposition_name =, notes =}   (what the read shows)
--             after:  {skill =, disposition_code =, notes =}            (what the task asks)
-- and {} for a contact that has no value. Used by the library (bulk.plan, results' `before`)
-- and by the CLI (--plan, the canary's table, --undo-file), so both say the same.
local profiles = require "cxone.bulk.profiles"

local M = {}

M.NO_VALUE = "(no value)"
-- The plan statuses, in the order totals are shown.
M.STATUSES = { "change", "no change", "not found", "invalid", "error" }

--- The before-image in a read's body (the engine's `before_body`): a value table, {} when the
-- contact has none, or nil when the body is not a contact document (the engine checked it, so
-- only a server changing its answer between the check and here could do that). The profile
-- says how its read-back reads.
function M.decode_before(api, body)
  return profiles.get(api).before(body)
end

--- The value a task asks for (fields as the engine validated them).
function M.after_of(api, fields)
  return profiles.get(api).after(fields)
end

--- True when a value table holds no value.
function M.is_empty(v)
  return v == nil or next(v) == nil
end

--- A value as the tables and files show it: "Contacted / Information Provided"; cxone before
-- "Callback Requested (2)", after the code as the task gave it; "(no value)" for none.
function M.label(v)
  if M.is_empty(v) then return M.NO_VALUE end
  if v.category then return v.category .. " / " .. v.subcategory end
  if v.disposition_code then return v.disposition_code end
  if v.disposition_name and v.disposition_id then return v.disposition_name .. " (" .. v.disposition_id .. ")" end
  return v.disposition_name or v.disposition_id
end

--- A plan result's status: "change", "no change" (already at the target), "not found",
-- "invalid" (never sent), or "error" (the read failed otherwise: its error says why).
function M.status(r)
  if r.invalid then return "invalid" end
  if r.ok then return r.unchanged and "no change" or "change" end
  if r.error_kind == "not_found" then return "not found" end
  return "error"
end

local Tally = {}
Tally.__index = Tally

--- A transition table and status totals, filled with add(result).
function M.new()
  local counts = {}
  for _, s in ipairs(M.STATUSES) do counts[s] = 0 end
  return setmetatable({ counts = counts, pairs = {}, order = {}, rows = 0 }, Tally)
end

--- Counts one result: its status (r.plan, else M.status) and, for a row that was read, its
-- transition before -> after.
function Tally:add(r)
  local status = r.plan or M.status(r)
  self.counts[status] = (self.counts[status] or 0) + 1
  self.rows = self.rows + 1
  if r.before == nil or r.after == nil then return end
  local b, a = M.label(r.before), M.label(r.after)
  local key = b .. "\0" .. a
  local t = self.pairs[key]
  if not t then
    t = { before = b, after = a, count = 0 }
    self.pairs[key] = t
    self.order[#self.order + 1] = t
  end
  t.count = t.count + 1
end

--- The transitions, most rows first (ties in order of first appearance): {before=, after=, count=}.
function Tally:transitions()
  local out = {}
  for i, t in ipairs(self.order) do out[i] = { before = t.before, after = t.after, count = t.count, seen = i } end
  table.sort(out, function(x, y)
    if x.count ~= y.count then return x.count > y.count end
    return x.seen < y.seen
  end)
  for _, t in ipairs(out) do t.seen = nil end
  return out
end

-- 1204 -> "1,204"
local function thousands(n)
  local s = string.format("%d", n)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end
M.thousands = thousands

--- The table as text lines: "  Not Contacted / No Answer → Contacted / Information Provided: 1,204",
-- at most `limit` transitions (the rest summed), then the totals. show(s) escapes a label for
-- the terminal (the CLI passes text.printable).
function Tally:lines(limit, show)
  show = show or function(s) return s end
  local out = {}
  local list = self:transitions()
  for i, t in ipairs(list) do
    if limit and i > limit then
      local rest, n = 0, 0
      for j = i, #list do rest, n = rest + list[j].count, n + 1 end
      out[#out + 1] = ("  ... %d more transitions: %s rows"):format(n, thousands(rest))
      break
    end
    out[#out + 1] = ("  %s → %s: %s"):format(show(t.before), show(t.after), thousands(t.count))
  end
  local totals = {}
  for _, s in ipairs(M.STATUSES) do totals[#totals + 1] = ("%s %s"):format(s, thousands(self.counts[s] or 0)) end
  out[#out + 1] = "  " .. table.concat(totals, ", ")
  return out
end

return M
