--- cxone.bulk.errors: errors callers can branch on (docs/api.md "nil, err variants and error
-- kinds"): the Error object, the raising and the protected calls of the facade, and the kind of
-- what it raised.
local M = {}

-- A failure's kind is set where it is detected — the C core's (results' error_kind, the job's
-- fatal kind), or the raise() calls of this module — and travels as data. Nothing here reads a
-- kind out of a message. Kinds: see docs/api.md "nil, err variants and error kinds".

local Error = {}
M.Error = Error
Error.__index = Error
Error.__tostring = function(e) return e.message end

local function new_error(kind, message)
  return setmetatable({ kind = kind, message = (tostring(message):gsub("^cxone%.bulk: ", "")) }, Error)
end

-- The raising functions raise plain strings (what callers of earlier versions catch and match);
-- the kind of each such string is kept here, by the exact string, for bulk.error_kind. A few
-- recent ones suffice: a caller asks about the error it just caught.
local RECENT_MAX = 32
local recent_kinds, recent_order = {}, {}

local function as_raised(e)
  local text = "cxone.bulk: " .. e.message
  if not recent_kinds[text] then
    recent_order[#recent_order + 1] = text
    if #recent_order > RECENT_MAX then recent_kinds[table.remove(recent_order, 1)] = nil end
  end
  recent_kinds[text] = e.kind
  return text
end

--- The kind of an error this module raised or returned: an err of the try_* functions, a
-- string raised by start/open/batch_update/poll (the last few are known by their exact text),
-- or a job's error. "other" for anything this module did not produce.
function M.error_kind(err)
  if getmetatable(err) == Error then return err.kind end
  local text = tostring(err)
  return recent_kinds[text] or recent_kinds["cxone.bulk: " .. text] or "other"
end

-- Runs f(...) protected: returns its results, or nil, err (an Error; anything else f raised is
-- a bug of this module or a callback's own error value, kind `other_kind`).
local function pack(...) return { n = select("#", ...), ... } end
local unpack = table.unpack or unpack
local function try(other_kind, f, ...)
  local res = pack(pcall(f, ...))
  if res[1] then return unpack(res, 2, res.n) end
  local e = res[2]
  if getmetatable(e) ~= Error then e = new_error(other_kind, e) end
  return nil, e
end

-- Runs f(...) and re-raises an Error as its string (see as_raised); other errors pass as they are.
local function raising(f, ...)
  local res = pack(pcall(f, ...))
  if res[1] then return unpack(res, 2, res.n) end
  local e = res[2]
  if getmetatable(e) == Error then e = as_raised(e) end
  error(e, 0)
end

M.new, M.as_raised, M.try, M.raising = new_error, as_raised, try, raising

return M
