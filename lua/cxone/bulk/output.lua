-- Result writers: one JSON object per line for every result, and a CSV of the rows that did not
-- succeed (the input's own columns plus `error` and `cxone_bulk_state`) that can be fixed and
-- fed straight back in.
local cjson = require "cjson"
local csv = require "cxone.bulk.csv"
local failed_file = require "cxone.bulk.failed_file"

local M = {}

-- Key order of a results line: what an operator reads first comes first. Fields the engine adds
-- later are appended in sorted order, so nothing is dropped.
local ORDER = {
    "line", "contact_id", "category", "subcategory", "ok", "status", "error", "attempts",
    "replayed", "idempotency_key", "elapsed", "skipped", "invalid", "cancelled",
    "method", "url", "body", "at", "latency", "tries",
}
local ORDERED = {}
for _, k in ipairs(ORDER) do ORDERED[k] = true end

local function round(x, places)
    local m = 10 ^ places
    return math.floor(x * m + 0.5) / m
end

-- '"key":' for every known key, encoded once.
local KEY = setmetatable({}, { __index = function(t, k)
    local v = cjson.encode(k) .. ":"
    t[k] = v
    return v
end })

local function encode_value(k, v)
    local t = type(v)
    if t == "boolean" then return v and "true" or "false" end
    if t == "table" then return cjson.encode(v) end -- tries: an array of number arrays
    if t == "number" then
        if k == "elapsed" then v = round(v, 4) end
        if v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return ("%d"):format(v) end
    end
    local text = cjson.encode(v)
    -- lua-cjson writes "/" as "\/" (valid, but noisy in URLs and messages). Every "/" it emits is
    -- escaped, so each "\/" pair is an escaped slash and can go back to a plain one.
    if t == "table" or (t == "string" and v:find("/", 1, true)) then text = text:gsub("\\/", "/") end
    return text
end

-- The table fields a result line carries: a read's before-image and the value asked for
-- (lua/cxone/bulk/plan.lua). Other tables are not result data and are left out.
local TABLE_FIELDS = { before = true, after = true, tries = true }

-- One result as a JSON line with a stable key order (values are encoded by lua-cjson).
-- String, number and boolean fields are written, and the TABLE_FIELDS (`before`, `after`, `tries`).
function M.encode_result(r)
    local parts, n = {}, 0
    for i = 1, #ORDER do
        local k = ORDER[i]
        local v = r[k]
        if v ~= nil then
            n = n + 1
            parts[n] = KEY[k] .. encode_value(k, v)
        end
    end
    local extra
    for k, v in pairs(r) do
        local t = type(v)
        if not ORDERED[k] and type(k) == "string" and (t == "string" or t == "number" or t == "boolean"
            or (t == "table" and TABLE_FIELDS[k])) then
            extra = extra or {}
            extra[#extra + 1] = k
        end
    end
    if extra then
        table.sort(extra)
        for _, k in ipairs(extra) do
            n = n + 1
            parts[n] = KEY[k] .. encode_value(k, r[k])
        end
    end
    return "{" .. table.concat(parts, ",") .. "}\n"
end

local Results = {}
Results.__index = Results

-- Raises naming the file when a write, flush or close failed (a full disk, a closed pipe).
local function check(what, name, ok, err)
    if not ok then error(("cannot write %s %s: %s"):format(what, name or "", tostring(err)), 0) end
end

-- Flushes, and closes unless it is stdout; raises naming the file on failure.
local function close_fh(fh, what, name)
    check(what, name, fh:flush())
    if fh ~= io.stdout then check(what, name, fh:close()) end
end

-- fh: an open file handle (nil writes nothing); name: the file as the user named it, for errors.
function M.results(fh, name)
    return setmetatable({ fh = fh, name = name, written = 0 }, Results)
end

function Results:write(r)
    if not self.fh then return end
    check("results to", self.name, self.fh:write(M.encode_result(r)))
    self.written = self.written + 1
end

function Results:flush()
    if self.fh then check("results to", self.name, self.fh:flush()) end
end

function Results:close()
    local fh = self.fh
    self.fh = nil
    if fh then close_fh(fh, "results to", self.name) end
end

local Failed = {}
Failed.__index = Failed

-- Cells of the failed file go through csv.neutralise: the file is meant to be opened in a
-- spreadsheet, where a cell starting with = + - @ tab or CR would run as a formula. The input
-- reader strips that one apostrophe again when it reads a failed file (it has the error or
-- state column), so a re-fed failed file sends exactly the original values.
local function neutralised_row(cells, d)
    local out = {}
    for i = 1, #cells do out[i] = csv.neutralise(tostring(cells[i] == nil and "" or cells[i])) end
    return csv.format_row(out, d)
end

local BOM = "\239\187\191"

-- fh: an open file handle (nil writes nothing); layout: the input's failed_layout() {header,
-- error, state, width, prior_state, delimiter, bom} (see cxone.bulk.input); name: the file as
-- the user named it, for errors. The file is written in the input's delimiter, as UTF-8 (with a
-- byte-order mark when the input was cp1252, latin1, UTF-16 or had one: spreadsheets then read
-- it right, and so does this reader, whatever --encoding the same command gives).
function M.failed(fh, layout, name)
    local self = setmetatable({ fh = fh, layout = layout, d = layout.delimiter or ",", name = name,
        written = 0 }, Failed)
    if fh then
        check("the failed file", name, fh:write((layout.bom and BOM or "") .. neutralised_row(layout.header, self.d)))
    end
    return self
end

-- fields: the row as read (may be shorter or longer than the header); message: why it failed;
-- state: failed_file.FAILED (nil), OUTCOME_UNKNOWN or NOT_SENT. The row keeps the header's width
-- (padded with empty fields) with the error and state in their columns; fields beyond the
-- header are kept after them, so a ragged row stays visibly ragged.
function Failed:write(fields, message, state)
    local l = self.layout
    state = failed_file.merge(state, l.prior_state and fields[l.prior_state]) -- raises on a bad state
    if not self.fh then return end
    local out = {}
    for i = 1, l.width do out[i] = fields[i] or "" end
    out[l.error] = message or ""
    out[l.state] = state
    for i = l.width + 1, #fields do out[#out + 1] = fields[i] end
    check("the failed file", self.name, self.fh:write(neutralised_row(out, self.d)))
    self.written = self.written + 1
end

function Failed:flush()
    if self.fh then check("the failed file", self.name, self.fh:flush()) end
end

function Failed:close()
    local fh = self.fh
    self.fh = nil
    if fh then close_fh(fh, "the failed file", self.name) end
end

return M
