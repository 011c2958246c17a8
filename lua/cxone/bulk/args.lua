-- Command-line parsing for cxone-bulk. Pure: no I/O, no engine; errors come back as messages
-- that name the option, for the caller to print with a usage hint and exit 2.
local M = {}

-- kind: "flag" (no value), "string", "number" (finite), "integer". min/max bound numbers;
-- above=true makes min exclusive. engine names the batch_update option it feeds.
M.OPTIONS = {
    { name = "input", short = "i", kind = "string", meta = "FILE" },
    { name = "output", short = "o", kind = "string", meta = "FILE" },
    { name = "failed", kind = "string", meta = "FILE" },
    { name = "journal", kind = "string", meta = "FILE" },
    { name = "format", kind = "string", meta = "csv|jsonl|ids", choices = { csv = true, jsonl = true, ids = true } },
    { name = "category", kind = "string", meta = "NAME" },
    { name = "subcategory", kind = "string", meta = "NAME" },
    -- CSV as spreadsheets write it (checked by input.open, which names the option).
    { name = "delimiter", kind = "string", meta = "CHAR", input = "delimiter" },
    { name = "column", kind = "string", meta = "FIELD=NAME", input = "columns", multiple = true },
    { name = "encoding", kind = "string", meta = "utf-8|cp1252|latin1", input = "encoding" },
    { name = "workers", kind = "integer", min = 1, max = 256, engine = "workers" },
    { name = "rate", kind = "number", min = 0, above = true, engine = "rate" },
    { name = "burst", kind = "number", min = 1, engine = "burst" },
    { name = "max-retries", kind = "integer", min = 0, max = 100, engine = "max_retries" },
    { name = "backoff-base", kind = "number", min = 0, above = true, engine = "backoff_base" },
    { name = "backoff-max", kind = "number", min = 0, above = true, engine = "backoff_max" },
    { name = "timeout", kind = "number", min = 0, above = true, engine = "timeout" },
    { name = "pause-threshold", kind = "number", min = 0, engine = "pause_threshold" },
    { name = "batch-id", kind = "string", meta = "ID", engine = "batch_id" },
    { name = "base-url", kind = "string", meta = "URL", engine = "base_url" },
    { name = "token-url", kind = "string", meta = "URL", engine = "token_url" },
    { name = "scope", kind = "string", meta = "SCOPE", engine = "scope" },
    { name = "ca-file", kind = "string", meta = "FILE", engine = "ca_file" },
    { name = "shared-limit", kind = "string", meta = "NAME", engine = "shared_limit" },
    { name = "validate-outcomes", kind = "flag", engine = "validate_outcomes" },
    { name = "preflight", kind = "flag", engine = "preflight" },
    { name = "outcome-map", kind = "string", meta = "FILE" },
    { name = "dry-run", kind = "flag" },
    { name = "quiet", short = "q", kind = "flag" },
    { name = "strict", kind = "flag" },
    { name = "help", short = "h", kind = "flag" },
    { name = "version", kind = "flag" },
}

local BY_NAME, BY_SHORT = {}, {}
for _, o in ipairs(M.OPTIONS) do
    BY_NAME[o.name] = o
    if o.short then BY_SHORT[o.short] = o end
end

local function describe_bound(o)
    local parts = {}
    if o.min then parts[#parts + 1] = (o.above and "> " or ">= ") .. o.min end
    if o.max then parts[#parts + 1] = "<= " .. o.max end
    return table.concat(parts, " and ")
end

-- Converts and checks one value; returns the value or nil, message.
local function convert(o, text)
    if o.kind == "string" then
        if o.choices and not o.choices[text] then
            local names = {}
            for k in pairs(o.choices) do names[#names + 1] = k end
            table.sort(names)
            return nil, ("--%s must be one of %s (got %q)"):format(o.name, table.concat(names, ", "), text)
        end
        return text
    end
    local n = tonumber(text)
    local what = o.kind == "integer" and "a whole number" or "a number"
    local bound = describe_bound(o)
    local expect = bound ~= "" and (what .. " " .. bound) or what
    if not n or n ~= n or n == math.huge or n == -math.huge or not text:match("^%s*[-+]?[%d.]") then
        return nil, ("--%s must be %s (got %q)"):format(o.name, expect, text)
    end
    if o.kind == "integer" and n ~= math.floor(n) then
        return nil, ("--%s must be %s (got %q)"):format(o.name, expect, text)
    end
    if o.min and (n < o.min or (o.above and n == o.min)) or (o.max and n > o.max) then
        return nil, ("--%s must be %s (got %s)"):format(o.name, expect, text)
    end
    if o.kind == "integer" then n = math.floor(n) end
    return n
end

-- Parses argv (array of strings). Returns opts (keys are option names with '-', plus
-- `positional`), or nil, message.
function M.parse(argv)
    local opts, positional = {}, {}
    local i = 1
    while i <= #argv do
        local a = argv[i]
        local o, value, shown
        if a == "--" then
            for j = i + 1, #argv do positional[#positional + 1] = argv[j] end
            break
        elseif a:sub(1, 2) == "--" then
            local name, eq = a:match("^%-%-([^=]+)=(.*)$")
            name = name or a:sub(3)
            o, value, shown = BY_NAME[name], eq, "--" .. name
        elseif a:sub(1, 1) == "-" and #a > 1 then
            o, shown = BY_SHORT[a:sub(2, 2)], a:sub(1, 2)
            if #a > 2 then value = a:sub(3) end
        else
            positional[#positional + 1] = a
        end
        if shown then
            if not o then return nil, ("unknown option %s"):format(shown) end
            if o.kind == "flag" then
                if value ~= nil then return nil, ("--%s takes no value"):format(o.name) end
                opts[o.name] = true
            else
                if value == nil then
                    i = i + 1
                    value = argv[i]
                    if value == nil then return nil, ("--%s needs a value"):format(o.name) end
                end
                local v, err = convert(o, value)
                if v == nil then return nil, err end
                if o.multiple then
                    opts[o.name] = opts[o.name] or {}
                    table.insert(opts[o.name], v)
                else
                    opts[o.name] = v
                end
            end
        end
        i = i + 1
    end
    if #positional > 1 then
        return nil, ("one input file expected, got %d: %s"):format(#positional, table.concat(positional, " "))
    end
    if positional[1] then
        if opts.input then return nil, "give the input either with --input or as an argument, not both" end
        opts.input = positional[1]
    end
    if opts["backoff-max"] and opts["backoff-base"] and opts["backoff-max"] < opts["backoff-base"] then
        return nil, ("--backoff-max (%s) must be >= --backoff-base (%s)"):format(
            opts["backoff-max"], opts["backoff-base"])
    end
    if not opts.help and not opts.version and not opts.input then
        return nil, "no input: give --input FILE, a file argument, or - for stdin"
    end
    return opts
end

-- The batch_update options the command line sets.
function M.engine_opts(opts)
    local e = {}
    for _, o in ipairs(M.OPTIONS) do
        if o.engine and opts[o.name] ~= nil then e[o.engine] = opts[o.name] end
    end
    return e
end

-- The input.open options the command line sets (--delimiter, --column, --encoding).
function M.input_opts(opts)
    local t = {}
    for _, o in ipairs(M.OPTIONS) do
        if o.input and opts[o.name] ~= nil then t[o.input] = opts[o.name] end
    end
    return t
end

M.USAGE = [[
Usage: cxone-bulk [options] [--input] FILE|-

Bulk-update outbound contact outcomes in NICE CXone (PUT /api/v2/contacts/{id}), rate-limited,
with retries that are safe (deterministic Idempotency-Key) and resumable (--journal).

Input (format detected from the extension, then the first bytes; --format to force):
  csv    header contact_id,category,subcategory[,idempotency_key]; other columns ignored;
         , ; or tab; names as people type them ("Contact ID", "Sub-category")
  jsonl  one object per line: {"contact_id":"..","category":"..","subcategory":".."}
  ids    one contact id per line; needs --category and --subcategory
  -i, --input FILE        input file, or - for stdin (may also be the first argument)
      --format FMT        csv, jsonl or ids
      --category NAME     outcome category for every row that has none (required for ids)
      --subcategory NAME  outcome subcategory for every row that has none (required for ids)
      --strict            check the whole input first; exit 2 at the first bad row, send nothing
      --delimiter CHAR    CSV delimiter: , ; | or tab (default: detected from the header line)
      --column FIELD=NAME read FIELD (contact_id, category, subcategory, idempotency_key,
                          outcome_code) from the column NAME; repeatable
      --encoding ENC      utf-8 (default), cp1252 or latin1; UTF-16 with a byte-order mark is
                          read as such

Output:
  -o, --output FILE       one JSON result per line (default: stdout when it is not a terminal;
                          - forces stdout)
      --failed FILE       CSV of the rows that did not succeed, with an error column; fix it and
                          feed it straight back in
      --journal FILE      append each finished result durably; a rerun with the same journal
                          skips the rows that already succeeded with the same outcome
  -q, --quiet             no progress and no summary (errors are still printed)
      --dry-run           validate and print what would be sent; no request at all

Engine (defaults in parentheses):
      --workers N         parallel connections (10)
      --rate R            requests per second across all workers (45)
      --burst B           requests allowed at once above the rate (20)
      --max-retries N     retries per row on 429, 5xx and network errors (3)
      --backoff-base S    first retry delay in seconds, doubling (2)
      --backoff-max S     longest retry delay in seconds (30)
      --timeout S         per-request timeout in seconds (15)
      --pause-threshold S a Retry-After at least this long pauses every worker (30)
      --batch-id ID       mixed into every derived Idempotency-Key (default: empty); keep it the
                          same across reruns of the same batch
      --base-url URL      API base (default: $CXONE_BASE_URL)
      --token-url URL     OAuth2 token endpoint
      --scope SCOPE       OAuth2 scope to request
      --ca-file FILE      CA bundle for TLS
      --shared-limit NAME draw from one host-wide rate limit shared by every process naming it

Pre-flight checks (each optional):
      --validate-outcomes fetch the outcome hierarchy once; rows whose category/subcategory is
                          not in it fail locally (no PUT) with the closest valid values
      --outcome-map FILE  translate an outcome_code column (CSV or JSONL) through FILE: JSON
                          {"CODE":{"category":..,"subcategory":..}} or CSV code,category,subcategory
      --preflight         GET each contact before its PUT; a missing contact (404) is skipped with
                          no update sent (halves the update rate: two requests per row)
  -h, --help              this text
      --version           print the version

Credentials come only from the environment: CXONE_CLIENT_ID and CXONE_CLIENT_SECRET.

Exit status: 0 every row succeeded (or was skipped), 1 some rows failed or were invalid,
2 usage, input or authentication error, 130 interrupted (SIGINT/SIGTERM).

Examples:
  cxone-bulk --input outcomes.csv --output results.jsonl --failed failed.csv --journal run.journal
  cxone-bulk --failed failed2.csv --journal run.journal failed.csv       # retry what failed
  cut -d, -f1 ids.csv | cxone-bulk --format ids --category Sale --subcategory Upsell -
  cxone-bulk --dry-run outcomes.jsonl | head
  cxone-bulk --rate 20 --workers 4 --batch-id 2024-06-campaign outcomes.csv > results.jsonl
]]

return M
