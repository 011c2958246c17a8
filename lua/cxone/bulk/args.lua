-- Command-line parsing for cxone-bulk. Pure: no I/O, no engine; errors come back as messages
-- that name the option, for the caller to print with a usage hint and exit 2.
local M = {}

local options = require "cxone.bulk.options"
local distance = require("cxone.bulk.outcomes").distance

-- kind: "flag" (no value), "string", "number" (finite), "integer", "rate" (a number, or auto[:R]).
-- min/max bound numbers; above=true makes min exclusive. engine names the batch_update option it
-- feeds. group and help place and describe the option in --help (groups: options.GROUPS). The
-- engine's options (type, range, default, help, group) come from cxone.bulk.options; only the
-- command's own options are declared here.
local CLI_OPTIONS = {
    { name = "input", short = "i", kind = "string", meta = "FILE", group = "input",
      help = "input file, or - for stdin (may also be the first argument)" },
    { name = "format", kind = "string", meta = "FMT", choices = { csv = true, jsonl = true, ids = true },
      group = "input", help = "csv, jsonl or ids (default: from the extension, then the first bytes)" },
    { name = "category", kind = "string", meta = "NAME", group = "input",
      help = "outcome category for every row that has none (required for ids)" },
    { name = "subcategory", kind = "string", meta = "NAME", group = "input",
      help = "outcome subcategory for every row that has none (required for ids)" },
    -- CSV as spreadsheets write it (checked by input.open, which names the option).
    { name = "delimiter", kind = "string", meta = "CHAR", input = "delimiter", group = "input",
      help = "CSV delimiter: , ; | or tab (default: detected from the header line)" },
    { name = "column", kind = "string", meta = "FIELD=NAME", input = "columns", multiple = true,
      group = "input", help = "read FIELD (contact_id, category, subcategory, idempotency_key, "
        .. "outcome_code, ...) from the column NAME; repeatable" },
    { name = "encoding", kind = "string", meta = "ENC", input = "encoding", group = "input",
      help = "utf-8 (default), cp1252 or latin1; UTF-16 with a byte-order mark is read as such" },
    { name = "outcome-map", kind = "string", meta = "FILE", group = "input",
      help = "translate an outcome_code column through FILE: JSON "
        .. '{"CODE":{"category":..,"subcategory":..}} or CSV code,category,subcategory' },
    { name = "output", short = "o", kind = "string", meta = "FILE", group = "outputs",
      help = "one JSON result per line (default: stdout when it is not a terminal; - forces stdout)" },
    { name = "failed", kind = "string", meta = "FILE", group = "outputs",
      help = "CSV of the rows that did not succeed, with an error column; fix it and feed it "
        .. "straight back in" },
    { name = "journal", kind = "string", meta = "FILE", group = "outputs",
      help = "append each finished result durably (locked: one run at a time); a rerun with the "
        .. "same journal never re-applies what it records as applied" },
    { name = "summary-json", kind = "string", meta = "FILE", group = "outputs",
      help = "the summary as one JSON object (counts, by_status, elapsed, rate, target, exit_code) "
        .. "for scripts and CI" },
    { name = "metrics-file", kind = "string", meta = "FILE", group = "outputs",
      help = "the job's Prometheus metrics, rewritten every 5 s and at the end (atomic rename: "
        .. "node_exporter's textfile collector; name it *.prom)" },
    { name = "report", kind = "string", meta = "FILE", group = "outputs",
      help = "an HTML report of the run (charts of rate, 429s, pauses and latency; results by "
        .. "outcome; failures with examples); self-contained" },
    { name = "quiet", short = "q", kind = "flag", group = "outputs",
      help = "no progress and no summary (errors are still printed)" },
    { name = "dry-run", kind = "flag", group = "safety",
      help = "validate and print what would be sent; no request at all (no credentials needed)" },
    { name = "strict", kind = "flag", group = "safety",
      help = "check the whole input first; exit 2 at the first bad row, send nothing" },
    { name = "journal-mismatch", kind = "string", meta = "refuse|ignore",
      choices = { refuse = true, ignore = true }, group = "safety",
      help = "a journal written for another batch id, base URL or client stops the run (refuse, "
        .. "the default) unless ignore" },
    { name = "plan", kind = "string", meta = "FILE", group = "safety",
      help = "read every row's contact, write FILE (line, contact_id, status, before, after) and the "
        .. "transition table; nothing is written to the tenant" },
    { name = "undo-file", kind = "string", meta = "FILE", group = "safety",
      help = "read each contact before its write and write FILE, the previous values as an input --undo "
        .. "restores; one more request per row: 22.2 instead of 44.9 updates/s at --rate 45 (measured)" },
    { name = "undo", kind = "string", meta = "FILE", group = "safety",
      help = "restore what an --undo-file recorded (FILE is the input)" },
    { name = "yes", kind = "flag", group = "safety", help = "continue after --canary without asking" },
    { name = "help", short = "h", kind = "flag", group = "general", help = "this text" },
    { name = "version", kind = "flag", group = "general", help = "print the version" },
}

local CLI_KIND = { integer = "integer", number = "number", boolean = "flag", rate = "rate" }

-- The engine options that have a flag, as command-line options.
local function engine_flags()
    local out = {}
    for _, d in ipairs(options.LIST) do
        if d.flag then
            out[#out + 1] = { name = d.flag, kind = CLI_KIND[d.kind] or "string", meta = d.meta,
                min = d.min, max = d.max, above = d.above, engine = d.name, decl = d, group = d.group,
                help = d.help }
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

-- "unknown option --rat; did you mean --rate?": the one long option the word begins, else the
-- closest by edit distance, within a third of the word's length (at least 1).
local function unknown_option(shown)
    local msg = ("unknown option %s"):format(shown)
    local word = shown:match("^%-%-(.+)$")
    if not word then return msg end
    local prefixed, near, best = {}, nil, math.max(1, math.floor(#word / 3)) + 1
    for _, o in ipairs(M.OPTIONS) do
        if o.name:sub(1, #word) == word then prefixed[#prefixed + 1] = o.name end
        local d = distance(o.name, word)
        if d < best then near, best = o.name, d end
    end
    if #prefixed == 1 then near = prefixed[1] end
    if near then msg = msg .. ("; did you mean --%s?"):format(near) end
    return msg
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
            if not o then return nil, unknown_option(shown) end
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
    return M.check_parsed(opts, positional)
end

-- The rules across flags, once every flag is read: one input, given one way. Returns opts or
-- nil, message.
function M.check_parsed(opts, positional)
    if #positional > 1 then
        return nil, ("one input file expected, got %d: %s"):format(#positional, table.concat(positional, " "))
    end
    if positional[1] then
        if opts.input then return nil, "give the input either with --input or as an argument, not both" end
        opts.input = positional[1]
    end
    if opts.undo then -- the undo file is the input
        if opts.input then return nil, "--undo FILE is the input: give no other input file" end
        opts.input = opts.undo
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
]]

-- Words under a section title, before its options.
local GROUP_INTRO = {
    input = [[
  Format detected from the extension, then the first bytes (--format to force):
    csv    header contact_id,category,subcategory[,idempotency_key]; other columns ignored;
           , ; or tab; names as people type them ("Contact ID", "Sub-category")
    jsonl  one object per line: {"contact_id":"..","category":"..","subcategory":".."}
    ids    one contact id per line; needs --category and --subcategory]],
    target = [[
  Credentials come only from the environment: CXONE_CLIENT_ID and CXONE_CLIENT_SECRET
  (--api cxone: also CXONE_ACCESS_KEY_ID and CXONE_ACCESS_KEY_SECRET), never from a flag.]],
}

-- Environment variables of the command itself (not of an engine option).
local CLI_ENV = {
    { env = "COLUMNS", group = "outputs", help = "width of the progress bar on a terminal (default: the terminal's)" },
}

local USAGE_TAIL = [[
Exit status: 0 every row succeeded (or was skipped), 1 some rows failed or were invalid,
2 usage or input error, 3 the API could not be reached or would not authenticate (DNS,
refused, TLS, token endpoint down or refusing the credentials; see --max-unreachable),
4 an output (results, failed file, journal, summary) could not be written, 5 halted: the last
results were mostly 404/400/422/403 (--max-failure-rate), 6 stopped after --canary (not
confirmed; the command to continue is printed), 130 interrupted (SIGINT/SIGTERM/SIGHUP).

Examples:
  cxone-bulk --input outcomes.csv --output results.jsonl --failed failed.csv --journal run.journal
  cxone-bulk --failed failed2.csv --journal run.journal failed.csv       # retry what failed
  cxone-bulk --format ids --category Contacted --subcategory "Sale Completed" ids.txt
  cxone-bulk --dry-run outcomes.jsonl | head
  cxone-bulk --rate 20 --workers 4 --batch-id 2024-06-campaign outcomes.csv > results.jsonl
  cxone-bulk --plan plan.csv outcomes.csv                        # what would change
  cxone-bulk --canary 20 --journal run.journal --undo-file undo.csv -o r.jsonl outcomes.csv
  cxone-bulk --undo undo.csv --journal undo.journal -o u.jsonl   # put it all back
]]

M.WIDTH = 100    -- --help fits this many columns
local HELP_COL = 28 -- where the descriptions start

-- text as lines of at most `width` columns, broken between words.
local function wrap(text, width)
    local lines, cur = {}, ""
    for word in text:gmatch("%S+") do
        if cur ~= "" and #cur + 1 + #word > width then
            lines[#lines + 1] = cur
            cur = word
        else
            cur = cur == "" and word or (cur .. " " .. word)
        end
    end
    if cur ~= "" then lines[#lines + 1] = cur end
    return lines
end

-- One entry: the left part ("  -o, --output FILE") and its description, wrapped under HELP_COL.
local function entry(out, left, help)
    local lines = wrap(help, M.WIDTH - HELP_COL)
    if #left >= HELP_COL - 1 then
        out[#out + 1] = left
        left = ""
    end
    for i, l in ipairs(lines) do
        out[#out + 1] = (i == 1 and left or "") .. string.rep(" ", HELP_COL - (i == 1 and #left or 0)) .. l
    end
end

-- An option's description with its default or environment variable.
local function option_help(o)
    local d, help = o.decl, o.help
    if d and d.default ~= nil and d.kind ~= "boolean" and d.default ~= "" then
        help = help .. " (default " .. tostring(d.default) .. ")"
    end
    if d and d.env then help = help .. " (or $" .. d.env .. ")" end
    return help
end

-- Every option and environment variable in its group; raises naming one without a group, so a
-- flag added without a place in --help fails every spec that builds the help.
local function grouped()
    local known, by_group = {}, {}
    for _, g in ipairs(options.GROUPS) do
        known[g.id] = true
        by_group[g.id] = { options = {}, env = {} }
    end
    local function place(what, group, list, item)
        if not known[group] then
            error(("cxone-bulk --help: %s has no valid group (got %s); give it one of the ids in "
                .. "options.GROUPS"):format(what, tostring(group)), 0)
        end
        table.insert(by_group[group][list], item)
    end
    for _, o in ipairs(M.OPTIONS) do place("--" .. o.name, o.group, "options", o) end
    for _, d in ipairs(options.LIST) do
        if d.env then place("$" .. d.env, d.group, "env", { env = d.env, help = d.help, flag = d.flag }) end
    end
    for _, list in ipairs({ options.ENV_ONLY, CLI_ENV }) do
        for _, e in ipairs(list) do place("$" .. e.env, e.group, "env", e) end
    end
    return by_group
end

--- The --help text, grouped by options.GROUPS, at most M.WIDTH columns wide.
function M.usage()
    local by_group = grouped()
    local out = { USAGE_HEAD }
    for _, g in ipairs(options.GROUPS) do
        local sect = by_group[g.id]
        out[#out + 1] = g.title .. ":"
        if GROUP_INTRO[g.id] then out[#out + 1] = GROUP_INTRO[g.id] end
        for _, o in ipairs(sect.options) do
            local left = (o.short and ("  -" .. o.short .. ", ") or "      ") .. "--" .. o.name
                .. (o.meta and (" " .. o.meta) or "")
            entry(out, left, option_help(o))
        end
        for _, e in ipairs(sect.env) do
            entry(out, "  $" .. e.env, e.help .. (e.flag and (" (or --" .. e.flag .. ")") or ""))
        end
        out[#out + 1] = ""
    end
    out[#out + 1] = USAGE_TAIL
    return table.concat(out, "\n")
end
M.USAGE = M.usage()

return M
