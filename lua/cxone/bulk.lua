--- cxone.bulk: bulk-update outbound contact outcomes in NICE CXone, safely and fast.
-- The work is done by the C core (cxone.bulk.core: worker threads, limiter, libcurl, OAuth2);
-- this facade adds defaults, validates options and tasks, builds request bodies with lua-cjson
-- and runs callbacks on the caller's thread.
local core = require "cxone.bulk.core"
local cjson = require "cjson"
local outcomes = require "cxone.bulk.outcomes"
local options = require "cxone.bulk.options"
local validate = require "cxone.bulk.validate"
local job_safety = require "cxone.bulk.job_safety"
local live = require "cxone.bulk.live"

local M = {
  _VERSION = "0.1.0",
  sys = core.sys,
  MAX_ID_BYTES = validate.MAX_ID_BYTES,
}

local monotime = core.sys.monotime
local type, tostring, pairs, ipairs, pcall, error = type, tostring, pairs, ipairs, pcall, error
local fmt = string.format

---------------------------------------------------------------------------------------------
-- Errors callers can branch on
---------------------------------------------------------------------------------------------

-- A failure's kind is set where it is detected — the C core's (results' error_kind, the job's
-- fatal kind), or the raise() calls of this module — and travels as data. Nothing here reads a
-- kind out of a message. Kinds: see docs/api.md "nil, err variants and error kinds".

local Error = {}
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


---------------------------------------------------------------------------------------------
-- Options
---------------------------------------------------------------------------------------------

local SECRET_OPTIONS = {}
for _, o in ipairs(options.LIST) do
  if o.secret then SECRET_OPTIONS[o.name] = true end
end

local function opt_error(msg) error(new_error("options", msg), 0) end

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

-- What a rejected value was, for the message (never a secret's value).
local function shown(name, v)
  local got = type(v)
  if not SECRET_OPTIONS[name] and (got == "number" or got == "boolean") then
    got = got .. " " .. (got == "number" and fmt("%.14g", v) or tostring(v))
  end
  return got
end

-- The one place the target is required. There is no default base URL: credentials go only to
-- a host the caller named (opts.base_url or $CXONE_BASE_URL). A profile that finds its base
-- through discovery is exempted here and nowhere else.
local function require_target(o)
  if o.base_url then o.base_url = o.base_url:gsub("/+$", "") end
  if not o.base_url or o.base_url == "" then
    opt_error("option 'base_url' is required (or $CXONE_BASE_URL): there is no default, so "
      .. "credentials never go to a host you did not name")
  end
end

-- The cxone profile's URLs (the token endpoint and API host are discovered unless given).
local function resolve_cxone(o)
  check_url("issuer", o.issuer, o.allow_http)
  if o.token_url then check_url("token_url", o.token_url, o.allow_http) end
  if o.api_base then
    o.api_base = o.api_base:gsub("/+$", "")
    check_url("api_base", o.api_base, o.allow_http)
  end
  if o.preflight then
    opt_error("option 'preflight' is for api = \"tutorial\" (the cxone profile reads a contact's "
      .. "disposition back only when an attempt's outcome is unknown)")
  end
end

-- What a description's URLs start with when no base URL was named (the cxone profile's
-- equivalent is "{api host from discovery}").
M.BASE_URL_PLACEHOLDER = "{base_url}"

--- Validates opts against the option table and fills in defaults and environment values.
-- Raises naming the offending option. describe_only: the options only describe requests (no
-- request is made), so a missing base URL becomes BASE_URL_PLACEHOLDER; the second result is
-- then true.
local function resolve_opts(opts, describe_only)
  if opts == nil then opts = {} end
  if type(opts) ~= "table" then opt_error("opts must be a table (got " .. type(opts) .. ")") end
  local o, placeholder = {}, nil
  for k, v in pairs(opts) do
    local decl = options.BY_NAME[k]
    if not decl then opt_error(fmt("unknown option '%s'", tostring(k))) end
    local want = options.check(decl, v)
    if want then opt_error(fmt("option '%s' must be %s (got %s)", k, want, shown(k, v))) end
    o[k] = v
  end
  for _, decl in ipairs(options.LIST) do
    local name = decl.name
    if o[name] == nil and decl.env then
      local v = os.getenv(decl.env)
      if v and v ~= "" then o[name] = v end
    end
    if o[name] == nil then o[name] = decl.default end
  end
  for _, decl in ipairs(options.LIST) do -- after the plain defaults: a derived one reads them
    if o[decl.name] == nil and decl.derive then o[decl.name] = decl.derive(o) end
  end
  live.resolve(o, opt_error)
  if o.api == "cxone" then
    resolve_cxone(o)
  elseif o.api ~= "tutorial" then
    opt_error(fmt("option 'api' must be \"tutorial\" or \"cxone\" (got %q)", o.api))
  elseif describe_only and (o.base_url or "") == "" then
    o.base_url, placeholder = M.BASE_URL_PLACEHOLDER, true
    o.token_url = o.token_url or (o.base_url .. "/oauth2/token")
  else
    require_target(o)
    o.token_url = o.token_url or (o.base_url .. "/oauth2/token")
    check_url("base_url", o.base_url, o.allow_http)
    check_url("token_url", o.token_url, o.allow_http)
  end
  if o.outcome_map then
    local ok, err = (o.api == "cxone" and outcomes.check_disposition_map or outcomes.check_map)(o.outcome_map)
    if not ok then opt_error("option " .. err) end
  end
  if o.backoff_max < o.backoff_base then
    opt_error(fmt("option 'backoff_max' (%g) must be >= backoff_base (%g)", o.backoff_max, o.backoff_base))
  end
  job_safety.check_opts(o, opt_error)
  return o, placeholder
end

--- Where a job with these opts would send its requests, checked like start() checks it:
-- {base_url=, token_url=, client_id=} (never a secret). Raises naming a bad option.
-- describe_only: as describer(opts, true) sees it (a dry run): a missing base URL is then
-- BASE_URL_PLACEHOLDER and the answer has placeholder = true.
local function target(opts, describe_only)
  local o, placeholder = resolve_opts(opts, describe_only)
  if o.api == "cxone" then
    return { api = "cxone", base_url = o.api_base or "(from " .. o.issuer .. " discovery)",
             token_url = o.token_url or "(from " .. o.issuer .. " discovery)", issuer = o.issuer,
             client_id = o.client_id, access_key_id = o.access_key_id }
  end
  return { base_url = o.base_url, token_url = o.token_url, client_id = o.client_id, placeholder = placeholder }
end
function M.target(opts, describe_only) return raising(target, opts, describe_only) end

--- A host-wide shared_limit name for the tenant and API client opts address: "cxb-" and 20 hex
-- digits of a UUIDv5 over the target (base URL; cxone: API host or issuer) and the client id
-- (cxone: and access key id). Every process that computes it for the same target and client
-- names the same bucket. Not a default of the library or the CLI (theirs is a per-process
-- bucket): the nginx example passes it. Raises naming a bad option.
function M.tenant_limit_name(opts)
  local t = M.target(opts)
  local who = t.client_id or ""
  if t.api == "cxone" then who = who .. "\n" .. (t.access_key_id or "") end
  local id = core.derive_key("cxone-bulk tenant limit", t.base_url, who)
  return "cxb-" .. id:gsub("-", ""):sub(1, 20)
end

local function require_credentials(o)
  if o.api == "cxone" then
    if not o.access_key_id or o.access_key_id == "" then
      opt_error("access_key_id is required with api = \"cxone\" (opts.access_key_id or $CXONE_ACCESS_KEY_ID)")
    end
    if not o.access_key_secret or o.access_key_secret == "" then
      opt_error("access_key_secret is required with api = \"cxone\" (opts.access_key_secret or "
        .. "$CXONE_ACCESS_KEY_SECRET)")
    end
  end
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

-- Field checks and the outcome_code mapping live in cxone.bulk.validate, shared with the CLI;
-- here they only get the "task N: " label.

M.DISPOSITION_OPTIONAL = validate.PROFILES.cxone.optional

--- cxone: checks one task and builds its set-disposition body (only the fields given).
-- Returns body, skill, disposition_code or nil, message.
local function check_disposition(task, label, outcome_map)
  local why, skill, code = validate.task(task, "cxone", outcome_map, validate.LIBRARY)
  if why then return nil, label .. ": " .. why end
  local d = { skill = skill, disposition_code = code }
  for _, f in ipairs(M.DISPOSITION_OPTIONAL) do
    if task[f] ~= "" then d[f] = task[f] end
  end
  local body, berr = core.disposition_body(d)
  if not body then return nil, label .. ": " .. berr end
  return body, skill, code
end

--- Checks one task and resolves outcome codes. Returns category, subcategory or nil, message.
local function check_task(task, label, outcome_map)
  local why, category, subcategory = validate.task(task, "tutorial", outcome_map, validate.LIBRARY)
  if why then return nil, label .. ": " .. why end
  return category, subcategory
end

--- Validates a task the way the engine will. Returns true or nil, message.
function M.validate_task(task, outcome_map, api)
  local ok, err = (api == "cxone" and check_disposition or check_task)(task, "task", outcome_map)
  if not ok then return nil, err end
  return true
end

--- A function that describes tasks under opts (checked once): task -> {method, url,
-- idempotency_key, body} or nil, message. For describing many tasks (the CLI's --dry-run).
-- Needs no credentials; with placeholder = true no base URL either: the URLs then start with
-- BASE_URL_PLACEHOLDER.
local function describer(opts, placeholder)
  local o = resolve_opts(opts, placeholder)
  if o.api == "cxone" then
    local prefix = (o.api_base or "{api host from discovery}") .. "/incontactapi/services/" .. o.api_version
      .. "/contacts/"
    return function(task)
      local body, err = check_disposition(task, "task", o.outcome_map)
      if not body then return nil, err end
      return { method = "POST", url = prefix .. pct_encode(task.contact_id) .. "/set-disposition", body = body }
    end
  end
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

---------------------------------------------------------------------------------------------
-- Jobs
---------------------------------------------------------------------------------------------

local Job = {}
Job.__index = Job

-- The options the C core receives (complete and checked: it keeps no defaults of its own).
local function core_config(o)
  local c = {}
  for _, decl in ipairs(options.LIST) do
    if decl.core then c[decl.name] = o[decl.name] end
  end
  live.core_config(o, c)
  return c
end

-- A job's input side is in one of these states:
--   "open"      tasks may still come (from the iterator, or pushed with job:submit)
--   "draining"  an iterator is not read any further (cancel, deadline, a failing on_result):
--               the input closes at the next feed; an array is never drained, so each of its
--               tasks still comes back (cancelled) as its one result
--   "closed"    no more tasks: the core was told (close_input); results may still be pending
-- The deadline fires once (deadline_at is then cleared).
-- Independently, `gate` is "outcomes" while tasks wait for the outcome hierarchy
-- (validate_outcomes) and "open" otherwise, and `fatal` holds a whole-batch error once one
-- stopped the job. Every task the job took yields exactly one result, whatever happens.
local function new_job(o, iter, is_array, size)
  if o.insecure then
    io.stderr:write("cxone.bulk: WARNING: TLS certificate verification is disabled (insecure = true)\n")
  end
  local self = setmetatable({
    _o = o, _iter = iter, _is_array = is_array, _n = 0, _returned = 0, _input = "open", _gate = "open",
    _started = monotime(), _prefix = o.base_url and (o.base_url .. "/api/v2/contacts/"), _size = size,
  }, Job)
  if o.deadline then self._deadline_at = self._started + o.deadline end
  local cfg = core_config(o)
  cfg.url_prefix = self._prefix or ""
  local c, err, kind = core.new_job(cfg)
  if not c then error(new_error(kind, err), 0) end
  self._c = c
  self._local = {} -- results settled here, without the engine (journal skips), not yet returned
  self._safe = job_safety.new(o, self, new_error) -- plan reads, before-images, canary, auto-halt
  if o.journal then
    -- Loaded only for journaled jobs: compiling the journal modules is a cost the others skip.
    local job_journal = require "cxone.bulk.job_journal"
    local ok, jj = pcall(job_journal.open, o, c, core.sys, function(k, msg) error(new_error(k, msg), 0) end,
      function(k, msg) self:_abort(new_error(k, msg)) end)
    if not ok then
      c:close()
      error(jj, 0)
    end
    self._jj = jj
  end
  -- Outcome names checked against the hierarchy (validate_outcomes) and the cxone profile's
  -- bodies take the general path.
  self._plain = o.api == "tutorial" and not o.validate_outcomes and not o.journal
  if o.api == "cxone" then
    self._skills = {} -- validate_outcomes: skill -> its dispositions, fetched at first use
  elseif o.validate_outcomes then
    -- Tasks wait until the hierarchy has arrived (same token, same limiter, one request).
    self._gate = "outcomes"
    self._c:fetch(o.base_url .. "/api/v2/contact/outcomes")
  end
  return self
end

--- Starts a job and returns at once. Tasks are pulled from `tasks` (an array or an iterator
-- function) as queue space frees.
local function start(tasks, opts)
  local o = resolve_opts(opts)
  require_credentials(o)
  return new_job(o, make_iterator(tasks))
end
function M.start(tasks, opts) return raising(start, tasks, opts) end

--- Opens a job the caller pushes tasks into with job:submit(task) (false: not now, poll and try
-- again) and ends with job:close_input(). One job, one limiter and one token for the whole run.
local function open(opts)
  local o = resolve_opts(opts)
  require_credentials(o)
  return new_job(o, nil, false)
end
function M.open(opts) return raising(open, opts) end

-- cxone: nil when code is one of skill's dispositions, else why not (with a suggestion).
local function check_skill_code(known, skill, code)
  if known == false then return fmt("skill %q does not exist (its dispositions answered 404)", skill) end
  if known.ids[code] or known.names[code] then return nil end
  local msg = fmt("disposition_code %q is not a disposition of skill %s", code, skill)
  local near = outcomes.closest(known.list, code)
  if near then return msg .. fmt('; did you mean "%s"?', near) end
  return msg .. " (its dispositions: " .. table.concat(known.list, ", ") .. ")"
end

-- cxone: {index=, id=, body=} (the URL is built on the worker), or {need_skill=} when
-- validate_outcomes has not yet seen this task's skill.
function Job:_prepare_cxone(task, index)
  local label = "task " .. index
  local body, skill, code = check_disposition(task, label, self._o.outcome_map)
  local id = type(task) == "table" and type(task.contact_id) == "string" and task.contact_id or ""
  if not body then return { index = index, id = id, url = "", body = "", key = "", invalid = skill } end
  if self._o.validate_outcomes then
    local known = self._skills[skill]
    if known == nil then return { need_skill = skill } end
    local why = check_skill_code(known, skill, code)
    if why then return { index = index, id = id, url = "", body = "", key = "", invalid = label .. ": " .. why } end
  end
  local p = { index = index, id = id, url = "", body = body, key = "", verify = task.verify == true }
  self._safe:prepare(p, { skill = skill, disposition_code = code, notes = task.notes })
  if self._jj then
    local ident = { contact_id = id, skill = skill, disposition_code = code }
    for _, f in ipairs(M.DISPOSITION_OPTIONAL) do
      if task[f] ~= "" then ident[f] = task[f] end
    end
    self:_journal_gate(p, ident, task)
  end
  return p
end

-- Journaled jobs: what the journal says of a prepared task (p.skip: applied by an earlier run;
-- p.verify: read it back first), and its identity for the intent and result records.
function Job:_journal_gate(p, ident, task)
  local g = self._jj:gate(ident)
  p.ident, p.line = ident, task.line
  if g == "journal" then p.skip = "journal" end
  if g == "verify" then p.verify = true end
end

-- cxone validate_outcomes: asks for one skill's dispositions; tasks wait until it arrives.
function Job:_fetch_skill(skill)
  if self._c:fetch("", skill) then self._gate = "outcomes" end
end

-- Prepares a task for the core: {index=, id=, url=, body=, key=, invalid=}.
function Job:_prepare(task, index)
  if self._skills then return self:_prepare_cxone(task, index) end
  local label = "task " .. index
  local category, subcategory = check_task(task, label, self._o.outcome_map)
  if not category then
    local id = ""
    if type(task) == "table" and task.contact_id ~= nil then id = tostring(task.contact_id) end
    return { index = index, id = id, url = "", body = "", invalid = subcategory }
  end
  local id = task.contact_id
  if self._outcomes then
    local why = outcomes.check(self._outcomes, category, subcategory)
    if why then return { index = index, id = id, url = "", body = "", invalid = label .. ": " .. why } end
  end
  local p = { index = index, id = id, url = self._prefix .. pct_encode(id),
              body = encode_body(category, subcategory), key = task.idempotency_key, verify = task.verify == true }
  self._safe:prepare(p, { category = category, subcategory = subcategory })
  if self._jj then
    self:_journal_gate(p, { contact_id = id, category = category, subcategory = subcategory,
                    idempotency_key = task.idempotency_key }, task)
  end
  return p
end

-- The standard tutorial task (contact_id, category, subcategory strings; no outcome_code, no key
-- of its own) goes to the core whole: it builds the URL, body and key (src/plain_task.h) and
-- returns true, or false when the queue is full; nil means the task is not plainly valid and
-- takes the general path, whose validator words any refusal.
function Job:_submit_plain(task, index)
  if not self._plain or type(task) ~= "table" or task.outcome_code ~= nil or task.idempotency_key ~= nil
    or task.verify ~= nil or self._safe.general then
    return nil -- (journaled jobs are never plain: the journal decides on each task)
  end
  local id, category, subcategory = task.contact_id, task.category, task.subcategory
  if type(id) ~= "string" or type(category) ~= "string" or type(subcategory) ~= "string" then return nil end
  return self._c:submit_plain(index, id, category, subcategory)
end

-- Hands a prepared task to the engine (false: the queue is full). A task the journal records as
-- applied is settled here without a request; a journaled task's intent is buffered once the
-- engine took it (the engine waits for flush_journal before sending it).
function Job:_submit_prepared(p)
  if p.skip then
    self._local[#self._local + 1] = { index = p.index, contact_id = p.id, ok = true, status = 0, attempts = 0,
                                       skipped = p.skip, elapsed = 0 }
    return true
  end
  if not self._c:submit(p) then return false end
  if not p.invalid then self._safe:submitted(p) end
  if p.ident and not p.invalid then self._jj:intent(p.index, p.ident, p.line) end
  return true
end

-- Writes the buffered intents; the engine sends their tasks only after that.
function Job:_flush_journal()
  if self._jj then self._jj:flush(self._c) end
end

-- Stops reading the iterator (see the input states above).
function Job:_drain()
  if self._iter and not self._is_array and self._input == "open" then self._input = "draining" end
end

function Job:_close_input()
  if self._input ~= "closed" then
    self._input = "closed"
    self._held = nil
    self._c:close_input()
  end
end

--- Push mode: hands one task to the engine. Returns its index (results carry it), or false when
-- the engine cannot take it now (queue full, or the outcome hierarchy has not arrived): poll,
-- then submit the same task again. After a whole-batch error a submitted task still yields its
-- one result (cancelled, naming the error).
function Job:submit(task)
  if not self._c then error("cxone.bulk: job is closed", 2) end
  if self._iter then error("cxone.bulk: submit() is for jobs made with bulk.open()", 2) end
  if self._input == "closed" then error("cxone.bulk: submit() after close_input()", 2) end
  if self._gate ~= "open" then return false end
  local index = self._n + 1
  local sent = self:_submit_plain(task, index)
  if sent == nil then
    local p = self:_prepare(task, index)
    if p.need_skill then
      self:_fetch_skill(p.need_skill)
      return false
    end
    sent = self:_submit_prepared(p)
  end
  if not sent then return false end
  self._n = index
  self:_flush_journal()
  return index
end

--- Push mode: no more tasks will be submitted.
function Job:close_input()
  if not self._c then error("cxone.bulk: job is closed", 2) end
  self:_close_input()
end

-- Iterator mode: the next task and its index (a task held back is given again), or nil once the
-- input has ended (the core is then told).
function Job:_next_task()
  local task = self._held_task
  self._held_task = nil
  if task ~= nil then return task, self._n end
  if self._input == "draining" then return self:_close_input() end
  local ok
  ok, task = pcall(self._iter)
  if not ok then
    -- The tasks already taken still run and each comes back as its result; the error stops the
    -- batch once they have (poll raises it after the last result, batch_update then).
    self._fatal = self._fatal or new_error("input", "task iterator failed: " .. tostring(task))
    self._iter_failed = true
    return self:_close_input()
  end
  if task == nil then return self:_close_input() end
  self._n = self._n + 1
  return task, self._n
end

-- Iterator mode: moves tasks into the core's queue until it is full or the input ends, then
-- writes their journal intents (one write) so the engine may send them.
function Job:_feed()
  self:_feed_tasks()
  self:_flush_journal()
end

function Job:_feed_tasks()
  if not self._iter or self._input == "closed" then return end
  while self._gate == "open" do -- a canary closes it after its last task
    local p = self._held
    if not p then
      local task, n = self:_next_task()
      if task == nil then return end
      local sent = self:_submit_plain(task, n)
      if sent == false then
        self._held_task = task -- the queue is full: given again next time
        return
      end
      if sent == nil then
        p = self:_prepare(task, n)
        if p.need_skill then
          self._held_task = task -- prepared again once the skill's dispositions are in
          return self:_fetch_skill(p.need_skill)
        end
      end
    end
    if p then
      if not self:_submit_prepared(p) then
        self._held = p
        return
      end
      self._held = nil
    end
  end
end

function Job:_dispatch_events()
  local on_event = self._o.on_event
  local events = self._c:events()
  if on_event then
    for i = 1, #events do on_event(events[i]) end
  end
end

-- A whole-batch error found on this side (e: an Error: the outcome hierarchy could not be
-- fetched, the journal could not be written): nothing more is sent. Every task already taken,
-- and every task of an array, comes back cancelled naming the error; an iterator is not read
-- further.
-- halt: what is in flight finishes (a stop decided by the batch's own results: the auto-halt, a
-- canary); otherwise in-flight transfers are aborted too.
function Job:_abort(e, reason, halt)
  self._fatal = self._fatal or e
  self._gate = "open"
  if halt then self._c:halt(reason or e.message) else self._c:cancel(reason or e.message) end
  self:_drain()
end

-- cxone: a skill's dispositions from its fetch result, false for an unknown skill (404), or
-- nil, message.
local function skill_dispositions(r)
  if not r.ok then
    if r.status == 404 and not r.cancelled then return false end
    return nil, r.error
  end
  local doc = cjson.decode(r.body)
  if type(doc) ~= "table" or type(doc.dispositions) ~= "table" then
    return nil, "the answer has no dispositions array"
  end
  local known = { ids = {}, names = {}, list = {} }
  for _, d in ipairs(doc.dispositions) do
    if type(d) == "table" then
      local n = d.dispositionId
      if type(n) == "number" and n == math.floor(n) and math.abs(n) < 2 ^ 53 then
        known.ids[fmt("%d", n)] = true
      end
      if type(d.dispositionName) == "string" then
        known.names[d.dispositionName] = true
        known.list[#known.list + 1] = d.dispositionName
      end
    end
  end
  return known
end

-- The kind of a failed fetch: the batch's own when it was cancelled by a whole-batch error
-- (wrong credentials), "api" when the answer came but was unusable, else the fetch's.
function Job:_fetch_kind(r)
  if r.ok then return "api" end
  if r.cancelled then
    local _, fatal, kind = self._c:counters()
    if fatal then return kind end
  end
  return r.error_kind
end

-- Takes the outcome hierarchy out of the results (it is not a task's result).
function Job:_take_fetch(results)
  for i = #results, 1, -1 do
    local r = results[i]
    if r.fetch and self._skills then
      table.remove(results, i)
      local ok, known, err = pcall(skill_dispositions, r)
      if ok and known ~= nil then
        self._skills[r.contact_id], self._gate = known, "open"
      else
        self:_abort(new_error(self:_fetch_kind(r), fmt(
          "could not fetch the dispositions of skill %s (validate_outcomes): %s", r.contact_id,
          tostring(ok and err or known))))
      end
    elseif r.fetch then
      table.remove(results, i)
      local tree, err
      if r.ok then tree, err = outcomes.from_json(r.body) else err = r.error end
      if tree then
        self._outcomes, self._gate = tree, "open"
      else
        self:_abort(new_error(self:_fetch_kind(r),
          "could not fetch the outcome hierarchy (validate_outcomes): " .. tostring(err)))
      end
    end
  end
end

-- A fatal error raised in the core (bad credentials, missing scope) stops reading an iterator.
function Job:_check_fatal(results)
  if self._fatal then return end
  for i = 1, #results do
    if results[i].cancelled then
      local _, fatal, kind = self._c:counters()
      if fatal then
        self._fatal = new_error(kind, fatal)
        self:_drain()
      end
      return
    end
  end
end

-- opts.deadline: past it, nothing new is sent and the remaining tasks come back cancelled.
function Job:_check_deadline()
  local at = self._deadline_at
  if at and monotime() >= at then
    self._deadline_at = nil
    self._c:cancel(string.format("deadline of %g s passed", self._o.deadline))
    self:_drain()
  end
end

--- Returns the results finished so far (an array, possibly empty), waiting up to max_wait
-- seconds (math.huge: until one arrives or the job is done) for at least one. poll(0) never
-- blocks. Callbacks run here, on the caller's thread.
function Job:poll(max_wait)
  if not self._c then error("cxone.bulk: job is closed", 2) end
  max_wait = max_wait or 0
  if type(max_wait) ~= "number" or not (max_wait >= 0) then -- luacheck: ignore 581 (NaN must fail)
    error("cxone.bulk: poll(max_wait) needs a number >= 0", 2)
  end
  local deadline = monotime() + max_wait
  local c = self._c
  self._safe:check_canary() -- before feeding: the caller has handled every canary result
  while true do
    self:_check_deadline()
    self:_feed()
    local until_ = deadline
    if self._deadline_at and self._deadline_at < until_ then until_ = self._deadline_at end
    local ready = self._safe:canary_ready()
    local left = (self._local[1] or ready) and 0 or until_ - monotime()
    local results = c:take(left > 0 and left or 0)
    self:_dispatch_events()
    if self._gate == "outcomes" or self._fatal then self:_take_fetch(results) end
    -- (the checks are inline: a poll that returns one result must stay cheap)
    if self._local[1] then self:_take_local(results) end
    if results[1] then
      self._safe:results(results) -- may halt the batch
      self._returned = self._returned + #results
      self:_check_fatal(results)
      if self._jj then self:_journal_results(results) end
      if self._o.on_result then self:_deliver(results) end
      return results
    end
    if self:done() or ready or monotime() >= deadline then return results end
    -- Push mode with an open input and nothing in flight: nothing can arrive, do not spin.
    if not self._iter and self._input == "open" and self._gate == "open" and self._n == self._returned then
      return results
    end
  end
end

-- Moves the results settled without the engine (journal skips) into results.
function Job:_take_local(results)
  local l = self._local
  for i = 1, #l do results[#results + 1] = l[i] end
  self._local_done = (self._local_done or 0) + #l
  self._local = {}
end

-- The journal records each result before the caller sees it (it is what a rerun trusts).
function Job:_journal_results(results)
  local jj = self._jj
  for i = 1, #results do jj:result(results[i]) end
  jj:tick()
end

-- on_result for each result: one protected call for the whole batch, not one per result. A
-- raising callback cancels the job and its error reaches the caller.
function Job:_deliver(results)
  local on_result = self._o.on_result
  local ok, err = pcall(function()
    for i = 1, #results do on_result(results[i]) end
  end)
  if not ok then
    self._c:cancel()
    self:_drain()
    error(err, 0)
  end
end

--- True once the input is closed and every task's result has been returned by poll.
function Job:done()
  if not self._c then return true end
  return self._input == "closed" and #self._local == 0 and self._c:finished()
end

--- Cancels at once: nothing new is sent, in-flight transfers abort. Never blocks.
function Job:cancel(reason)
  if self._c then
    self._c:cancel(reason)
    self:_drain()
  end
end

-- The whole-batch error (an Error), if one stopped the job.
function Job:_error()
  if self._fatal then return self._fatal end
  local _, fatal, kind = self._c:counters()
  if fatal then return new_error(kind, fatal) end
end

--- Live counters: totals, by status, retries, pauses, token refreshes; `error` and `error_kind`
-- when a whole-batch error stopped the job.
function Job:summary()
  if not self._c then return self._final end
  local s = self._c:counters()
  local n = self._local_done or 0 -- settled by the journal: taken, succeeded, skipped
  s.total, s.succeeded, s.skipped = s.total + n, s.succeeded + n, s.skipped + n
  s.elapsed = monotime() - self._started
  live.summary(self, s)
  local e = self:_error()
  if e then s.error, s.error_kind = e.message, e.kind end
  return self._safe:summarize(s)
end

--- The whole-batch error that stopped the job (bad credentials, missing scope, the API out of
-- reach, a failing task iterator): message and kind, or nil.
function Job:error()
  if self._c then
    local e = self:_error()
    if e then return e.message, e.kind end
    return nil
  end
  local f = self._final
  if f and f.error then return f.error, f.error_kind end
end

-- What job:metrics() renders (cxone.bulk.metrics).
function Job:_metrics_data()
  local status
  if type(self.status) == "function" then -- the live state, where the job offers it
    local ok, st = pcall(self.status, self)
    if ok and type(st) == "table" then status = st end
  end
  return { core = self._c and self._c:metrics() or self._final_metrics, summary = self:summary(),
    status = status, rate = self._o.rate, skipped_locally = self._local_done }
end

--- The job's metrics in the Prometheus text exposition format (docs/api.md "Prometheus
-- metrics"); labels (optional) are put on every sample. After close: the final figures.
function Job:metrics(labels)
  return require("cxone.bulk.metrics").render(self:_metrics_data(), labels) -- loaded when first used
end

--- Cancels and waits for the workers (bounded by the transfer abort time), then closes a
-- journal the job opened. Idempotent.
function Job:close()
  if not self._c then return end
  local c = self._c
  local final = self:summary()
  self._final_metrics = c:metrics()
  self._c = nil
  c:close()
  if self._jj then
    local ok, err = pcall(self._jj.close, self._jj, final.requests)
    if not ok and not final.error then final.error, final.error_kind = tostring(err), "output" end
  end
  self._final = final
end
Job.__close = Job.close
live.extend(Job) -- set_rate, set_max_rate, status
function Job:__tostring() return "cxone.bulk.job: " .. tostring(self._c or "closed") end

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
