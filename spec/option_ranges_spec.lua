-- One range per option (issue 23 §7). lua/cxone/bulk/options.lua is the one place an option's
-- range lives: the facade checks it, and the C core (src/binding/lua_config.c) asserts only what
-- its own types need. This spec holds the two together for every numeric option the core
-- receives, so they cannot drift apart again:
--   * the facade accepts each declared edge (min, max; just above an exclusive min) and so does
--     the C core given it directly: the table never allows a value C would refuse;
--   * the facade refuses a value just outside each edge, naming the option.
-- No server is needed: a job with no tasks never sends a request.
local core = require "cxone.bulk.core"
local options = require "cxone.bulk.options"
local live = require "cxone.bulk.live"
local bulk = require "cxone.bulk"

-- Edges the table allows and the limiter refuses (none since rate and max_rate start at 1e-6,
-- the limiter's whole-nanosecond slot interval): an entry here would be checked to still
-- diverge exactly so.
local KNOWN = {}

local BASE = { base_url = "http://127.0.0.1:1", client_id = "c", client_secret = "s" }

-- The facade's options for one value of one option, its partners set so that only this option
-- is at an edge: max_rate exists only with rate = "auto" (starting at or below it), backoff_max
-- must be >= backoff_base.
local function facade_opts(decl, v)
  local o = {}
  for k, x in pairs(BASE) do o[k] = x end
  local D = options.BY_NAME
  if decl.name == "max_rate" then o.rate = ("auto:%.17g"):format(math.max(math.min(v, 45), D.rate.min)) end
  if decl.name == "backoff_base" then o.backoff_max = math.max(D.backoff_max.default, v) end
  if decl.name == "backoff_max" then o.backoff_base = math.max(0, math.min(D.backoff_base.default, v)) end
  o[decl.name] = v
  return o
end

-- The core config bulk.start would build for the same options (every default, derived values).
local function core_cfg(decl, v)
  local o = facade_opts(decl, v)
  local c = { token_url = "http://127.0.0.1:1/oauth2/token", client_id = "c", client_secret = "s", url_prefix = "" }
  for _, d in ipairs(options.LIST) do
    if o[d.name] == nil and d.default ~= nil then o[d.name] = d.default end
  end
  for _, d in ipairs(options.LIST) do
    if o[d.name] == nil and d.derive then o[d.name] = d.derive(o) end
  end
  for _, d in ipairs(options.LIST) do
    if d.core and c[d.name] == nil then c[d.name] = o[d.name] end
  end
  live.core_config(o, c)
  return c
end

local function numeric_core_options()
  local list = {}
  for _, d in ipairs(options.LIST) do
    local numeric = d.kind == "integer" or d.kind == "number" or d.kind == "rate"
    if d.core and numeric and (d.min or d.max) then list[#list + 1] = d end
  end
  return list
end

-- {label, value} of every edge a declaration allows.
local function inside_edges(d)
  local e = {}
  if d.max then e[#e + 1] = { "max", d.max } end
  if d.min then e[#e + 1] = { "min", d.above and d.min + 1e-9 or d.min } end
  return e
end

-- {label, value} just outside each edge.
local function outside_edges(d)
  local step = d.kind == "integer" and 1 or 1e-9
  local e = {}
  if d.max then e[#e + 1] = { "max", d.max + (d.kind == "integer" and 1 or math.max(1e-9, d.max * 1e-9)) } end
  if d.min then e[#e + 1] = { "min", d.above and d.min or d.min - step } end
  return e
end

describe("every numeric option's range, one place (options.lua)", function()
  local list = numeric_core_options()

  it("covers the numeric options the core receives", function()
    local names = {}
    for _, d in ipairs(list) do names[#names + 1] = d.name end
    table.sort(names)
    assert.are.same({ "backoff_base", "backoff_max", "burst", "connect_timeout", "max_rate", "max_retries",
      "max_unreachable", "pause_threshold", "queue_size", "rate", "shared_limit_timeout", "timeout",
      "workers" }, names)
  end)

  for _, d in ipairs(list) do
    for _, edge in ipairs(inside_edges(d)) do
      local label, v = edge[1], edge[2]
      local known = KNOWN[d.name .. " " .. label]
      it(("%s at its %s (%.17g): the facade %s"):format(d.name, label, v,
        known and "passes its check, the limiter refuses it (KNOWN, reported)" or "and the C core accept it"), function()
        local ok, job = pcall(bulk.start, {}, facade_opts(d, v))
        if ok then job:close() end
        local cok, cjob, cerr = pcall(core.new_job, core_cfg(d, v))
        if cok and cjob then cjob:close() end
        if known then
          assert.is_true(ok == false and tostring(job):find(known, 1, true) ~= nil, tostring(job))
          assert.is_true(cok and cjob == nil and tostring(cerr):find(known, 1, true) ~= nil, tostring(cerr))
          return
        end
        assert.is_true(ok, tostring(job))
        assert.is_true(cok and cjob ~= nil, tostring(cok and cerr or cjob))
      end)
    end
    for _, edge in ipairs(outside_edges(d)) do
      local label, v = edge[1], edge[2]
      it(("%s just past its %s (%.17g): the facade refuses it, naming the option"):format(d.name, label, v), function()
        local ok, err = pcall(bulk.start, {}, facade_opts(d, v))
        if ok then err:close() end
        assert.is_false(ok)
        assert.matches("option '" .. d.name .. "'", tostring(err), 1, true)
      end)
    end
  end
end)
