--- cxone.bulk.validate: the one place a task's fields are checked and its outcome_code mapped.
-- The library (cxone.bulk) and the CLI's row reader (cxone.bulk.input) both call it, so a value
-- is refused with the same words whichever way it arrives. Messages carry no label: the library
-- prefixes "task N: ", the CLI "line N: ". Pure Lua (no C core), so the row reader can use it
-- before the engine is loaded.
local text = require "cxone.bulk.text"
local profiles = require "cxone.bulk.profiles"

local type, ipairs = type, ipairs
local fmt = string.format

local M = {
  MAX_ID_BYTES = 256,
}

--- How a caller's user names things, for the messages: `map`, the outcome map ("outcome_map"
-- for a library user, "--outcome-map" for the CLI's), and `absent`, the words for a field not
-- given at all (a Lua table can lack a key: "is missing").
M.LIBRARY = { map = "outcome_map", absent = "is missing" }

--- Free-text fields: an agent's notes may span lines, so tab, line feed and carriage return are
-- text there (JSON carries them escaped). Every other control character is refused as anywhere.
M.FREE_TEXT = { notes = true }

-- The first control character of v at or after `from` that field `name` may not hold, or nil.
local function control_at(v, from, name)
  local i = v:find("%c", from)
  while i and M.FREE_TEXT[name] do
    local b = v:byte(i)
    if b ~= 9 and b ~= 10 and b ~= 13 then break end
    i = v:find("%c", i + 1)
  end
  return i
end

--- Why v cannot be the text of field `name`, or nil when it can. (Runs for every field of every
-- task, so the common case costs one find.)
function M.field(name, v, absent)
  if v == nil then return name .. " " .. (absent or M.LIBRARY.absent) end
  if type(v) ~= "string" then return fmt("%s must be a string (got %s)", name, type(v)) end
  if v == "" then return name .. " is empty" end
  local c = v:find("[^ -~]") -- a control character or a non-ASCII byte (one cheap scan)
  if c then
    local cc = control_at(v, c, name)
    if cc then return fmt("%s contains control character 0x%02X", name, v:byte(cc)) end
    local bad = text.utf8_problem(v) -- also C1 controls, which are valid UTF-8
    if bad then return name .. " " .. bad end
  end
  return nil
end

--- Why v cannot be a contact_id, or nil. It becomes one path segment of the URL.
function M.contact_id(v, absent)
  local why = M.field("contact_id", v, absent)
  if why then return why end
  if v:byte(1) == 32 or v:byte(-1) == 32 then
    -- Spreadsheets pad cells; " 42" would address another contact than "42".
    return "contact_id has leading or trailing white space"
  end
  if #v > M.MAX_ID_BYTES then return fmt("contact_id is longer than %d bytes", M.MAX_ID_BYTES) end
  if v == "." or v == ".." then
    -- A dot segment: URL normalisation would turn .../contacts/.. into another resource.
    return fmt("contact_id %q is not a contact id (a dot segment would address another resource "
      .. "than one contact)", v)
  end
  return nil
end

--- Why key cannot be an Idempotency-Key header value, or nil (nil: none given, one is derived).
function M.idempotency_key(key)
  if key == nil then return nil end
  if type(key) ~= "string" then return fmt("idempotency_key must be a string (got %s)", type(key)) end
  if key:find("[%c\128-\255]") then
    return "idempotency_key contains a control character or a non-ASCII byte"
  end
  if key == "" or #key > 255 or key:find(" ", 1, true) then
    return "idempotency_key must be 1-255 visible ASCII characters"
  end
  return nil
end

--- The outcome fields of a task of `profile` (a cxone.bulk.profiles entry): its own, or, when it gives
-- neither but an outcome_code, the map's entry for the code. Returns why-not (nil when
-- resolved), then the two values (still unchecked: the caller checks them as fields).
function M.outcome(task, profile, map, words)
  local f1, f2 = profile.outcome[1], profile.outcome[2]
  local code = task.outcome_code
  if code == nil or task[f1] ~= nil or task[f2] ~= nil then return nil, task[f1], task[f2] end
  if type(code) ~= "string" then return fmt("outcome_code must be a string (got %s)", type(code)) end
  if not map then return "outcome_code needs " .. words.map end
  local m = map[code]
  if not m then return fmt("unknown outcome_code %q (not in %s)", code, words.map) end
  return nil, m[f1], m[f2]
end

--- Checks one task of profile (a name in cxone.bulk.profiles), with outcome_code mapped through
-- map (may be nil) and messages in the caller's words (M.LIBRARY or the CLI's). Returns nil and
-- the profile's two outcome fields (category, subcategory; skill, disposition_code), or why the
-- task is invalid.
function M.task(task, profile, map, words)
  if type(task) ~= "table" then return "expected a table, got " .. type(task) end
  local p = profiles.BY_NAME[profile]
  local why = M.contact_id(task.contact_id, words.absent)
  if why then return why end
  local a, b
  why, a, b = M.outcome(task, p, map, words)
  if why then return why end
  why = M.field(p.outcome[1], a, words.absent) or M.field(p.outcome[2], b, words.absent)
  if why then return why end
  for _, f in ipairs(p.optional) do
    local v = task[f]
    if v ~= nil and v ~= "" then -- an empty optional field is not sent
      why = M.field(f, v)
      if why then return why end
    end
  end
  if p.key_field then
    why = M.idempotency_key(task[p.key_field])
    if why then return why end
  end
  return nil, a, b
end

return M
