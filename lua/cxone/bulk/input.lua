-- Input rows for the CLI: CSV with a header, JSON Lines, or a plain list of contact ids.
--
-- Everything is streamed: one record (at most MAX_LINE bytes) plus one read chunk is all that is
-- held. A bad row never raises; it comes back as a row with `error` set and its line number, so
-- the caller reports it as an invalid result and goes on. Only problems that make the whole
-- input unusable (unreadable file, CSV header without contact_id, ...) are returned by open().
local csv = require "cxone.bulk.csv"
local cjson = require "cjson.safe"

local M = {}

local CHUNK = 65536
M.MAX_LINE = csv.MAX_RECORD
local BOM = "\239\187\191"
local FIELDS = { "contact_id", "category", "subcategory", "idempotency_key" }
local KNOWN = { contact_id = true, category = true, subcategory = true, idempotency_key = true,
                outcome_code = true }
-- The failed file adds an `error` column; reading that file back ignores it without a warning.
local FAILED_COLUMN = "error"

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
    if first:find(",", 1, true) or first:sub(1, 1) == '"' then return "csv" end
    if first:lower():match("^%s*contact_id%s*$") then return "csv" end
    return "ids"
end

-- Why a value cannot be a field of a task, or nil when it can. (Runs for every field of every
-- row, so the common case costs one find and two byte reads.)
local function field_problem(name, v)
    if v == nil or v == "" then return name .. " is empty" end
    local c = v:find("%c")
    if c then
        return ("%s contains control character 0x%02X"):format(name, v:byte(c))
    end
    if name == "contact_id" and (v:byte(1) == 32 or v:byte(-1) == 32) then
        return "contact_id has leading or trailing white space"
    end
    return nil
end

-- Checks a task built from a row; returns nil or the reason it is invalid.
local function task_problem(task, validate)
    local p = field_problem("contact_id", task.contact_id) or field_problem("category", task.category)
        or field_problem("subcategory", task.subcategory)
    if p then return p end
    if task.idempotency_key and task.idempotency_key:find("%c") then
        return "idempotency_key contains a control character"
    end
    if validate then
        local ok, err = validate(task)
        if not ok then return tostring(err) end
    end
    return nil
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
-- subcategory (defaults, required for ids), validate (function(task) -> true | nil, err), warn
-- (function(msg)), tee (a file handle every byte read is also written to).
-- Returns an Input or nil, message.
function M.open(path, opts)
    opts = opts or {}
    local fh, err
    if path == "-" then
        fh = io.stdin
    else
        fh, err = io.open(path, "rb")
        if not fh then return nil, ("cannot open input: %s"):format(err) end
    end
    local head, rerr = fh:read(CHUNK)
    if rerr then return nil, ("cannot read input %s: %s"):format(path, rerr) end
    local tee = opts.tee
    local first = head
    local function read()
        local c
        if first then
            c, first = first, nil
        else
            c = fh:read(CHUNK)
        end
        if c and tee then tee:write(c) end
        return c
    end
    local fmt = opts.format or M.format_from_name(path ~= "-" and path or nil) or M.sniff(head or "")
    if not M.FORMATS[fmt] then return nil, ("unknown format %q (use csv, jsonl or ids)"):format(fmt) end
    local self = setmetatable({
        fh = fh, path = path, format = fmt, warn = opts.warn or function() end,
        validate = opts.validate, defaults = { category = opts.category, subcategory = opts.subcategory },
        outcome_map = opts.outcome_map,
        rows_read = 0,
    }, Input)
    local ok, oerr
    if fmt == "csv" then
        ok, oerr = self:open_csv(read)
    else
        ok, oerr = self:open_lines(read)
    end
    if not ok then
        self:close()
        return nil, oerr
    end
    return self
end

function Input:close()
    if self.fh and self.fh ~= io.stdin then self.fh:close() end
    self.fh = nil
end

-- The columns of the failed file: the input's own header (plus `error`) for CSV, the task fields
-- plus `error` otherwise. Returns the header array, the index of the error column and the
-- number of columns a row of this input has.
function Input:failed_columns()
    return self.failed_header, self.error_index, self.input_width
end

local function check_defaults(self, has)
    -- With an outcome map, a row may carry an outcome_code instead of category/subcategory.
    if self.outcome_map and (has.outcome_code or self.format == "jsonl") then return true end
    for _, name in ipairs({ "category", "subcategory" }) do
        if not has[name] then
            local d = self.defaults[name]
            if d == nil then
                return nil, ("%s is required: give a %s column or --%s"):format(name, name, name)
            end
            local p = field_problem("--" .. name, d)
            if p then return nil, p end
        end
    end
    return true
end

function Input:open_csv(read)
    local reader = csv.reader(read, { max_record = M.MAX_LINE })
    self.reader = reader
    local header, line
    repeat
        local err_line
        header, line, err_line = reader:next()
        if not header and line then
            return nil, ("line %d: bad CSV header: %s"):format(err_line, line)
        end
        if not header then return nil, "input is empty (expected a CSV header line)" end
    until #header > 0
    local col, unknown = {}, {}
    for i, raw in ipairs(header) do
        local name = raw:lower():match("^%s*(.-)%s*$")
        if KNOWN[name] or name == FAILED_COLUMN then
            if col[name] then
                return nil, ("line %d: CSV header names column %q twice"):format(line, name)
            end
            col[name] = i
        else
            unknown[#unknown + 1] = raw
        end
    end
    if not col.contact_id then
        return nil, ("line %d: CSV header has no contact_id column (got: %s)"):format(
            line, table.concat(header, ","))
    end
    local ok, err = check_defaults(self, col)
    if not ok then return nil, ("line %d: %s"):format(line, err) end
    if #unknown > 0 then
        self.warn(("line %d: ignoring unknown CSV column(s): %s"):format(line, table.concat(unknown, ", ")))
    end
    self.col, self.ncols = col, #header
    self.failed_header = {}
    for i, h in ipairs(header) do self.failed_header[i] = h end
    self.error_index = col[FAILED_COLUMN]
    self.input_width = #header
    if not self.error_index then
        self.error_index = #header + 1
        self.failed_header[self.error_index] = FAILED_COLUMN
    end
    self.next = Input.next_csv
    return true
end

function Input:open_lines(read)
    self.lines = lines(read, M.MAX_LINE)
    self.failed_header = { "contact_id", "category", "subcategory", "idempotency_key", FAILED_COLUMN }
    self.error_index, self.input_width = 5, 4
    if self.format == "ids" then
        local ok, err = check_defaults(self, {})
        if not ok then return nil, err end
        self.failed_header = { "contact_id", "category", "subcategory", FAILED_COLUMN }
        self.error_index, self.input_width = 4, 3
        self.next = Input.next_ids
    else
        local ok, err = check_defaults(self, { category = true, subcategory = true })
        if not ok then return nil, err end
        self.next = Input.next_jsonl
    end
    return true
end

-- Finishes a row: fills defaults, validates, and records the row for the failed file.
function Input:finish(row, task, fields)
    local code = task.outcome_code
    if code ~= nil and code ~= "" and (task.category == nil or task.category == "") then
        local m = self.outcome_map and self.outcome_map[code]
        if not m then
            self.rows_read = self.rows_read + 1
            row.task, row.fields = task, fields
            row.error = self.outcome_map and ("unknown outcome_code %q (not in --outcome-map)"):format(code)
                or "outcome_code needs --outcome-map"
            return row
        end
        task.category, task.subcategory = m.category, m.subcategory
    end
    task.outcome_code = nil
    task.category = task.category or self.defaults.category
    task.subcategory = task.subcategory or self.defaults.subcategory
    row.task, row.fields = task, fields
    row.error = task_problem(task, self.validate)
    self.rows_read = self.rows_read + 1
    return row
end

-- The next row: {line=, task=, fields=, error=}, where task is absent when the row could not be
-- read at all (contact_id then holds the id if one could be seen); or nil at the end.
function Input:next_csv()
    while true do
        local fields, line, err_line = self.reader:next()
        if fields == nil and line == nil then return nil end
        if fields == nil then -- malformed record: line holds the message
            self.rows_read = self.rows_read + 1
            return { line = err_line, error = line, fields = {} }
        end
        if #fields > 0 then
            local row = { line = line }
            if #fields ~= self.ncols then
                self.rows_read = self.rows_read + 1
                row.fields, row.contact_id = fields, fields[self.col.contact_id]
                row.error = ("expected %d fields (as in the header), got %d"):format(self.ncols, #fields)
                return row
            end
            local c = self.col
            local key = c.idempotency_key and fields[c.idempotency_key]
            return self:finish(row, {
                contact_id = fields[c.contact_id],
                category = c.category and fields[c.category],
                subcategory = c.subcategory and fields[c.subcategory],
                outcome_code = c.outcome_code and fields[c.outcome_code],
                idempotency_key = key ~= "" and key or nil,
            }, fields)
        end
    end
end

function Input:next_ids()
    while true do
        local text, line, err_line = self.lines()
        if text == nil then return nil end
        if text == false then -- over-long line: line holds the message
            self.rows_read = self.rows_read + 1
            return { line = err_line, error = line, fields = {} }
        end
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
        local text, line, err_line = self.lines()
        if text == nil then return nil end
        if text == false then -- over-long line: line holds the message
            self.rows_read = self.rows_read + 1
            return { line = err_line, error = line, fields = {} }
        end
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
    for _, name in ipairs(FIELDS) do
        local v, perr = json_field(name, obj[name])
        task[name] = v
        problems = problems or perr
        row.fields[#row.fields + 1] = v or (obj[name] ~= nil and obj[name] ~= cjson.null and tostring(obj[name])) or ""
    end
    if task.idempotency_key == "" then task.idempotency_key = nil end
    if type(obj.outcome_code) == "string" then task.outcome_code = obj.outcome_code end
    if not self.jsonl_warned then
        local unknown = {}
        for k in pairs(obj) do
            if not KNOWN[k] and k ~= FAILED_COLUMN then unknown[#unknown + 1] = tostring(k) end
        end
        if #unknown > 0 then
            table.sort(unknown)
            self.jsonl_warned = true
            self.warn(("line %d: ignoring unknown JSON field(s): %s"):format(line, table.concat(unknown, ", ")))
        end
    end
    self:finish(row, task, row.fields)
    row.fields[2], row.fields[3] = task.category or "", task.subcategory or ""
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
    local n, last = 0, "\n"
    while true do
        local chunk = fh:read(CHUNK)
        if not chunk then break end
        local _, lf = chunk:gsub("\n", "")
        n, last = n + lf, chunk:sub(-1)
    end
    fh:close()
    if last ~= "\n" then n = n + 1 end
    if format == "csv" and n > 0 then n = n - 1 end
    return n
end

return M
