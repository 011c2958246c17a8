--- cxone.bulk.tasks: a task checked and described the way the engine will take it — the field
-- checks (cxone.bulk.validate) with the library's "task N: " label, the request a task makes
-- (describer: the CLI's --dry-run), and the task sources (an array or an iterator).
local core = require "cxone.bulk.core"
local validate = require "cxone.bulk.validate"
local errors = require "cxone.bulk.errors"
local resolve = require "cxone.bulk.resolve"
local profiles = require "cxone.bulk.profiles"
local DEFAULT_API = require("cxone.bulk.options").BY_NAME.api.default

local M = {}

local new_error, raising, resolve_opts = errors.new, errors.raising, resolve.resolve_opts
local type, ipairs, error = type, ipairs, error


-- The request itself (URL, body, key) is built in C, by the one builder the engine uses
-- (src/profile/request.h, core.request): here tasks are only checked and mapped into the named
-- fields that builder takes.

--- The tutorial body for two outcome names (the undo file derives its keys from it).
local function encode_body(category, subcategory)
  return core.request({ shape = "tutorial", batch_id = "", url_prefix = "", id = "",
    category = category, subcategory = subcategory }).body
end
M.encode_body = encode_body

-- Field checks and the outcome_code mapping live in cxone.bulk.validate, shared with the CLI;
-- here they only get the "task N: " label.

--- The cxone request shape: checks one task of profile p into the named fields the C builder
-- takes (the optional ones only when given). Returns fields, skill, disposition_code or nil,
-- message.
local function check_disposition(task, label, outcome_map, p)
  local why, skill, code = validate.task(task, p.name, outcome_map, validate.LIBRARY)
  if why then return nil, label .. ": " .. why end
  local f = { shape = "cxone", id = task.contact_id, skill = skill, disposition_code = code }
  for _, name in ipairs(p.optional) do
    if task[name] ~= "" then f[name] = task[name] end
  end
  return f, skill, code
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
-- the shape needs (check), and the named fields a dry run hands the builder (fields).
M.SHAPES = {
  tutorial = {
    check = check_task,
    fields = function(o, p)
      local ctx = { batch_id = o.batch_id, url_prefix = o.base_url .. "/api/v2/contacts/" }
      return function(task)
        local category, subcategory = check_task(task, "task", o.outcome_map, p)
        if not category then return nil, subcategory end
        return { shape = "tutorial", batch_id = ctx.batch_id, url_prefix = ctx.url_prefix, id = task.contact_id,
          category = category, subcategory = subcategory, key = task.idempotency_key }
      end
    end,
  },
  cxone = {
    check = check_disposition,
    fields = function(o, p)
      local api_base = o.api_base or "{api host from discovery}"
      return function(task)
        local f, err = check_disposition(task, "task", o.outcome_map, p)
        if not f then return nil, err end
        f.batch_id, f.api_base, f.api_version = o.batch_id, api_base, o.api_version
        return f
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
  local fields_of = M.SHAPES[p.core].fields(o, p)
  return function(task)
    local f, err = fields_of(task)
    if not f then return nil, err end
    local d, berr = core.request(f)
    if not d then return nil, "task: " .. berr end
    return d
  end
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

M.check_disposition, M.check_task, M.make_iterator = check_disposition, check_task, make_iterator

return M
