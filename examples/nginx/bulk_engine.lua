--- The engine as this nginx uses it: the operator's options (set once, in init_by_lua), the one
-- rate bucket every batch and job of the instance draws from, the per-worker slots that cap how
-- many batches and jobs run, and the pacing of bulk.start so that starting twenty batches at once
-- does not stall the event loop.
--
-- Only the operator chooses engine options (configure); a request chooses its tasks and its
-- batch_id, never a rate, a burst or a bucket, so no caller can multiply the load on the tenant.
local bulk = require "cxone.bulk"
local options = require "cxone.bulk.options"

local ngx = ngx
local monotime = bulk.sys.monotime

local E = {}

-- Set once by configure() in init_by_lua (in the master, before the fork: plain data only).
E.conf = {
  opts = {},                 -- engine options shared by every batch (base_url, rate, shared_limit...)
  poll_interval = 0.01,      -- seconds the worker yields between polls that returned nothing
  journal_dir = nil,         -- where background jobs keep their journals, <id>.journal
  dict = "cxone_jobs",       -- lua_shared_dict holding background job progress
  max_jobs_per_worker = 1,   -- background batches one worker runs at once
  max_batches_per_worker = 32, -- streamed batches (POST /batch) one worker runs at once
  status_ttl = 3600,         -- seconds a finished job's status stays readable
  metrics_dict = "cxone_metrics", -- lua_shared_dict holding each job's Prometheus text (GET /metrics)
  metrics_ttl = 300,         -- seconds a finished job's metrics stay in GET /metrics
}
local conf = E.conf

-- The operator's engine options: every option of the library (cxone.bulk.options, the one table
-- of options) but those configure cannot take, so a new option is configurable here the day it
-- exists. NOT_CONFIGURED says why each of these is not the operator's to set in nginx.conf.
local function not_configured(o)
  if o.name == "client_id" or o.name == "client_secret" or o.name == "access_key_id"
      or o.name == "access_key_secret" then
    return "credentials come only from the environment ($" .. o.env .. ", passed by `env " .. o.env
      .. ";` in nginx.conf), never from a configuration file"
  end
  if o.name == "batch_id" then return "a request's: the body's \"batch_id\" (a job's defaults to its id)" end
  if o.kind == "journal" or o.name == "journal_mismatch" then
    return "the handler's: each background job keeps its own journal in journal_dir"
  end
  if o.kind == "function" then return "a callback: the handler polls the results and events itself" end
  if o.name == "plan" then return "a plan writes nothing: use bulk.plan or the CLI's --plan" end
  if o.name == "canary" then return "a canary needs a confirmation (on_canary) that no request here can give" end
end

E.ENGINE_OPTIONS, E.NOT_CONFIGURED = {}, {}
for _, o in ipairs(options.LIST) do
  local why = not_configured(o)
  if why then E.NOT_CONFIGURED[o.name] = why else E.ENGINE_OPTIONS[#E.ENGINE_OPTIONS + 1] = o.name end
end
local HANDLER_OPTIONS = { "poll_interval", "journal_dir", "dict", "max_jobs_per_worker",
                          "max_batches_per_worker", "status_ttl", "metrics_dict", "metrics_ttl" }
-- Handler options that count something (the template passes them as strings; "" = default).
local COUNTS = { max_jobs_per_worker = true, max_batches_per_worker = true }

-- A value as the template writes it: every placeholder is a quoted string ("45", "auto:30",
-- "true"), read here as the option's kind wants it. What does not read as one is left as it is,
-- for the library's check to refuse naming the option.
local function typed(o, v)
  if type(v) ~= "string" then return v end
  if o.kind == "integer" or o.kind == "number" or o.kind == "rate" then return tonumber(v) or v end
  if o.kind == "boolean" and (v == "true" or v == "false") then return v == "true" end
  return v
end

local function check_names(c)
  local known = {}
  for _, k in ipairs(E.ENGINE_OPTIONS) do known[k] = true end
  for _, k in ipairs(HANDLER_OPTIONS) do known[k] = true end
  for k in pairs(c) do
    if E.NOT_CONFIGURED[k] then
      error("bulk_handler.configure: option '" .. k .. "' is not set here: " .. E.NOT_CONFIGURED[k], 0)
    end
    if not known[k] then error("bulk_handler.configure: unknown option '" .. tostring(k) .. "'", 0) end
  end
end

--- Called from init_by_lua_block. Validates the engine options now, so a bad value stops
-- nginx's startup with a clear message instead of failing the first request (`nginx -t` does
-- not run init_by_lua in Debian's module: it only checks the syntax).
-- Credentials come from $CXONE_CLIENT_ID / $CXONE_CLIENT_SECRET (declare both with `env` in
-- nginx.conf), so the secret never sits in a config file.
function E.configure(c)
  assert(type(c) == "table", "bulk_handler.configure needs a table")
  check_names(c)
  for _, k in ipairs(E.ENGINE_OPTIONS) do
    local v = c[k]
    if v == "" then v = nil end -- template placeholders left empty mean "engine default"
    conf.opts[k] = typed(options.BY_NAME[k], v)
  end
  for _, k in ipairs(HANDLER_OPTIONS) do
    local v = c[k]
    if COUNTS[k] and v ~= nil and v ~= "" then
      v = tonumber(v)
      if not v or v < 1 or v ~= math.floor(v) then
        error("bulk_handler.configure: " .. k .. " must be an integer >= 1 (got " .. tostring(c[k]) .. ")", 0)
      end
    end
    if v ~= nil and v ~= "" then conf[k] = v end
  end
  local probe = { contact_id = "probe", category = "c", subcategory = "s" }
  if conf.opts.api == "cxone" then probe = { contact_id = "probe", skill = "1", disposition_code = "d" } end
  local ok, err = pcall(bulk.describe, probe, conf.opts)
  if not ok then error("bulk_handler.configure: " .. tostring(err), 0) end
end

--- The lua_shared_dict `name` (declared in nginx.conf), or an error naming it.
function E.shared(name)
  local d = ngx.shared[name]
  if not d then error("lua_shared_dict " .. name .. " is not declared in nginx.conf", 0) end
  return d
end

---------------------------------------------------------------------------------------------
-- One bucket per tenant
---------------------------------------------------------------------------------------------

-- The bucket every batch and job of this instance draws from when the operator named none: the
-- library's name for this tenant and client (bulk.tenant_limit_name: the base URL and client id;
-- cxone: API host or issuer, client id and access key id). Every worker, and any other process
-- on the host that asks the library, computes the same name; another tenant or another API
-- client gets another bucket. Computed in the worker, where the credentials are.
local limit_name
function E.limit_name()
  if conf.opts.shared_limit then return conf.opts.shared_limit end
  limit_name = limit_name or bulk.tenant_limit_name(conf.opts)
  return limit_name
end

--- Where the jobs send (bulk.target: base_url, client_id; never a secret), for their journals.
local target
function E.target()
  target = target or bulk.target(conf.opts)
  return target
end

--- The bucket as it may be shown (GET /ping): a host-wide name as it is, a redis:// or unix://
-- URL as its scheme and key only (never a user:password it may hold).
function E.limit_label()
  local name = E.limit_name()
  local scheme = name:match("^(%a[%w+.-]*)://")
  if not scheme then return name end
  return scheme .. " key " .. (name:match("[?&]key=([^&#]*)") or "?")
end

local function engine_opts(batch_id, journal)
  local o = {}
  for k, v in pairs(conf.opts) do o[k] = v end
  o.shared_limit = E.limit_name()
  o.batch_id = batch_id
  o.journal = journal
  return o
end

---------------------------------------------------------------------------------------------
-- Slots: how many batches and jobs this worker runs
---------------------------------------------------------------------------------------------

-- kind -> slots taken (per worker: each worker has its own Lua VM).
E.running = { batches = 0, jobs = 0 }
local LIMIT_OF = { batches = "max_batches_per_worker", jobs = "max_jobs_per_worker" }

--- Takes a slot of `kind` for the current request, before anything that yields (reading the
-- body): two slow uploads cannot both pass the check. Returns false when all are taken. The
-- request owns the slot until release() or handover(); the location's log_by_lua calls
-- release_request() so a request that ends any other way (client gone mid-upload) frees it.
function E.reserve(kind)
  if E.running[kind] >= conf[LIMIT_OF[kind]] then return false end
  E.running[kind] = E.running[kind] + 1
  ngx.ctx.cxb_slot = kind
  return true
end

--- Frees the slot the current request holds, if any. Idempotent.
function E.release_request()
  local kind = ngx.ctx.cxb_slot
  if kind then
    ngx.ctx.cxb_slot = nil
    E.running[kind] = E.running[kind] - 1
  end
end

--- The request gives its slot to a timer, which must call E.release(kind) when it ends.
function E.handover()
  local kind = ngx.ctx.cxb_slot
  ngx.ctx.cxb_slot = nil
  return kind
end

function E.release(kind)
  E.running[kind] = E.running[kind] - 1
end

---------------------------------------------------------------------------------------------
-- Starting a batch without stalling the worker
---------------------------------------------------------------------------------------------

-- bulk.start creates the batch's threads (measured 2-8 ms with 8 engine workers on a shared
-- 2-core VM, mostly the kernel mapping thread stacks). Twenty requests arriving together would
-- run their twenty starts in one turn of the event loop; instead, after a start that took d
-- seconds the next one waits until d more seconds have passed, so starts take at most about
-- half of the worker's time and every other request gets its turn in between.
local next_start = 0

--- Starts `tasks` with the operator's options, this batch id and (background jobs) the open
-- resume journal, paced as above. Returns true, job or false, message.
function E.start(tasks, batch_id, journal)
  local now = monotime()
  while now < next_start do
    ngx.sleep(math.max(0.001, next_start - now))
    now = monotime()
  end
  local ok, job = pcall(bulk.start, tasks, engine_opts(batch_id, journal))
  local took = monotime() - now
  next_start = now + 2 * took
  if not ok then return false, tostring(job) end
  return true, job
end

return E
