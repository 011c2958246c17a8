--- The options of cxone.bulk, declared once.
--
-- This table is the one place an option's type, default, range, CLI flag, environment variable
-- and help text live. bulk.lua checks opts against it, args.lua derives the CLI's engine flags
-- and their usage lines from it, and spec/options_doc_spec.lua fails when docs/api.md or
-- docs/cli.md disagree with it. The C core receives complete, checked values and keeps no
-- defaults of its own.
--
-- Fields: name; kind ("url", "string", "nonempty", "boolean", "function", "table", "integer",
-- "number", "rate": a number or "auto[:START]"); default; min/max (inclusive; above = true makes min exclusive); flag (the CLI flag,
-- nil when the option is library-only); env (read when the option is not given); secret (never
-- echoed); core (handed to the C core); meta (the CLI value placeholder); help (one line);
-- derive (a default computed from the other resolved options, e.g. queue_size from workers)
-- with default_doc, the words the docs use for it; group (the --help section, one of GROUPS:
-- required for every option with a flag or an environment variable, the help refuses to be
-- built without it); discovery (only a profile that discovers its API host uses it:
-- cxone.bulk.profiles, `discovery`).
local M = {}

-- The sections of cxone-bulk --help, in order (args.lua's own options name them too).
M.GROUPS = {
    { id = "input", title = "Input" },
    { id = "target", title = "Target and credentials" },
    { id = "rate", title = "Rate and retries" },
    { id = "outputs", title = "Outputs" },
    { id = "safety", title = "Safety" },
    { id = "general", title = "General" },
}

-- Environment variables that are not an option's: read by the C core itself. Listed in --help
-- beside the options' own (env above).
M.ENV_ONLY = {
    { env = "CXONE_REDIS_PASSWORD", group = "target",
      help = "password for a redis:// or unix:// --shared-limit (never put it in the URL)" },
}

M.LIST = {
    { name = "api", core = true, kind = "string", default = "tutorial", flag = "api", meta = "tutorial|cxone",
      help = "API profile: the tutorial's contract, or cxone (the real platform, docs/cxone.md)",
      group = "target" },
    { name = "base_url", kind = "url", env = "CXONE_BASE_URL", flag = "base-url", meta = "URL",
      help = "API base URL", group = "target" },
    { name = "token_url", core = true, kind = "url", flag = "token-url", meta = "URL",
      help = "OAuth2 token endpoint (default: base_url .. /oauth2/token)", group = "target" },
    { name = "client_id", core = true, kind = "nonempty", env = "CXONE_CLIENT_ID",
      help = "OAuth2 client id", group = "target" },
    { name = "client_secret", core = true, kind = "nonempty", env = "CXONE_CLIENT_SECRET", secret = true,
      help = "OAuth2 client secret (never printed)", group = "target" },
    { name = "access_key_id", core = true, kind = "nonempty", env = "CXONE_ACCESS_KEY_ID",
      help = "cxone: the API user's access key id (password grant username)", group = "target" },
    { name = "access_key_secret", core = true, kind = "nonempty", env = "CXONE_ACCESS_KEY_SECRET", secret = true,
      help = "cxone: the access key secret (password grant password; never printed)", group = "target" },
    { name = "issuer", discovery = true, core = true, kind = "url", default = "https://cxone.niceincontact.com", flag = "issuer",
      meta = "URL", help = "cxone: OpenID issuer whose discovery documents are read", group = "target" },
    { name = "tenant_id", discovery = true, core = true, kind = "nonempty", flag = "tenant-id", meta = "ID",
      help = "cxone: tenant (default: the id_token's tenantId claim)", group = "target" },
    { name = "api_base", discovery = true, core = true, kind = "url", flag = "api-base", meta = "URL",
      help = "cxone: API host (default: from the tenant's cxone-configuration)", group = "target" },
    { name = "api_version", discovery = true, core = true, kind = "nonempty", default = "v33.0", flag = "api-version",
      meta = "vN.M", help = "cxone: API version in /incontactapi/services/{version}/", group = "target" },
    { name = "scope", core = true, kind = "string", default = "contact:read contact:update", flag = "scope",
      meta = "SCOPE", help = "OAuth2 scope to request", group = "target" },
    { name = "basic_auth", core = true, kind = "boolean", default = false,
      help = "send client credentials with HTTP Basic instead of the form body" },
    { name = "workers", core = true, kind = "integer", default = 10, min = 1, max = 256, flag = "workers",
      meta = "N", help = "parallel connections", group = "rate" },
    { name = "rate", core = true, kind = "rate", default = 45, min = 1e-6, max = 100000,
      flag = "rate", meta = "R|auto[:R]",
      help = "requests per second across all workers; auto: find the tenant's limit, starting at R",
      group = "rate" },
    { name = "max_rate", core = true, kind = "number", min = 1e-6, max = 100000, flag = "max-rate",
      meta = "R", derive = function(o) local r = M.rate_spec(o.rate); return r and r.auto and 2 * r.start or nil end,
      default_doc = "2 × the start rate", help = "rate = auto: the highest rate it may reach", group = "rate" },
    { name = "burst", core = true, kind = "number", default = 20, min = 1, max = 100000, flag = "burst",
      meta = "B", help = "requests allowed at once above the rate", group = "rate" },
    { name = "shared_limit", core = true, kind = "nonempty", flag = "shared-limit", meta = "NAME|URL",
      help = "one limit shared by every process naming it (redis://host:port?key=K for a fleet)",
      group = "rate" },
    { name = "shared_limit_timeout", core = true, kind = "number", default = 30, min = 0, above = true,
      max = 86400, flag = "shared-limit-timeout", meta = "S",
      help = "fail the batch after Redis was unreachable this long", group = "rate" },
    { name = "shared_limit_fallback", core = true, kind = "nonempty", flag = "shared-limit-fallback",
      meta = "local:RATE", help = "when Redis is unreachable, a local limit at RATE instead of waiting",
      group = "rate" },
    { name = "max_unreachable", core = true, kind = "integer", default = 10, min = 0, max = 1000000,
      flag = "max-unreachable", meta = "N",
      help = "stop after N consecutive attempts could not connect (DNS, refused, TLS; 0: never)",
      group = "rate" },
    { name = "max_retries", core = true, kind = "integer", default = 3, min = 0, max = 100,
      flag = "max-retries", meta = "N", help = "retries per task on 429, 5xx and network errors",
      group = "rate" },
    { name = "backoff_base", core = true, kind = "number", default = 2, min = 0, max = 3600,
      flag = "backoff-base", meta = "S", help = "first retry delay in seconds, doubling", group = "rate" },
    { name = "backoff_max", core = true, kind = "number", default = 30, min = 0, max = 86400,
      flag = "backoff-max", meta = "S", help = "longest retry delay in seconds", group = "rate" },
    { name = "timeout", core = true, kind = "number", default = 15, min = 0.001, max = 86400,
      flag = "timeout", meta = "S", help = "per-request timeout in seconds", group = "rate" },
    { name = "connect_timeout", core = true, kind = "number", default = 10, min = 0.001, max = 3600,
      flag = "connect-timeout", meta = "S", help = "connection timeout in seconds", group = "rate" },
    { name = "pause_threshold", core = true, kind = "number", default = 30, min = 0, max = 86400,
      flag = "pause-threshold", meta = "S",
      help = "a Retry-After longer than this pauses every worker", group = "rate" },
    { name = "batch_id", core = true, kind = "string", default = "", flag = "batch-id", meta = "ID",
      help = "mixed into every derived Idempotency-Key; keep it across reruns", group = "safety" },
    { name = "on_result", kind = "function", help = "called with each result, on the caller's thread" },
    { name = "on_event", kind = "function", help = "called with each retry/pause/token event" },
    { name = "ca_file", core = true, kind = "nonempty", flag = "ca-file", meta = "FILE",
      help = "CA bundle for TLS", group = "target" },
    { name = "insecure", core = true, kind = "boolean", default = false,
      help = "disable TLS certificate verification (never in production)" },
    { name = "allow_http", kind = "boolean", default = false, flag = "allow-http",
      help = "allow plain http:// to a host other than loopback", group = "safety" },
    { name = "queue_size", core = true, kind = "integer", min = 1, max = 1000000,
      derive = function(o) return 4 * o.workers end, default_doc = "4 × workers",
      help = "tasks buffered ahead of the workers" },
    { name = "preflight", core = true, kind = "boolean", default = false, flag = "preflight",
      help = "GET each contact before its PUT; a 404 skips it", group = "safety" },
    { name = "validate_outcomes", kind = "boolean", default = false, flag = "validate-outcomes",
      help = "fetch the outcome hierarchy once and fail unknown outcomes locally", group = "safety" },
    { name = "outcome_map", kind = "table",
      help = "outcome_code -> {category, subcategory} (cxone: {skill, disposition_code})" },
    { name = "deadline", kind = "number", min = 0, above = true, max = 1e9,
      help = "seconds after which nothing new is sent" },
    { name = "journal", kind = "journal",
      help = "resume journal (a file path): applied updates are skipped, possibly applied ones read back" },
    { name = "journal_mismatch", kind = "string", default = "refuse",
      help = "\"ignore\": continue a journal written for another batch id, target or client" },
    -- Catching a bad batch before it does harm (docs/api.md "Plan, before-images, canary and
    -- auto-halt"; lua/cxone/bulk/job_safety.lua).
    { name = "plan", kind = "boolean", default = false,
      help = "read each task's contact and report before -> after; nothing is written (bulk.plan)" },
    { name = "before_images", kind = "boolean", default = false,
      help = "read each contact before its write and return what it showed (result.before): one more request "
        .. "per task" },
    { name = "skip_unchanged", kind = "boolean", default = false, flag = "skip-unchanged",
      help = "read each contact first and write only the ones not already at the target (one more request per row)",
      group = "safety" },
    { name = "canary", kind = "integer", min = 1, max = 1000000, flag = "canary", meta = "N",
      help = "send the first N rows, show their results, continue only when confirmed", group = "safety" },
    { name = "on_canary", kind = "function",
      help = "on_canary(summary, results) after the canary's results: true continues the batch" },
    { name = "max_failure_rate", kind = "number", default = 0.5, min = 0, max = 1, flag = "max-failure-rate",
      meta = "P", help = "stop when this share of the last results were 404, 400/409/413/422 or 403 (0: never)",
      group = "safety" },
    { name = "failure_window", kind = "integer", default = 100, min = 1, max = 100000, flag = "failure-window",
      meta = "N", help = "how many of the last results max_failure_rate looks at", group = "safety" },
    { name = "failure_min", kind = "integer", default = 20, min = 1, max = 100000, flag = "failure-min",
      meta = "N", help = "results needed before max_failure_rate is judged", group = "safety" },
}

M.BY_NAME = {}
for _, o in ipairs(M.LIST) do M.BY_NAME[o.name] = o end

local function is_finite(v) return type(v) == "number" and v == v and v ~= math.huge and v ~= -math.huge end

--- The range of a numeric option as words: ">= 1 and <= 256".
function M.describe_range(o)
    local parts = {}
    if o.min then parts[#parts + 1] = (o.above and "> " or ">= ") .. string.format("%.14g", o.min) end
    if o.max then parts[#parts + 1] = "<= " .. string.format("%.14g", o.max) end
    return table.concat(parts, " and ")
end

local function expect_number(o)
    local what = o.kind == "integer" and "an integer" or "a number"
    local range = M.describe_range(o)
    return range ~= "" and (what .. " " .. range) or what
end

local TYPE_OF = {
    url = "string", string = "string", nonempty = "string", boolean = "boolean",
    ["function"] = "function", table = "table",
}

--- A rate option's value as {auto = bool, start = number}: 45, "auto" (starts at the default
-- rate) or "auto:30". nil when it is none of these (the range is checked by M.check).
function M.rate_spec(v)
    if type(v) == "number" then return { auto = false, start = v } end
    if type(v) ~= "string" then return nil end
    if v == "auto" then return { auto = true, start = M.BY_NAME.rate.default } end
    local start = v:match("^auto:(.+)$")
    start = start and tonumber(start)
    if start then return { auto = true, start = start } end
end

-- A journal: a path, or a journal object of cxone.bulk.journal (the CLI's, opened by it).
local function check_journal(v)
    if (type(v) == "string" and v ~= "") or (type(v) == "table" and v.fh and v.state) then return nil end
    return "a non-empty file path"
end

--- Checks one value against its declaration. Returns nil when it is fine, else what was
-- expected ("an integer >= 1 and <= 256").
function M.check(o, v)
    if o.kind == "journal" then return check_journal(v) end
    if o.kind == "rate" then
        local r = M.rate_spec(v)
        local bad = not r or M.check({ kind = "number", min = o.min, above = o.above, max = o.max }, r.start)
        return bad and (expect_number(o) .. ', "auto" or "auto:R"') or nil
    end
    if o.kind == "integer" or o.kind == "number" then
        local ok = is_finite(v)
        if ok and o.kind == "integer" and v ~= math.floor(v) then ok = false end
        if ok and o.min and (v < o.min or (o.above and v == o.min)) then ok = false end
        if ok and o.max and v > o.max then ok = false end
        if not ok then return expect_number(o) end
        return nil
    end
    local want = TYPE_OF[o.kind]
    local nonempty = o.kind == "nonempty" or o.kind == "url"
    if type(v) ~= want or (nonempty and v == "") then
      return nonempty and "a non-empty string" or ("a " .. want)
    end
    return nil
end

return M
