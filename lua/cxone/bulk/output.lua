-- Result writers: one JSON object per line for every result, and a CSV of the rows that did not
-- succeed (the input's own columns plus `error`) that can be fixed and fed straight back in.
local cjson = require "cjson"
local csv = require "cxone.bulk.csv"

local M = {}

-- Key order of a results line: what an operator reads first comes first. Fields the engine adds
-- later are appended in sorted order, so nothing is dropped.
local ORDER = {
    "line", "contact_id", "category", "subcategory", "ok", "status", "error", "attempts",
    "replayed", "idempotency_key", "elapsed", "skipped", "invalid", "cancelled",
    "method", "url", "body",
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
    if t == "number" then
        if k == "elapsed" then v = round(v, 4) end
        if v == math.floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return ("%d"):format(v) end
    end
    local text = cjson.encode(v)
    -- lua-cjson writes "/" as "\/" (valid, but noisy in URLs and messages). Every "/" it emits is
    -- escaped, so each "\/" pair is an escaped slash and can go back to a plain one.
    if t == "string" and v:find("/", 1, true) then text = text:gsub("\\/", "/") end
    return text
end

-- One result as a JSON line with a stable key order (values are encoded by lua-cjson).
-- Only string, number and boolean fields are written.
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
        if not ORDERED[k] and type(k) == "string" and (t == "string" or t == "number" or t == "boolean") then
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
-- reader strips that one apostrophe again when it reads a file with an `error` column, so a
-- re-fed failed file sends exactly the original values.
local function neutralised_row(cells)
    local out = {}
    for i = 1, #cells do out[i] = csv.neutralise(tostring(cells[i] == nil and "" or cells[i])) end
    return csv.format_row(out)
end

-- fh: an open file handle (nil writes nothing); header: the columns (including `error`);
-- error_index: position of the error column in header; input_width: how many columns the input
-- rows have (#header when the input already had an error column, #header - 1 otherwise).
-- name: the file as the user named it, for errors.
function M.failed(fh, header, error_index, input_width, name)
    local self = setmetatable({ fh = fh, input_width = input_width, error_index = error_index,
        name = name, written = 0 }, Failed)
    if fh then check("the failed file", name, fh:write(neutralised_row(header))) end
    return self
end

-- fields: the row as read (may be shorter or longer than the header); message: why it failed.
-- The row keeps the header's width (padded with empty fields) with the error in its column;
-- fields beyond the header are kept after it, so a ragged row stays visibly ragged.
function Failed:write(fields, message)
    if not self.fh then return end
    local out = {}
    for i = 1, self.input_width do out[i] = fields[i] or "" end
    out[self.error_index] = message or ""
    for i = self.input_width + 1, #fields do out[#out + 1] = fields[i] end
    check("the failed file", self.name, self.fh:write(neutralised_row(out)))
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
