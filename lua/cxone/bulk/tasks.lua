--- cxone.bulk.tasks: a task checked and described the way the engine will take it — the field
-- checks (cxone.bulk.validate) with the library's "task N: " label, the request a task makes
-- (describer: the CLI's --dry-run), and the task sources (an array or an iterator).
local core = require "cxone.bulk.core"
local cjson = require "cjson"
local validate = require "cxone.bulk.validate"
local errors = require "cxone.bulk.errors"
local resolve = require "cxone.bulk.resolve"
local profiles = require "cxone.bulk.profiles"
local DEFAULT_API = require("cxone.bulk.options").BY_NAME.api.default

local M = {}

local new_error, raising, resolve_opts = errors.new, errors.raising, resolve.resolve_opts
local type, ipairs, error = type, ipairs, error
local fmt = string.format


local function pct_encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return fmt("%%%02X", c:byte()) end))
end

-- The body is written field by field so the bytes, and so the derived key, never depend on
-- table iteration order (Lua 5.4 seeds string hashes per state).
local function encode_body(category, subcategory)
  return '{"outcome":{"category":' .. cjson.encode(category) .. ',"subcategory":'
    .. cjson.encode(subcategory) .. '}}'
end
M.encode_body = encode_body

-- Field checks and the outcome_code mapping live in cxone.bulk.validate, shared with the CLI;
-- here they only get the "task N: " label.

--- The cxone request shape: checks one task of profile p and builds its set-disposition body
-- (only the fields given). Returns body, skill, disposition_code or nil, message.
local function check_disposition(task, label, outcome_map, p)
  local why, skill, code = validate.task(task, p.name, outcome_map, validate.LIBRARY)
  if why then return nil, label .. ": " .. why end
  local d = { skill = skill, disposition_code = code }
  for _, f in ipairs(p.optional) do
    if task[f] ~= "" then d[f] = task[f] end
  end
  local body, berr = core.disposition_body(d)
  if not body then return nil, label .. ": " .. berr end
  return body, skill, code
end

--- The tutorial request shape: checks one task of profile p and resolves outcome codes.
-- Returns category, subcategory or nil, message.
local function check_task(task, label, outcome_map, p)
  local why, category, subcategory = validate.task(task, p.name, outcome_map, validate.LIBRARY)
  if why then return nil, label .. ": " .. why end
  return category, subcategory
end

--- Validates a task the way the engine will. Returns true or nil, message.
function M.validate_task(task, outcome_map, api)
  local p = profiles.get(api or DEFAULT_API)
  local ok, err = M.SHAPES[p.core].check(task, "task", outcome_map, p)
  if not ok then return nil, err end
  return true
end

-- The request shapes the C core builds, by a profile's `core`: how a task is checked into what
-- the shape needs (check), and how a dry run describes its request (describer).
M.SHAPES = {
  tutorial = {
    check = check_task,
    describer = function(o, p)
      local prefix = o.base_url .. "/api/v2/contacts/"
      return function(task)
        local category, subcategory = check_task(task, "task", o.outcome_map, p)
        if not category then return nil, subcategory end
        local body = encode_body(category, subcategory)
        return {
          method = "PUT",
          url = prefix .. pct_encode(task.contact_id),
          idempotency_key = task.idempotency_key or core.derive_key(o.batch_id, task.contact_id, body),
          body = body,
        }
      end
    end,
  },
  cxone = {
    check = check_disposition,
    describer = function(o, p)
      local prefix = (o.api_base or "{api host from discovery}") .. "/incontactapi/services/" .. o.api_version
        .. "/contacts/"
      return function(task)
        local body, err = check_disposition(task, "task", o.outcome_map, p)
        if not body then return nil, err end
        return { method = "POST", url = prefix .. pct_encode(task.contact_id) .. "/set-disposition", body = body }
      end
    end,
  },
}

--- A function that describes tasks under opts (checked once): task -> {method, url,
-- idempotency_key, body} or nil, message. For describing many tasks (the CLI's --dry-run).
-- Needs no credentials; with placeholder = true no base URL either: the URLs then start with
-- BASE_URL_PLACEHOLDER.
local function describer(opts, placeholder)
  local o = resolve_opts(opts, placeholder)
  local p = profiles.get(o.api)
  return M.SHAPES[p.core].describer(o, p)
end

function M.describer(opts, placeholder) return raising(describer, opts, placeholder) end

--- What would be sent for a task, without any network: {method, url, idempotency_key, body}.
function M.describe(task, opts)
  return M.describer(opts)(task)
end

local function make_iterator(tasks)
  local kind = type(tasks)
  if kind == "function" then return tasks, false end
  if kind ~= "table" then
    error(new_error("input", "tasks must be an array of task tables or an iterator function (got " .. kind .. ")"), 0)
  end
  local i, n = 0, #tasks
  return function()
    i = i + 1
    if i <= n then return tasks[i] end
  end, true, n
end

M.pct_encode, M.check_disposition, M.check_task, M.make_iterator = pct_encode, check_disposition, check_task,
  make_iterator

return M
