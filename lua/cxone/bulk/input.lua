-- Input rows for the CLI: CSV with a header, JSON Lines, or a plain list of contact ids.
--
-- Everything is streamed: one record (at most MAX_LINE bytes) plus one read chunk is all that is
-- held. A bad row never raises; it comes back as a row with `error` set and its line number, so
-- the caller reports it as an invalid result and goes on. Only problems that make the whole
-- input unusable (unreadable file, CSV header without contact_id, ...) are returned by open().
-- This module reports only what is wrong with the file (structure, encoding, header, JSON
-- values that are not text); whether a value can be a task's field, and what an outcome_code
-- maps to, is the library's word (cxone.bulk.validate), the same the engine gives.
local csv = require "cxone.bulk.csv"
local columns = require "cxone.bulk.columns"
local encoding = require "cxone.bulk.encoding"
local failed_file = require "cxone.bulk.failed_file"
local damage = require "cxone.bulk.damage"
local textutil = require "cxone.bulk.text"
local validate = require "cxone.bulk.validate"
local profiles = require "cxone.bulk.profiles"
local DEFAULT_API = require("cxone.bulk.options").BY_NAME.api.default
local cjson = require "cjson.safe"

local printable = textutil.printable

local M = {}

local CHUNK = 65536
M.MAX_LINE = csv.MAX_RECORD
local BOM = "\239\187\191"
local UTF8_HINT = ': save the file as "CSV UTF-8", or give --encoding cp1252 (or latin1)'
-- The library's messages in the CLI's words: the map is the --outcome-map flag, and a row has
-- cells only, so a field it does not give (no column, a JSON key absent or null) reads as empty.
local WORDS = { map = "--outcome-map", absent = "is empty" }

M.FORMATS = { csv = true, jsonl = true, ids = true }

-- Format from the file name, or nil when the extension says nothing.
function M.format_from_name(name)
    local ext = name and name:lower():match("%.([%w]+)$")
    if ext == "csv" then return "csv" end
    if ext == "jsonl" or ext == "ndjson" or ext == "json" then return "jsonl" end
    return nil
end

-- Format from the first bytes of the input (BOM and leading blank space skipped).
function M.sniff(head)
    if head:sub(1, 3) == BOM then head = head:sub(4) end
    local body = head:match("^%s*(.*)$")
    if body:sub(1, 1) == "{" then return "jsonl" end
    local first = body:match("^([^\n]*)") or ""
    first = first:gsub("\r$", "")
    if first:find("[,;\t]") or first:sub(1, 1) == '"' then return "csv" end
    if columns.field_of(first, DEFAULT_API) == "contact_id" then return "csv" end
    return "ids"
end

-- True when the first line of the input is a failed file's header (it has the state column).
function M.is_failed_file(head)
    if head:sub(1, 3) == BOM then head = head:sub(4) end
    local first = head:match("^([^\r\n]*)") or ""
    for cell in first:gmatch("[^,;\t|]+") do
        if failed_file.own_column((cell:gsub('"', ""))) == "state" then return true end
    end
    return false
end

-- The library's reason, plus what an operator can do when the file's bytes are not UTF-8
-- (presentation only: the check itself is validate.field's).
local function with_hint(why)
    if why:find("^%S+ is not valid UTF%-8 %(byte 0x%x%x%)$") then return why .. UTF8_HINT end
    return why
end

-- Splits a chunk source into lines (without the LF; a trailing CR is kept for the caller).
-- Returns an iterator giving line, line number; or false, message, line number for a line longer
-- than MAX_LINE (skipped).
local function lines(read, max_line)
    local buf, pos, lineno, eof = "", 1, 0, false
    local function fill()
        local chunk
        repeat chunk = read() until chunk ~= ""
        if chunk == nil then
            eof = true
            return false
        end
        buf, pos = buf:sub(pos) .. chunk, 1
        return true
    end
    return function()
        while true do
            local i = buf:find("\n", pos, true)
            if i then
                local line = buf:sub(pos, i - 1)
                pos, lineno = i + 1, lineno + 1
                return line, lineno
            end
            if #buf - pos + 1 > max_line then
                lineno = lineno + 1
                local at = lineno
                repeat
                    buf, pos = "", 1
                    if not fill() then break end
                    i = buf:find("\n", 1, true)
                until i
                if i then pos = i + 1 end
                return false, ("line longer than %d bytes; skipped"):format(max_line), at
            end
            if eof or not fill() then
                if pos <= #buf then
                    local line = buf:sub(pos)
                    pos, lineno = #buf + 1, lineno + 1
                    return line, lineno
                end
                return nil
            end
        end
    end
end

local Input = {}
Input.__index = Input

-- Opens `path` ("-" for stdin). opts: format ("csv"|"jsonl"|"ids"|nil to detect), category and
-- subcategory (defaults, required for ids), outcome_map (--outcome-map: code -> {category=,
-- subcategory=}), api ("cxone", or nil for the tutorial profile), warn (function(msg)), tee (a
-- file handle every byte read is also written to), delimiter (CSV: ",", ";", "\t" or "tab",
-- "|"; detected from the header when nil), columns (CSV: {"FIELD=NAME", ...} as --column gives
-- them, or {field = name}), encoding ("utf-8" default, "cp1252", "latin1").
-- Returns an Input or nil, message.
function M.open(path, opts)
    opts = opts or {}
    local fh, err
    if path == "-" then
        fh = io.stdin
    else
        fh, err = io.open(path, "rb")
        if not fh then return nil, ("cannot open input: %s"):format(printable(err)) end
    end
    local function fail(msg)
        if fh ~= io.stdin then fh:close() end
        return nil, msg
    end
    local head, rerr = fh:read(CHUNK)
    if rerr then return fail(("cannot read input %s: %s"):format(printable(path), printable(rerr))) end
    local warn = opts.warn or function() end
    local plan, derr = encoding.plan(head or "", opts.encoding, warn)
    if not plan then return fail(derr) end
    local read = encoding.source(fh, head, plan, opts.tee, CHUNK)
    local first = read()
    local fmt = opts.format or M.format_from_name(path ~= "-" and path or nil) or M.sniff(first or "")
    -- A failed file is CSV whatever the command forced: the same `--format ids` command that
    -- wrote it must not read its header and rows as contact ids.
    if fmt ~= "csv" and M.is_failed_file(first or "") then fmt = "csv" end
    if not M.FORMATS[fmt] then return fail(("unknown format %s (use csv, jsonl or ids)"):format(printable(fmt))) end
    local function source()
        if first then
            local c = first
            first = nil
            return c
        end
        return read()
    end
    local self = setmetatable({
        fh = fh, path = path, format = fmt, warn = warn,
        defaults = { category = opts.category, subcategory = opts.subcategory },
        outcome_map = opts.outcome_map,
        profile = opts.api or DEFAULT_API, p = profiles.get(opts.api or DEFAULT_API),
        rows_read = 0, empty_rows = 0, converted = plan.converted,
    }, Input)
    local ok, oerr
    if fmt == "csv" then
        ok, oerr = self:open_csv(source, opts)
    else
        ok, oerr = self:open_lines(source)
    end
    if not ok then
        self:close()
        return nil, oerr
    end
    if plan.note and not self.from_failed then warn(plan.note) end
    return self
end

function Input:close()
    if self.fh and self.fh ~= io.stdin then self.fh:close() end
    self.fh = nil
end

-- The failed file's layout (output.failed): {header = the input's own columns, then `error` and
-- `cxone_bulk_state` unless it had them; error, state = their indexes; width = how many columns
-- a row of this input has; prior_state = the index of the input's own state column (a failed
-- file fed back), or nil; delimiter = the input's; bom = true when the input was not plain UTF-8
-- (written as UTF-8 with a byte-order mark, which spreadsheets and this reader both honour)}.
function Input:failed_layout()
    return self.failed
end

local function failed_layout(header, own, delimiter, bom)
    local t = { header = {}, width = #header, prior_state = own.state, delimiter = delimiter, bom = bom }
    for i, h in ipairs(header) do t.header[i] = h end
    t.error, t.state = own.error, own.state
    if not t.error then
        t.header[#t.header + 1] = failed_file.ERROR_COLUMN
        t.error = #t.header
    end
    if not t.state then
        t.header[#t.header + 1] = failed_file.STATE_COLUMN
        t.state = #t.header
    end
    return t
end

-- JSON Lines: the keys read as task fields (outcome_code apart) are the profile's `record`,
-- which are also the columns of the failed file.

-- JSON keys read without a warning: the profile's fields, the tutorial's (as before the cxone
-- profile, they are accepted there too) and the failed file's own columns.
local function jsonl_known(p)
    local t = { [failed_file.ERROR_COLUMN] = true, [failed_file.STATE_COLUMN] = true }
    for f in pairs(profiles.BY_NAME.tutorial.fields) do t[f] = true end
    for f in pairs(p.fields) do t[f] = true end
    return t
end

-- The outcome fields the input gives no column (or default) for, or nil, message.
function Input:missing_fields(has)
    local missing = {}
    if not self.p.defaults then
        for _, name in ipairs(self.p.outcome) do
            if not has[name] then missing[#missing + 1] = name end
        end
        return missing
    end
    -- With an outcome map, a row may carry an outcome_code instead of its outcome fields.
    if self.outcome_map and (has.outcome_code or self.format == "jsonl") then return missing end
    for _, name in ipairs(self.p.outcome) do
        if not has[name] then
            local d = self.defaults[name]
            if d == nil then missing[#missing + 1] = name end
            local why = d ~= nil and validate.field("--" .. name, d)
            if why then return nil, with_hint(why) end
        end
    end
    return missing
end

-- Refuses an input without the outcome fields a task needs; for a CSV header (ctx = {header=,
-- line=, layout=}) the message shows the cells found and the --column that would map them.
function Input:check_defaults(has, ctx)
    local missing, err = self:missing_fields(has)
    if not missing then return nil, err end
    if #missing == 0 then return true end
    if ctx then
        local flags = {}
        if self.p.defaults then
            for i, name in ipairs(missing) do flags[i] = "--" .. name end
        end
        return nil, columns.missing_message(ctx.header, ctx.line, ctx.layout, missing, flags,
            self.profile ~= DEFAULT_API and self.profile or nil)
    end
    local name = missing[1]
    if not self.p.defaults then
        return nil, ("%s is required with --api %s: give a %s column (%s input)"):format(name, self.profile, name,
            self.format)
    end
    return nil, ("%s is required: give a %s column or --%s"):format(name, name, name)
end

-- --delimiter as typed: "," ";" "|" or a tab ("tab", "\t" or the character). nil: detect.
local function delimiter_option(d)
    if d == nil then return "auto" end
    if d == "tab" or d == "\\t" then d = "\t" end
    if not csv.DELIMITERS[d] then
        return nil, ("--delimiter must be one of , ; | tab (got %s)"):format(printable(d))
    end
    return d
end

-- Reads the header record (skipping blank lines). Returns fields, line or nil, message.
local function read_header(reader)
    while true do
        local header, line, err_line = reader:next()
        if not header and line then
            return nil, ("line %d: bad CSV header: %s"):format(err_line, printable(line))
        end
        if not header then return nil, "input is empty (expected a CSV header line)" end
        if #header > 0 then return header, line end
    end
end

-- "; name it with --column contact_id=..." for a header without a contact_id column.
local function contact_id_hint(header, layout, delimiter)
    if #header == 1 and delimiter == "," and header[1]:find("[;\t|]") then return "; give --delimiter" end
    local pick = columns.suggest(header, layout, { "contact_id" }).contact_id
    if pick then return ("; name it with --column contact_id=\"%s\""):format(printable(pick)) end
    return "; name it with --column contact_id=NAME"
end

function Input:open_csv(read, opts)
    local delim, derr = delimiter_option(opts.delimiter)
    if not delim then return nil, derr end
    local overrides, cerr = columns.overrides(opts.columns, self.profile)
    if not overrides then return nil, cerr end
    local reader = csv.reader(read, { max_record = M.MAX_LINE, delimiter = delim })
    self.reader = reader
    local header, line = read_header(reader)
    if not header then return nil, line end
    -- A failed file (it has the error or state column) was written with formula cells neutralised.
    for _, raw in ipairs(header) do
        if failed_file.own_column(raw) then self.from_failed = true end
    end
    if self.from_failed then
        for i, raw in ipairs(header) do header[i] = csv.unneutralise(raw) end
    end
    local layout, lerr = columns.map_header(header, line, overrides, self.profile)
    if not layout then return nil, lerr end
    local col = layout.col
    if not col.contact_id then
        local names = {}
        for i, h in ipairs(header) do names[i] = printable(h) end
        return nil, ("line %d: CSV header has no contact_id column (got: %s)%s"):format(
            line, table.concat(names, ","), contact_id_hint(header, layout, reader.delimiter))
    end
    local ok, err = self:check_defaults(col, { header = header, line = line, layout = layout })
    if not ok then return nil, err end
    if #layout.unknown > 0 then
        self.warn(("line %d: ignoring unknown CSV column(s): %s"):format(line, textutil.list(layout.unknown)))
    end
    self.col, self.ncols, self.delimiter, self.state_col = col, #header, reader.delimiter, layout.state
    self.failed = failed_layout(header, layout, reader.delimiter, self.converted)
    self.next = Input.next_csv
    return true
end

function Input:open_lines(read)
    self.lines = lines(read, M.MAX_LINE)
    if self.format == "ids" then
        local ok, err = self:check_defaults({})
        if not ok then return nil, err end
        self.failed = failed_layout({ "contact_id", "category", "subcategory" }, {}, ",", self.converted)
        self.next = Input.next_ids
    else
        local ok, err = self:check_defaults({ category = true, subcategory = true, skill = true,
            disposition_code = true }) -- JSON Lines: checked per row
        if not ok then return nil, err end
        self.failed = failed_layout(self.p.record, {}, ",", self.converted)
        self.next = Input.next_jsonl
    end
    return true
end

-- Reads a row's cells as the operator means them, before the library checks the task: an empty
-- outcome_code cell is no code; a code with an empty category (skill) cell gives the row its
-- outcome; otherwise --category/--subcategory fill what the row has no column for; an empty
-- optional cxone cell is not sent.
function Input:read_cells(task)
    local shape = self.p
    local first, second = shape.outcome[1], shape.outcome[2]
    if task.outcome_code == "" then task.outcome_code = nil end
    if task.outcome_code ~= nil and (task[first] == nil or task[first] == "") then
        task[first], task[second] = nil, nil
    else
        task.outcome_code = nil
        if shape.defaults then
            task[first] = task[first] or self.defaults[first]
            task[second] = task[second] or self.defaults[second]
        end
    end
    for _, f in ipairs(shape.optional) do
        if task[f] == "" then task[f] = nil end
    end
end

-- Finishes a row: reads its cells, has the library check it (mapping an outcome_code), names
-- spreadsheet damage, and records the row for the failed file. why: a problem already found.
function Input:finish(row, task, fields, why)
    self:read_cells(task)
    local first, second
    if not why then why, first, second = validate.task(task, self.profile, self.outcome_map, WORDS) end
    if not why then
        local outcome = self.p.outcome
        task[outcome[1]], task[outcome[2]] = first, second
        why = damage.check_task(task)
    end
    task.outcome_code = nil -- the engine gets the fields it maps to
    row.task, row.fields = task, fields
    if why then
        -- The row's values reach the results file and the terminal: escaped, never raw bytes.
        row.error = printable(with_hint(why))
        for k, v in pairs(task) do
            if type(v) == "string" then task[k] = printable(v) end
        end
    end
    self.rows_read = self.rows_read + 1
    return row
end

-- The next row: {line=, task=, fields=, error=}, where task is absent when the row could not be
-- read at all (contact_id then holds the id if one could be seen); or nil at the end. Rows that
-- are only delimiters (",,", as spreadsheets leave at the end) are skipped and counted.
function Input:next_csv()
    while true do
        local fields, line, err_line, raw = self.reader:next()
        if fields == nil and line == nil then
            self:report_empty()
            return nil
        end
        if fields == nil then -- malformed record: line holds the message; raw its first line
            self.rows_read = self.rows_read + 1
            local row = { line = err_line, error = printable(line),
                fields = raw and csv.split_raw(raw, self.delimiter) or {} }
            row.contact_id = printable(row.fields[self.col.contact_id] or "")
            return row
        end
        local n = #fields
        if n > 0 and not (fields[1] == "" and self:is_empty(fields)) then
            if self.from_failed then
                for i = 1, n do
                    if fields[i]:byte(1) == 39 then fields[i] = csv.unneutralise(fields[i]) end
                end
            end
            local row = { line = line }
            if n ~= self.ncols then
                self.rows_read = self.rows_read + 1
                row.fields, row.contact_id = fields, printable(fields[self.col.contact_id] or "")
                row.error = ("expected %d fields (as in the header), got %d"):format(self.ncols, n)
                return row
            end
            local task = self:csv_task(fields)
            -- A failed file fed back: its state column says which rows to read back first.
            local why = self.state_col and failed_file.apply_state(task, fields[self.state_col])
            return self:finish(row, task, fields, why or nil)
        elseif n > 0 then
            self.empty_rows = self.empty_rows + 1
            self.first_empty = self.first_empty or line
        end
    end
end

-- A CSV record's task fields (an empty idempotency_key cell is none).
function Input:csv_task(fields)
    local task = {}
    for _, f in ipairs(self.p.columns) do
        task[f] = self.col[f] and fields[self.col[f]]
    end
    local key = self.p.key_field
    if key and task[key] == "" then task[key] = nil end
    return task
end

-- True when every field is empty (the first is known to be).
function Input.is_empty(_, fields)
    for i = 2, #fields do
        if fields[i] ~= "" then return false end
    end
    return true
end

-- One warning at the end of the input for the empty rows skipped.
function Input:report_empty()
    if self.empty_rows > 0 and not self.empty_reported then
        self.empty_reported = true
        self.warn(("skipped %d empty row(s) with no values (the first on line %d)"):format(
            self.empty_rows, self.first_empty))
    end
end

-- How many rows were skipped because every field was empty (CSV ",,"), so far.
function Input:skipped_empty()
    return self.empty_rows
end

-- The next line of a line-based input (ids, JSON Lines): text, line; or nil at the end; or
-- false and the row to return for a line that was too long.
function Input:next_line()
    local text, line, err_line = self.lines()
    if text == false then -- over-long line: line holds the message
        self.rows_read = self.rows_read + 1
        return false, { line = err_line, error = line, fields = {} }
    end
    return text, line
end

function Input:next_ids()
    while true do
        local text, line = self:next_line()
        if not text then return line end
        local id = text:match("^%s*(.-)%s*$")
        if line == 1 then id = id:gsub("^" .. BOM, "") end
        if id ~= "" and not (self.rows_read == 0 and id:lower() == "contact_id") then
            local row = { line = line }
            local task = { contact_id = id }
            return self:finish(row, task, { id, self.defaults.category, self.defaults.subcategory })
        end
    end
end

-- A JSON value as a task field: strings as they are, integers without a fraction; nil plus a
-- reason for anything else.
local function json_field(name, v)
    if v == nil or v == cjson.null then return nil end
    if type(v) == "string" then return v end
    if type(v) == "number" and name == "contact_id" then
        if v == math.floor(v) and math.abs(v) < 2 ^ 53 then return ("%d"):format(v) end
        return nil, "contact_id must be a string (this number cannot be kept exactly)"
    end
    return nil, ("%s must be a string, got %s"):format(name, type(v) == "table" and "an object or array" or type(v))
end

function Input:next_jsonl()
    while true do
        local text, line = self:next_line()
        if not text then return line end
        if line == 1 and text:sub(1, 3) == BOM then text = text:sub(4) end
        text = text:gsub("\r$", "")
        if text:find("%S") then
            return self:jsonl_row(text, line)
        end
    end
end

function Input:jsonl_row(text, line)
    local row = { line = line, fields = {} }
    local obj, derr = cjson.decode(text)
    if type(obj) ~= "table" or (obj[1] ~= nil) or next(obj) == nil and text:match("^%s*%[") then
        self.rows_read = self.rows_read + 1
        row.error = obj == nil and ("invalid JSON: %s"):format(derr) or "not a JSON object"
        return row
    end
    local task, problems = {}, nil
    for _, name in ipairs(self.p.record) do
        local v, perr = json_field(name, obj[name])
        task[name] = v
        problems = problems or perr
        row.fields[#row.fields + 1] = v or (obj[name] ~= nil and obj[name] ~= cjson.null and tostring(obj[name])) or ""
    end
    local key = self.p.key_field
    if key and task[key] == "" then task[key] = nil end
    local code, cerr = json_field("outcome_code", obj.outcome_code)
    task.outcome_code, problems = code, problems or cerr
    if not self.jsonl_warned then
        local unknown = {}
        for k in pairs(obj) do
            self.known = self.known or jsonl_known(self.p)
            if not self.known[k] then unknown[#unknown + 1] = tostring(k) end
        end
        if #unknown > 0 then
            table.sort(unknown)
            self.jsonl_warned = true
            self.warn(("line %d: ignoring unknown JSON field(s): %s"):format(line,
                printable(textutil.list(unknown))))
        end
    end
    self:finish(row, task, row.fields)
    if self.p.defaults then -- the failed file shows the outcome a code or a flag gave the row
        local outcome = self.p.outcome
        row.fields[2], row.fields[3] = task[outcome[1]] or "", task[outcome[2]] or ""
    end
    if problems then row.error = problems end
    return row
end

-- Rows in a regular file, counted cheaply (line ends, not records) for the progress bar; nil for
-- stdin or anything that cannot be read twice. Counting stops at `limit` bytes if given.
function M.estimate_rows(path, format)
    if path == "-" then return nil end
    local fh = io.open(path, "rb")
    if not fh then return nil end
    if not fh:seek("end") then
        fh:close()
        return nil
    end
    fh:seek("set")
    -- Old Mac exports end lines with a lone CR: count CRs when the file has no LF at all.
    local n, cr, last = 0, 0, "\n"
    while true do
        local chunk = fh:read(CHUNK)
        if not chunk then break end
        local _, lf = chunk:gsub("\n", "")
        if n == 0 and lf == 0 then
            local _, k = chunk:gsub("\r", "")
            cr = cr + k
        end
        n, last = n + lf, chunk:sub(-1)
    end
    fh:close()
    if n == 0 and cr > 0 then n, last = cr, last == "\r" and "\n" or last end
    if last ~= "\n" then n = n + 1 end
    if format == "csv" and n > 0 then n = n - 1 end
    return n
end

return M
