--- Renders examples/nginx/nginx.conf: replaces every {{NAME}} with a value.
--   As a command:  lua examples/nginx/render.lua NAME=value... > nginx.conf
--   As a module:   require("examples.nginx.render").render(template_text, { NAME = value })
-- A placeholder with neither a value nor a default is an error naming it, never left in place.
local R = {}

local function script_dir()
  local src = debug.getinfo(1, "S").source
  return (src:match("^@(.*)/[^/]*$")) or "."
end

local function abspath(p)
  if p:sub(1, 1) == "/" then return p end
  local pwd = os.getenv("PWD") or "."
  return pwd .. "/" .. p
end

R.DEFAULTS = {
  USER_LINE = "",                       -- e.g. "user www-data;" when started as root
  WORKERS = "1",
  LOG_LEVEL = "info",
  PORT = "8088",
  API = "tutorial",                     -- or "cxone" (the real platform, docs/cxone.md)
  -- BASE_URL has no default for API=tutorial: credentials go only to an API the operator named.
  -- API=cxone reaches the platform through ISSUER ("" = the library's, NICE's own).
  ISSUER = "",
  API_VERSION = "",                     -- cxone: "" = the library's default
  RATE = "45",                          -- requests/s of the one bucket all batches share;
                                        -- "auto" / "auto:R": find the tenant's limit
  MAX_RATE = "",                        -- RATE=auto only: its ceiling ("": 2 x the start)
  BURST = "20",
  ENGINE_WORKERS = "8",                 -- engine threads per batch
  SHARED_LIMIT = "",                    -- "" = host-wide, named after base URL and client id;
                                        -- a name (host-wide) or a redis:// URL (fleet-wide)
  MAX_JOBS = "",                        -- background jobs one worker runs at once ("": 1)
  MAX_BATCHES = "",                     -- streamed batches one worker runs at once ("": 32)
}

--- Returns the rendered text, or nil and a message naming the first unresolved placeholder.
function R.render(template, values)
  if values.API == "cxone" and values.BASE_URL == nil then
    values = setmetatable({ BASE_URL = "" }, { __index = values }) -- found through discovery
  end
  local missing
  local out = template:gsub("{{([%w_]+)}}", function(name)
    local v = values[name]
    if v == nil then v = R.DEFAULTS[name] end
    if v == nil then missing = missing or name; return "" end
    return tostring(v)
  end)
  if missing then return nil, "no value for {{" .. missing .. "}} (pass " .. missing .. "=...)" end
  return out
end

--- Reads the template next to this file (or at `path`) and renders it.
function R.render_file(values, path)
  path = path or (script_dir() .. "/nginx.conf")
  local f, err = io.open(path, "rb")
  if not f then return nil, "cannot read template: " .. tostring(err) end
  local text = f:read("*a")
  f:close()
  local v = {}
  for k, x in pairs(values) do v[k] = x end
  -- REPO defaults to the checkout this file lives in (examples/nginx/ -> ../..).
  v.REPO = v.REPO or (abspath(script_dir()):gsub("/?[^/]+/[^/]+$", ""))
  if v.REPO == "" then v.REPO = "/" end
  return R.render(text, v)
end

local function main(args)
  local values = {}
  for _, a in ipairs(args) do
    local k, v = a:match("^([%w_]+)=(.*)$")
    if not k then
      io.stderr:write("render.lua: arguments are NAME=value (got '", a, "')\n")
      os.exit(2)
    end
    values[k] = v
  end
  if not values.PREFIX then
    io.stderr:write("render.lua: PREFIX=/some/dir is required (pid, logs, temp and journal go there)\n")
    os.exit(2)
  end
  local text, err = R.render_file(values)
  if not text then
    io.stderr:write("render.lua: ", err, "\n")
    os.exit(2)
  end
  io.write(text)
end

-- require passes the module name as `...`; a command line passes NAME=value arguments.
local first = ...
if not (type(first) == "string" and first:match("render$")) then main({ ... }) end

return R
