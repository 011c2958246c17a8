-- Command-line parsing for cxone-bulk. Pure: no I/O, no engine; errors come back as messages
-- that name the option, for the caller to print with a usage hint and exit 2.
local M = {}

local options = require "cxone.bulk.options"

-- kind: "flag" (no value), "string", "number" (finite), "integer", "rate" (a number, or auto[:R]). min/max bound numbers;
-- above=true makes min exclusive. engine names the batch_update option it feeds. The engine's
-- options (type, range, default, help) come from cxone.bulk.options; only the command's own
-- options are declared here.
local CLI_OPTIONS = {
    { name = "input", short = "i", kind = "string", meta = "FILE" },
    { name = "output", short = "o", kind = "string", meta = "FILE" },
    { name = "failed", kind = "string", meta = "FILE" },
    { name = "journal", kind = "string", meta = "FILE" },
    { name = "summary-json", kind = "string", meta = "FILE" },
    { name = "journal-mismatch", kind = "string", meta = "refuse|ignore",
      choices = { refuse = true, ignore = true } },
    { name = "format", kind = "string", meta = "csv|jsonl|ids", choices = { csv = true, jsonl = true, ids = true } },
    { name = "category", kind = "string", meta = "NAME" },
    { name = "subcategory", kind = "string", meta = "NAME" },
    -- CSV as spreadsheets write it (checked by input.open, which names the option).
    { name = "delimiter", kind = "string", meta = "CHAR", input = "delimiter" },
    { name = "column", kind = "string", meta = "FIELD=NAME", input = "columns", multiple = true },
    { name = "encoding", kind = "string", meta = "utf-8|cp1252|latin1", input = "encoding" },
    { name = "outcome-map", kind = "string", meta = "FILE" },
    { name = "dry-run", kind = "flag" },
    { name = "quiet", short = "q", kind = "flag" },
    { name = "strict", kind = "flag" },
    { name = "help", short = "h", kind = "flag" },
    { name = "version", kind = "flag" },
}

local CLI_KIND = { integer = "integer", number = "number", boolean = "flag", rate = "rate" }

-- The engine options that have a flag, as command-line options.
local function engine_flags()
    local out = {}
    for _, d in ipairs(options.LIST) do
        if d.flag then
            out[#out + 1] = { name = d.flag, kind = CLI_KIND[d.kind] or "string", meta = d.meta,
                min = d.min, max = d.max, above = d.above, engine = d.name, decl = d }
        end
    end
    return out
end

M.OPTIONS = {}
for _, o in ipairs(CLI_OPTIONS) do M.OPTIONS[#M.OPTIONS + 1] = o end
for _, o in ipairs(engine_flags()) do M.OPTIONS[#M.OPTIONS + 1] = o end

local BY_NAME, BY_SHORT = {}, {}
for _, o in ipairs(M.OPTIONS) do
    BY_NAME[o.name] = o
    if o.short then BY_SHORT[o.short] = o end
end

local describe_bound = options.describe_range

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
    if o.kind == "rate" then -- a number, or auto / auto:START
        local spec = options.rate_spec(text)
        if spec and spec.auto then
            if not options.check(o.decl, text) then return text end
            return nil, ('--%s must be auto or auto:R with R %s (got %q)'):format(o.name, describe_bound(o), text)
        end
    end
    local n = tonumber(text)
    local what = o.kind == "integer" and "a whole number" or "a number"
    local bound = describe_bound(o)
    local expect = bound ~= "" and (what .. " " .. bound) or what
    if not n or n ~= n or n == math.huge or n == -math.huge or not text:match("^%s*[-+]?[%d.]") then
        if o.kind == "rate" then expect = expect .. ", auto or auto:R" end
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

local USAGE_HEAD = [[
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
      --journal FILE      append each finished result durably (locked: one run at a time); a
                          rerun with the same journal never re-applies what it records as applied
      --journal-mismatch refuse|ignore
                          a journal written for another batch id, base URL or client stops the
                          run (refuse, the default) unless ignore
      --summary-json FILE the summary as one JSON object (counts, by_status, elapsed, rate,
                          target, exit_code) for scripts and CI
  -q, --quiet             no progress and no summary (errors are still printed)
      --dry-run           validate and print what would be sent; no request at all

]]

local USAGE_TAIL = [[
Outcome codes:
      --outcome-map FILE  translate an outcome_code column (CSV or JSONL) through FILE: JSON
                          {"CODE":{"category":..,"subcategory":..}} or CSV code,category,subcategory
  -h, --help              this text
      --version           print the version

Credentials come only from the environment: CXONE_CLIENT_ID and CXONE_CLIENT_SECRET.

Exit status: 0 every row succeeded (or was skipped), 1 some rows failed or were invalid,
2 usage or input error, 3 the API could not be reached or would not authenticate (DNS,
refused, TLS, token endpoint down or refusing the credentials; see --max-unreachable),
4 an output (results, failed file, journal, summary) could not be written, 130 interrupted
(SIGINT/SIGTERM/SIGHUP).

Examples:
  cxone-bulk --input outcomes.csv --output results.jsonl --failed failed.csv --journal run.journal
  cxone-bulk --failed failed2.csv --journal run.journal failed.csv       # retry what failed
  cut -d, -f1 ids.csv | cxone-bulk --format ids --category Sale --subcategory Upsell -
  cxone-bulk --dry-run outcomes.jsonl | head
  cxone-bulk --rate 20 --workers 4 --batch-id 2024-06-campaign outcomes.csv > results.jsonl
]]

-- The engine section of the usage text, from the option table: flag, placeholder, help and
-- default.
local function engine_usage()
    local lines = { "Engine (defaults in parentheses):" }
    for _, o in ipairs(M.OPTIONS) do
        local d = o.decl
        if d then
            local left = "      --" .. o.name .. (o.meta and (" " .. o.meta) or "")
            local help = d.help
            if d.default ~= nil and d.kind ~= "boolean" and d.default ~= "" then
                help = help .. " (" .. tostring(d.default) .. ")"
            elseif d.env then
                help = help .. " ($" .. d.env .. ")"
            end
            if #left >= 26 then
                lines[#lines + 1] = left
                left = ""
            end
            lines[#lines + 1] = left .. string.rep(" ", 26 - #left) .. help
        end
    end
    return table.concat(lines, "\n") .. "\n\n"
end

--- The --help text.
function M.usage()
    return USAGE_HEAD .. engine_usage() .. USAGE_TAIL
end
M.USAGE = M.usage()

return M
