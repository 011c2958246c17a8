--- cxone.bulk.profiles: each API profile as one table — what a task of it carries, the columns
-- a spreadsheet gives it, the credentials it needs, how its options resolve, which request shape
-- the C core builds for it, and what a read-back shows. The library, the CLI's row reader, the
-- undo file, the dry run and the C binding all read these tables instead of asking "is this
-- cxone?" (strategies picked by name from a table, as luasocket does).
--
-- Adding a profile (a third API, or a new CXone API version) is one entry: `M.add(name, t)`,
-- where t may name a `base` profile whose fields it inherits. `core` must be a request shape the
-- C core builds ("tutorial": PUT /api/v2/contacts/{id} with an Idempotency-Key; "cxone":
-- POST …/services/{api_version}/contacts/{id}/set-disposition). Pure Lua, no C core: the row
-- reader loads it before the engine.
local cjson = require "cjson.safe" -- a read-back body that is not JSON is "not a contact document"

local type, pairs, ipairs, setmetatable = type, pairs, ipairs, setmetatable
local fmt = string.format

local M = {}

-- A number or string read back as text (ids may come as JSON numbers).
local function str(v)
  if type(v) == "string" then return v end
  if type(v) == "number" and v == math.floor(v) and math.abs(v) < 2 ^ 53 then return fmt("%d", v) end
  return nil
end

-- Fields of a profile entry (see the two below for every field):
--   core        the C core's request shape
--   outcome     the two outcome fields a task needs (given, or mapped from outcome_code)
--   optional    fields sent only when given (an empty one is not sent)
--   key_field   a per-task key the server replays, checked as a header value (nil: none)
--   columns     the task fields a row may give, required first (column names match these)
--   record      the fields a JSON Lines row gives and its failed-file row records
--   undo        the undo file's columns (its last is the failed file's state column)
--   credentials the options a job needs, in the order a missing one is reported
--   defaults    --category/--subcategory-style flags fill an outcome field a row lacks
--   discovery   the API host and token URL are found from the issuer (no base_url needed)
--   preflight   a contact pre-flight GET is possible (option 'preflight')
--   metadata    what validate_outcomes fetches: "outcomes" (one hierarchy, before the first
--               task) or "skills" (each skill's dispositions, at its first task)
--   before(body) the value a read-back body shows ({} none, nil not a contact document)
--   after(f)     the value a task's fields ask for, comparable with before()
--   restore(before, task) the undo row's outcome cells that put `before` back
local tutorial = {
  core = "tutorial",
  outcome = { "category", "subcategory" },
  optional = {},
  key_field = "idempotency_key",
  columns = { "contact_id", "category", "subcategory", "idempotency_key", "outcome_code" },
  record = { "contact_id", "category", "subcategory", "idempotency_key" },
  undo = { "contact_id", "category", "subcategory", "idempotency_key" },
  credentials = { "client_id", "client_secret" },
  defaults = true,
  discovery = false,
  preflight = true,
  metadata = "outcomes",
  before = function(body)
    local doc = cjson.decode(body or "")
    if type(doc) ~= "table" then return nil end
    local o = doc.outcome
    if type(o) ~= "table" then return {} end
    local c, s = str(o.category), str(o.subcategory)
    if not c or not s then return nil end
    return { category = c, subcategory = s }
  end,
  after = function(f) return { category = f.category, subcategory = f.subcategory } end,
}

local cxone = {
  core = "cxone",
  outcome = { "skill", "disposition_code" },
  optional = { "notes", "callback_number", "callback_time", "commitment_amount" },
  columns = { "contact_id", "skill", "disposition_code", "notes", "callback_number", "callback_time",
    "commitment_amount" },
  record = { "contact_id", "skill", "disposition_code", "notes", "callback_number", "callback_time",
    "commitment_amount" },
  undo = { "contact_id", "skill", "disposition_code", "notes" },
  credentials = { "client_id", "client_secret", "access_key_id", "access_key_secret" },
  defaults = false,
  discovery = true,
  preflight = false,
  metadata = "skills",
  before = function(body)
    if (body or "") == "" then return {} end -- an empty answer shows none (as the engine reads it)
    local doc = cjson.decode(body)
    if type(doc) ~= "table" then return nil end
    local id, name = str(doc.dispositionId), str(doc.dispositionName)
    if not id and not name then return {} end
    return { disposition_id = id, disposition_name = name, notes = type(doc.notes) == "string" and doc.notes or nil }
  end,
  after = function(f)
    return { skill = f.skill, disposition_code = f.disposition_code, notes = f.notes ~= "" and f.notes or nil }
  end,
}

--- name -> profile, and the names in the order messages list them.
M.BY_NAME = { tutorial = tutorial, cxone = cxone }
M.NAMES = { "tutorial", "cxone" }

local function finish(name, p)
  p.name = name
  p.fields = {} -- every field a task of this profile may carry -> true
  for _, f in ipairs(p.columns) do p.fields[f] = true end
  for _, f in ipairs(p.record) do p.fields[f] = true end
  return p
end
for _, name in ipairs(M.NAMES) do finish(name, M.BY_NAME[name]) end

--- Adds profile `name` (t's fields; with t.base, the named profile's fields where t has none).
-- Returns the profile. Raises on a name in use or a missing field.
function M.add(name, t)
  if type(name) ~= "string" or M.BY_NAME[name] ~= nil then error(fmt("profile name %q is not free", tostring(name)), 2) end
  local base = t.base and M.get(t.base)
  local p = setmetatable({}, { __index = base })
  for k, v in pairs(t) do p[k] = v end
  for _, k in ipairs({ "core", "outcome", "optional", "columns", "record", "undo", "credentials" }) do
    if p[k] == nil then error(fmt("profile %q has no %s", name, k), 2) end
  end
  M.BY_NAME[name], M.NAMES[#M.NAMES + 1] = finish(name, p), name
  return p
end

--- The profile named `name`, or nil and a message naming the known ones.
function M.find(name)
  local p = M.BY_NAME[name]
  if p then return p end
  local quoted = {}
  for i, n in ipairs(M.NAMES) do quoted[i] = fmt("%q", n) end
  return nil, fmt("must be %s (got %s)", table.concat(quoted, " or "), fmt("%q", tostring(name)))
end

--- The profile named `name`; raises naming the known ones.
function M.get(name)
  local p, err = M.find(name)
  if not p then error("api " .. err, 2) end
  return p
end

--- Why `map` (outcome_code -> the profile's two outcome fields) is not an outcome map of
-- profile p, or nil. where: what the message adds after the shape (' with api = "cxone"').
function M.check_map(p, map, where)
  local f1, f2 = p.outcome[1], p.outcome[2]
  for code, v in pairs(map) do
    if type(code) ~= "string" then return "outcome_map keys must be strings (outcome codes)" end
    if type(v) ~= "table" or type(v[f1]) ~= "string" or type(v[f2]) ~= "string" then
      return fmt("outcome_map[%q] must be {%s = string, %s = string}%s", code, f1, f2, where or "")
    end
  end
  return nil
end

return M
