--- cxone.bulk: bulk-update outbound contact outcomes in NICE CXone, safely and fast.
-- The work is done by the C core (cxone.bulk.core: worker threads, limiter, libcurl, OAuth2);
-- this facade is the public API: it resolves options (cxone.bulk.resolve), checks and describes
-- tasks (cxone.bulk.tasks), runs jobs (cxone.bulk.job) and turns what they raise into strings or
-- nil, err (cxone.bulk.errors).
local core = require "cxone.bulk.core"
local validate = require "cxone.bulk.validate"
local errors = require "cxone.bulk.errors"
local resolve = require "cxone.bulk.resolve"
local tasks_mod = require "cxone.bulk.tasks"
local job_mod = require "cxone.bulk.job"

local M = {
  _VERSION = "0.1.0",
  sys = core.sys,
  MAX_ID_BYTES = validate.MAX_ID_BYTES,
  BASE_URL_PLACEHOLDER = resolve.BASE_URL_PLACEHOLDER,
  DISPOSITION_OPTIONAL = tasks_mod.DISPOSITION_OPTIONAL,
  encode_body = tasks_mod.encode_body,
  error_kind = errors.error_kind,
  target = resolve.target,
  tenant_limit_name = resolve.tenant_limit_name,
  validate_task = tasks_mod.validate_task,
  describer = tasks_mod.describer,
  describe = tasks_mod.describe,
}

local Job = job_mod.Job
local new_error, as_raised, try, raising = errors.new, errors.as_raised, errors.try, errors.raising
local resolve_opts, require_credentials = resolve.resolve_opts, resolve.require_credentials
local make_iterator = tasks_mod.make_iterator
local type, pairs, ipairs, pcall, error, getmetatable = type, pairs, ipairs, pcall, error, getmetatable

--- Starts a job and returns at once. Tasks are pulled from `tasks` (an array or an iterator
-- function) as queue space frees.
local function start(tasks, opts)
  local o = resolve_opts(opts)
  require_credentials(o)
  return job_mod.new(o, make_iterator(tasks))
end
function M.start(tasks, opts) return raising(start, tasks, opts) end

--- Opens a job the caller pushes tasks into with job:submit(task) (false: not now, poll and try
-- again) and ends with job:close_input(). One job, one limiter and one token for the whole run.
local function open(opts)
  local o = resolve_opts(opts)
  require_credentials(o)
  return job_mod.new(o, nil, false)
end
function M.open(opts) return raising(open, opts) end

-- Runs a whole batch. Returns the summary and, when it ended early, an Error (with .summary) and
-- what a callback raised (raw, to raise as it was).
local function run_batch(tasks, opts)
  local job = start(tasks, opts)
  local ok, raised = pcall(function()
    while not job:done() do job:poll(1) end
  end)
  job:close()
  local summary = job:summary()
  local err
  if not ok then
    err = new_error("callback", raised)
  elseif summary.error then
    err = new_error(summary.error_kind, summary.error)
  end
  if err then err.summary = summary end
  return summary, err, not ok and raised or nil
end

--- Runs a whole batch and returns its summary. Raises only for whole-batch problems (bad opts,
-- credentials, scope, the API out of reach, a failing task iterator) or when a callback raises;
-- every task taken has then had its result (a callback's error stops the callbacks at once), and
-- the job's threads are joined before the error reaches the caller.
function M.batch_update(tasks, opts)
  local summary, err, raw = raising(run_batch, tasks, opts)
  if raw ~= nil then error(raw, 0) end
  if err then error(as_raised(err), 0) end
  summary.error, summary.error_kind = nil, nil
  return summary
end

--- Reads each task's contact and says what the batch would change; nothing is written
-- (opts.plan = true; the same limiter and retries, no journal). Like batch_update, with the
-- summary's `plan` (rows by status: change, no change, not found, invalid, error) and
-- `transitions` ({before=, after=, count=}, most rows first). Each result carries `plan` (its
-- status), `before` and `after` (docs/api.md "Plan").
function M.plan(tasks, opts)
  if opts ~= nil and type(opts) ~= "table" then return M.batch_update(tasks, opts) end -- raises, naming opts
  local o = {}
  for k, v in pairs(opts or {}) do o[k] = v end
  o.plan = true
  local tally, user = require("cxone.bulk.plan").new(), o.on_result
  o.on_result = function(r)
    tally:add(r)
    if user then user(r) end
  end
  local summary = M.batch_update(tasks, o)
  summary.plan, summary.transitions = tally.counts, tally:transitions()
  return summary
end

--- Several jobs' metrics in one exposition (each family once): list = {{job, labels}, ...},
-- each job with labels of its own ({id = "a"}). Raises naming a bad label or a repeated series.
function M.metrics(list)
  if type(list) ~= "table" then error("cxone.bulk: metrics(list): list must be an array of {job, labels}", 2) end
  local items = {}
  for i, e in ipairs(list) do
    if type(e) ~= "table" or getmetatable(e[1]) ~= Job then
      error(("cxone.bulk: metrics(list): entry %d must be {job, labels}"):format(i), 2)
    end
    items[i] = { e[1]:_metrics_data(), e[2] }
  end
  return require("cxone.bulk.metrics").render_many(items, "metrics(list)")
end

--- The HTML report of a finished run, from its results file (JSON Lines) or journal:
-- bulk.report(source, path[, {summary = "summary.json", run = N}]) -> true, or nil, err
-- (err.kind "options", "input" or "output"; docs/api.md "The run report").
function M.report(source, path, opts)
  local ok, msg, kind = require("cxone.bulk.report").build(source, path, opts)
  if ok then return true end
  return nil, new_error(kind, msg)
end

--- Like start(), but returns nil, err instead of raising: err.kind ("options", "input", ...),
-- err.message, tostring(err) == err.message.
function M.try_start(tasks, opts)
  return try("other", start, tasks, opts)
end

--- Like open(), but returns nil, err instead of raising.
function M.try_open(opts)
  return try("other", open, opts)
end

--- Like batch_update(), but returns nil, err instead of raising. For a whole-batch error err.summary
-- holds the counters so far; a raising on_result or on_event gives kind "callback".
function M.try_batch_update(tasks, opts)
  local summary, err = try("other", run_batch, tasks, opts)
  if summary == nil or err then return nil, err end
  summary.error, summary.error_kind = nil, nil
  return summary
end

return M
