--- cxone.bulk: bulk-update outbound contact outcomes in NICE CXone, safely and fast.
-- The work is done by the C core (cxone.bulk.core: worker threads, limiter, libcurl, OAuth2);
-- this facade adds defaults, validates options and tasks, builds request bodies with lua-cjson
-- and runs callbacks on the caller's thread.
local core = require "cxone.bulk.core"
local cjson = require "cjson"
local outcomes = require "cxone.bulk.outcomes"

local M = {
  _VERSION = "0.1.0",
  sys = core.sys,
  DEFAULT_BASE_URL = "https://platform.devtest.niceincontact.com",
  MAX_ID_BYTES = 256,
}

local monotime = core.sys.monotime
local type, tostring, pairs, ipairs, pcall, error = type, tostring, pairs, ipairs, pcall, error
local fmt = string.format

---------------------------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------------------------

local function is_int(v) return type(v) == "number" and v == math.floor(v) and v == v and v ~= math.huge end

-- Each checker returns nil when the value is fine, else what was expected.
local CHECK = {
  string = function(v) if type(v) ~= "string" then return "a string" end end,
  nonempty = function(v) if type(v) ~= "string" or v == "" then return "a non-empty string" end end,
  boolean = function(v) if type(v) ~= "boolean" then return "a boolean" end end,
  func = function(v) if type(v) ~= "function" then return "a function" end end,
  table = function(v) if type(v) ~= "table" then return "a table" end end,
  posint = function(v) if not is_int(v) or v < 1 then return "an integer >= 1" end end,
  nonnegint = function(v) if not is_int(v) or v < 0 then return "an integer >= 0" end end,
  posnum = function(v) if type(v) ~= "number" or not (v > 0) or v == math.huge then return "a number > 0" end end,
  nonnegnum = function(v) if type(v) ~= "number" or not (v >= 0) or v == math.huge then return "a number >= 0" end end,
  burst = function(v) if type(v) ~= "number" or not (v >= 1) or v == math.huge then return "a number >= 1" end end,
}

local OPTIONS = {
  base_url = "nonempty", token_url = "nonempty", client_id = "nonempty", client_secret = "nonempty",
  scope = "string", basic_auth = "boolean",
  workers = "posint", rate = "posnum", burst = "burst", shared_limit = "nonempty",
  shared_limit_timeout = "posnum", shared_limit_fallback = "nonempty",
  max_retries = "nonnegint", backoff_base = "nonnegnum", backoff_max = "nonnegnum",
  timeout = "posnum", connect_timeout = "posnum", pause_threshold = "nonnegnum",
  batch_id = "string", on_result = "func", on_event = "func",
  ca_file = "nonempty", insecure = "boolean", allow_http = "boolean", queue_size = "posint",
  preflight = "boolean", validate_outcomes = "boolean", outcome_map = "table", deadline = "posnum",
}

local DEFAULTS = {
  scope = "contact:read contact:update", workers = 10, rate = 45, burst = 20, max_retries = 3,
  backoff_base = 2, backoff_max = 30, timeout = 15, connect_timeout = 10, pause_threshold = 30,
  batch_id = "",
}

local SECRET_OPTIONS = { client_secret = true }

local function opt_error(msg) error("cxone.bulk: " .. msg, 0) end

local function is_loopback(host)
  return host == "localhost" or host:match("^127%.%d+%.%d+%.%d+$") ~= nil or host == "[::1]"
end

-- Refuses URLs that would send credentials in clear to another host.
local function check_url(name, url, allow_http)
  local scheme, rest = url:match("^(%a[%w+.-]*)://(.*)$")
  if not scheme then opt_error(fmt("option '%s' must be an http(s) URL (got %q)", name, url)) end
  scheme = scheme:lower()
  local authority = rest:match("^([^/?#]*)")
  if authority:find("@", 1, true) then
    -- user:password@ would send credentials along and hide the real host (127.0.0.1:80@evil.com).
    opt_error(fmt("option '%s' must not contain user info (user:password@host)", name))
  end
  local host = authority:match("^(%[[^%]]*%])") or authority:match("^([^:]*)")
  if scheme ~= "http" and scheme ~= "https" then
    opt_error(fmt("option '%s' must use https:// (got %s://)", name, scheme))
  end
  if host == "" then opt_error(fmt("option '%s' has no host (got %q)", name, url)) end
  if scheme == "http" and not allow_http and not is_loopback(host:lower()) then
    opt_error(fmt("option '%s' uses plain http:// to %s: credentials and tokens would cross the "
      .. "network in clear; use https:// or set allow_http = true", name, host))
  end
end

--- Validates opts and fills in defaults. Raises naming the offending option.
local function resolve_opts(opts)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then opt_error("opts must be a table (got " .. type(opts) .. ")") end
  local o = {}
  for k, v in pairs(opts) do
    local kind = OPTIONS[k]
    if not kind then opt_error(fmt("unknown option '%s'", tostring(k))) end
    local want = CHECK[kind](v)
    if want then
      local got = type(v)
      if not SECRET_OPTIONS[k] and (got == "number" or got == "boolean") then got = got .. " " .. tostring(v) end
      opt_error(fmt("option '%s' must be %s (got %s)", k, want, got))
    end
    o[k] = v
  end
  for k, v in pairs(DEFAULTS) do if o[k] == nil then o[k] = v end end
  o.base_url = (o.base_url or os.getenv("CXONE_BASE_URL") or M.DEFAULT_BASE_URL):gsub("/+$", "")
  if o.base_url == "" then o.base_url = M.DEFAULT_BASE_URL end
  o.token_url = o.token_url or (o.base_url .. "/oauth2/token")
  o.client_id = o.client_id or os.getenv("CXONE_CLIENT_ID")
  o.client_secret = o.client_secret or os.getenv("CXONE_CLIENT_SECRET")
  check_url("base_url", o.base_url, o.allow_http)
  check_url("token_url", o.token_url, o.allow_http)
  if o.outcome_map then
    local ok, err = outcomes.check_map(o.outcome_map)
    if not ok then opt_error("option " .. err) end
  end
  if o.backoff_max < o.backoff_base then
    opt_error(fmt("option 'backoff_max' (%g) must be >= backoff_base (%g)", o.backoff_max, o.backoff_base))
  end
  return o
end

local function require_credentials(o)
  if not o.client_id or o.client_id == "" then
    opt_error("client_id is required (opts.client_id or $CXONE_CLIENT_ID)")
  end
  if not o.client_secret or o.client_secret == "" then
    opt_error("client_secret is required (opts.client_secret or $CXONE_CLIENT_SECRET)")
  end
end

---------------------------------------------------------------------------------------------
-- Tasks
---------------------------------------------------------------------------------------------

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

local function check_text(task, field, label)
  local v = task[field]
  if v == nil then return label .. ": " .. field .. " is missing" end
  if type(v) ~= "string" then return fmt("%s: %s must be a string (got %s)", label, field, type(v)) end
  if v == "" then return label .. ": " .. field .. " is empty" end
  if v:find("%c") then return label .. ": " .. field .. " contains control characters" end
end

--- Checks one task and resolves outcome codes. Returns category, subcategory or nil, message.
local function check_task(task, label, outcome_map)
  if type(task) ~= "table" then return nil, fmt("%s: expected a table, got %s", label, type(task)) end
  local err = check_text(task, "contact_id", label)
  if err then return nil, err end
  if #task.contact_id > M.MAX_ID_BYTES then
    return nil, fmt("%s: contact_id is longer than %d bytes", label, M.MAX_ID_BYTES)
  end
  local category, subcategory = task.category, task.subcategory
  if task.outcome_code ~= nil and category == nil and subcategory == nil then
    local code = task.outcome_code
    if type(code) ~= "string" then return nil, fmt("%s: outcome_code must be a string (got %s)", label, type(code)) end
    local m = outcome_map and outcome_map[code]
    if not m then return nil, fmt("%s: unknown outcome_code %q (not in outcome_map)", label, code) end
    category, subcategory = m.category, m.subcategory
  end
  local resolved = { category = category, subcategory = subcategory }
  err = check_text(resolved, "category", label) or check_text(resolved, "subcategory", label)
  if err then return nil, err end
  local key = task.idempotency_key
  if key ~= nil then
    if type(key) ~= "string" then return nil, fmt("%s: idempotency_key must be a string (got %s)", label, type(key)) end
    if key == "" or #key > 255 or key:find("[^!-~]") then
      return nil, label .. ": idempotency_key must be 1-255 visible ASCII characters"
    end
  end
  return category, subcategory
end

--- Validates a task the way the engine will. Returns true or nil, message.
function M.validate_task(task, outcome_map)
  local ok, err = check_task(task, "task", outcome_map)
  if not ok then return nil, err end
  return true
end

--- A function that describes tasks under opts (checked once): task -> {method, url,
-- idempotency_key, body} or nil, message. For describing many tasks (the CLI's --dry-run).
function M.describer(opts)
  local o = resolve_opts(opts)
  local prefix = o.base_url .. "/api/v2/contacts/"
  return function(task)
    local category, subcategory = check_task(task, "task", o.outcome_map)
    if not category then return nil, subcategory end
    local body = encode_body(category, subcategory)
    return {
      method = "PUT",
      url = prefix .. pct_encode(task.contact_id),
      idempotency_key = task.idempotency_key or core.derive_key(o.batch_id, task.contact_id, body),
      body = body,
    }
  end
end

--- What would be sent for a task, without any network: {method, url, idempotency_key, body}.
function M.describe(task, opts)
  return M.describer(opts)(task)
end

local function make_iterator(tasks)
  local kind = type(tasks)
  if kind == "function" then return tasks, false end
  if kind ~= "table" then
    error("cxone.bulk: tasks must be an array of task tables or an iterator function (got " .. kind .. ")", 0)
  end
  local i, n = 0, #tasks
  return function()
    i = i + 1
    if i <= n then return tasks[i] end
  end, true
end

---------------------------------------------------------------------------------------------
-- Jobs
---------------------------------------------------------------------------------------------

local Job = {}
Job.__index = Job

local function core_config(o)
  return {
    token_url = o.token_url, client_id = o.client_id, client_secret = o.client_secret,
    scope = o.scope, basic_auth = o.basic_auth, workers = o.workers, rate = o.rate,
    burst = o.burst, shared_limit = o.shared_limit, max_retries = o.max_retries,
    shared_limit_timeout = o.shared_limit_timeout, shared_limit_fallback = o.shared_limit_fallback,
    backoff_base = o.backoff_base, backoff_max = o.backoff_max, timeout = o.timeout,
    connect_timeout = o.connect_timeout, pause_threshold = o.pause_threshold,
    ca_file = o.ca_file, insecure = o.insecure, queue_size = o.queue_size,
    preflight = o.preflight,
  }
end

--- Starts a job and returns at once. Tasks are pulled from `tasks` as queue space frees.
function M.start(tasks, opts)
  local o = resolve_opts(opts)
  require_credentials(o)
  local iter, is_array = make_iterator(tasks)
  if o.insecure then
    io.stderr:write("cxone.bulk: WARNING: TLS certificate verification is disabled (insecure = true)\n")
  end
  local self = setmetatable({
    _o = o, _iter = iter, _is_array = is_array, _n = 0, _input_done = false,
    _started = monotime(), _prefix = o.base_url .. "/api/v2/contacts/",
  }, Job)
  if o.deadline then self._deadline_at = self._started + o.deadline end
  self._c = core.new_job(core_config(o))
  if o.validate_outcomes then
    -- Tasks wait until the hierarchy has arrived (same token, same limiter, one request).
    self._await_outcomes = true
    self._c:fetch(o.base_url .. "/api/v2/contact/outcomes")
  end
  return self
end

-- Prepares the next task for submission: index, id, url, body, key, invalid message.
function Job:_prepare(task, index)
  local label = "task " .. index
  local category, subcategory = check_task(task, label, self._o.outcome_map)
  if not category then
    local id = ""
    if type(task) == "table" and task.contact_id ~= nil then id = tostring(task.contact_id) end
    return { index, id, "", "", nil, subcategory }
  end
  local id = task.contact_id
  if self._outcomes then
    local why = outcomes.check(self._outcomes, category, subcategory)
    if why then return { index, id, "", "", nil, label .. ": " .. why } end
  end
  return { index, id, self._prefix .. pct_encode(id), encode_body(category, subcategory),
           task.idempotency_key, nil }
end

local function unpack_submit(c, p, batch_id)
  return c:submit(p[1], p[2], p[3], p[4], p[5], batch_id, p[6])
end

-- Moves tasks from the iterator into the C queue until it is full or the input ends.
function Job:_feed()
  if self._input_done or self._await_outcomes then return end
  local c, batch_id = self._c, self._o.batch_id
  while true do
    local p = self._pending
    if not p then
      if self._stop_input then
        self._input_done = true
        c:close_input()
        return
      end
      local ok, task = pcall(self._iter)
      if not ok then
        self._input_done = true
        c:cancel()
        c:close_input()
        error("cxone.bulk: task iterator failed: " .. tostring(task), 0)
      end
      if task == nil then
        self._input_done = true
        c:close_input()
        return
      end
      p = self:_prepare(task, self._n + 1)
      self._n = self._n + 1
    end
    if not unpack_submit(c, p, batch_id) then
      self._pending = p
      return
    end
    self._pending = nil
  end
end

function Job:_dispatch_events()
  local on_event = self._o.on_event
  local events = self._c:events()
  if on_event then
    for i = 1, #events do on_event(events[i]) end
  end
end

-- Stops taking input because the whole batch cannot proceed.
function Job:_abort(message)
  self._fatal = self._fatal or message
  self._await_outcomes = false
  self._stop_input = true
  self._pending = nil
  self._input_done = true
  self._c:cancel()
  self._c:close_input()
end

-- Takes the outcome hierarchy out of the results (it is not a task's result).
function Job:_take_fetch(results)
  for i = #results, 1, -1 do
    local r = results[i]
    if r.fetch then
      table.remove(results, i)
      local tree, err
      if r.ok then tree, err = outcomes.from_json(r.body) else err = r.error end
      if tree then
        self._outcomes, self._await_outcomes = tree, false
      else
        self:_abort("could not fetch the outcome hierarchy (validate_outcomes): " .. tostring(err))
      end
    end
  end
end

-- A fatal (whole-batch) error stops the input: every queued task comes back aborted.
function Job:_check_fatal(results)
  if self._fatal then return end
  for i = 1, #results do
    if results[i].cancelled then
      local _, fatal = self._c:counters()
      if fatal then
        self._fatal = fatal
        if not self._is_array then self._stop_input = true end
      end
      return
    end
  end
end

-- opts.deadline: past it, nothing new is sent and the remaining tasks come back cancelled.
function Job:_check_deadline()
  local at = self._deadline_at
  if at and not self._deadline_hit and monotime() >= at then
    self._deadline_hit = true
    self._c:cancel(string.format("deadline of %g s passed", self._o.deadline))
    if not self._is_array then self._stop_input = true end
  end
end

--- Returns the results finished so far (an array, possibly empty), waiting up to max_wait
-- seconds for at least one. poll(0) never blocks. Callbacks run here, on the caller's thread.
function Job:poll(max_wait)
  if not self._c then error("cxone.bulk: job is closed", 2) end
  max_wait = max_wait or 0
  if type(max_wait) ~= "number" or max_wait < 0 then error("cxone.bulk: poll(max_wait) needs a number >= 0", 2) end
  local deadline = monotime() + max_wait
  local c = self._c
  while true do
    self:_check_deadline()
    self:_feed()
    local until_ = deadline
    if self._deadline_at and not self._deadline_hit and self._deadline_at < until_ then until_ = self._deadline_at end
    local left = until_ - monotime()
    local results = c:take(left > 0 and left or 0)
    self:_dispatch_events()
    if self._await_outcomes then self:_take_fetch(results) end
    if #results > 0 then
      self:_check_fatal(results)
      local on_result = self._o.on_result
      if on_result then
        -- One protected call for the whole batch of results, not one per result.
        local ok, err = pcall(function()
          for i = 1, #results do on_result(results[i]) end
        end)
        if not ok then
          c:cancel()
          self._stop_input = true
          error(err, 0)
        end
      end
      return results
    end
    if self:done() or monotime() >= deadline then return results end
  end
end

--- True once every task's result has been returned by poll.
function Job:done()
  if not self._c then return true end
  return self._input_done and self._pending == nil and self._c:finished()
end

--- Cancels at once: nothing new is sent, in-flight transfers abort. Never blocks.
function Job:cancel(reason)
  if self._c then
    self._c:cancel(reason)
    if not self._is_array then self._stop_input = true end
  end
end

--- Live counters: totals, by status, retries, pauses, token refreshes.
function Job:summary()
  if not self._c then return self._final end
  local s, fatal = self._c:counters()
  s.elapsed = monotime() - self._started
  s.error = self._fatal or fatal
  return s
end

--- The whole-batch error (bad credentials, missing scope), if one stopped the job.
function Job:error()
  if self._c then
    local _, fatal = self._c:counters()
    return self._fatal or fatal
  end
  return self._final and self._final.error
end

--- Cancels and waits for the workers (bounded by the transfer abort time). Idempotent.
function Job:close()
  if self._c then
    self._final = self:summary()
    local c = self._c
    self._c = nil
    c:close()
  end
end
Job.__close = Job.close
function Job:__tostring() return "cxone.bulk.job: " .. tostring(self._c or "closed") end

--- Runs a whole batch and returns its summary. Raises only for whole-batch problems (bad opts,
-- credentials, scope) or when a callback or the task iterator raises; the job is then cancelled
-- and its threads joined before the error reaches the caller.
function M.batch_update(tasks, opts)
  local job = M.start(tasks, opts)
  local ok, err = pcall(function()
    while not job:done() do job:poll(1) end
  end)
  local summary = job:summary()
  job:close()
  if not ok then error(err, 0) end
  if summary.error then error("cxone.bulk: " .. summary.error, 0) end
  summary.error = nil
  return summary
end

return M
