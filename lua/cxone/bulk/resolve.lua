--- cxone.bulk.resolve: a job's options as the caller gave them, checked against the option table
-- (cxone.bulk.options), with defaults and environment values filled in, and the target they name.
-- Raises an Error of kind "options" naming the option.
local options = require "cxone.bulk.options"
local errors = require "cxone.bulk.errors"
local job_safety = require "cxone.bulk.job_safety"
local live = require "cxone.bulk.live"
local core = require "cxone.bulk.core"
local profiles = require "cxone.bulk.profiles"

local M = {}

local new_error, raising = errors.new, errors.raising
local type, tostring, pairs, ipairs, error = type, tostring, pairs, ipairs, error
local fmt = string.format


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

-- The URLs of a profile that discovers its API host and token endpoint from the issuer
-- (unless given).
local function resolve_discovered(o)
  check_url("issuer", o.issuer, o.allow_http)
  if o.token_url then check_url("token_url", o.token_url, o.allow_http) end
  if o.api_base then
    o.api_base = o.api_base:gsub("/+$", "")
    check_url("api_base", o.api_base, o.allow_http)
  end
end

-- The URLs of a profile whose host the caller names (base_url); the token endpoint is under it
-- unless given.
local function resolve_named(o, describe_only)
  local placeholder
  if describe_only and (o.base_url or "") == "" then
    o.base_url, placeholder = M.BASE_URL_PLACEHOLDER, true
    o.token_url = o.token_url or (o.base_url .. "/oauth2/token")
    return placeholder
  end
  require_target(o)
  o.token_url = o.token_url or (o.base_url .. "/oauth2/token")
  check_url("base_url", o.base_url, o.allow_http)
  check_url("token_url", o.token_url, o.allow_http)
  return nil
end

-- The profile o.api names, its URLs resolved; the second result: a placeholder base URL.
local function resolve_profile(o, describe_only)
  local p, err = profiles.find(o.api)
  if not p then opt_error("option 'api' " .. err) end
  if o.preflight and not p.preflight then
    opt_error(fmt("option 'preflight' is not for api = %q (that profile reads a contact's value back only "
      .. "when an attempt's outcome is unknown)", o.api))
  end
  if p.discovery then
    resolve_discovered(o)
    return p, nil
  end
  return p, resolve_named(o, describe_only)
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
  local o = {}
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
  local p, placeholder = resolve_profile(o, describe_only)
  if o.outcome_map then
    local err = profiles.check_map(p, o.outcome_map,
      o.api ~= options.BY_NAME.api.default and fmt(" with api = %q", o.api) or nil)
    if err then opt_error("option " .. err) end
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
  if profiles.get(o.api).discovery then
    return { api = o.api, base_url = o.api_base or "(from " .. o.issuer .. " discovery)",
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
  if t.access_key_id then who = who .. "\n" .. t.access_key_id end
  local id = core.derive_key("cxone-bulk tenant limit", t.base_url, who)
  return "cxb-" .. id:gsub("-", ""):sub(1, 20)
end

-- Refuses a job without a credential its profile needs, naming the option and its variable
-- ("access_key_id is required with api = \"cxone\" (opts.access_key_id or $CXONE_ACCESS_KEY_ID)").
local function require_credentials(o)
  local needed = profiles.get(o.api).credentials
  for pass = 1, 2 do -- the profile's own credentials are reported before the API client's
    for _, name in ipairs(needed) do
      local general = name == "client_id" or name == "client_secret"
      if (pass == 2) == general and (not o[name] or o[name] == "") then
        local where = general and "" or fmt(" with api = %q", o.api)
        opt_error(fmt("%s is required%s (opts.%s or $%s)", name, where, name, options.BY_NAME[name].env))
      end
    end
  end
end

M.resolve_opts, M.require_credentials, M.opt_error = resolve_opts, require_credentials, opt_error

return M
