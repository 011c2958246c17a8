-- Streaming RFC 4180 CSV reader and writer.
--
-- Debian ships no maintained Lua CSV parser (`apt-cache search lua csv` finds nothing), so this is
-- a small one. The reader never holds more than one record plus one read chunk in memory, so a
-- file of any length can be streamed. It accepts what real exports contain: quoted fields with
-- embedded commas, quotes ("") and newlines, CRLF or LF line ends, a UTF-8 byte-order mark, and a
-- last record without a line end. Two liberties, both common in the wild: a bare quote inside an
-- unquoted field is kept as data, and a lone CR is data (only LF, or CRLF, ends a record).
--
-- Malformed records never raise: next() returns nil, message, line and the reader resynchronises
-- at the next line end, so one bad record costs one record.
local M = {}

local BOM = "\239\187\191"
local CHUNK = 65536
M.MAX_RECORD = 1024 * 1024 -- bytes; bounds memory when a quote is never closed

local NEED_MORE = {} -- sentinel: the record is not complete in the buffer yet

local function count_lf(s)
    local n, i = 0, 1
    while true do
        i = s:find("\n", i, true)
        if not i then return n end
        n, i = n + 1, i + 1
    end
end

-- Parses one quoted field whose opening quote is at buf[p]. Returns the field text, the index of
-- the first byte after the closing quote, and the number of LF bytes inside; or NEED_MORE; or
-- nil, "unterminated" at end of input.
local function quoted_field(buf, p, eof)
    local parts, q = nil, p + 1
    while true do
        local i = buf:find('"', q, true)
        if not i then
            if eof then return nil, "unterminated" end
            return NEED_MORE
        end
        local nextc = buf:byte(i + 1)
        if nextc == 34 then -- "" is an escaped quote
            parts = parts or {}
            parts[#parts + 1] = buf:sub(q, i)
            q = i + 2
        elseif nextc == nil and not eof then
            return NEED_MORE -- cannot tell a closing quote from the first half of ""
        else
            local text = buf:sub(q, i - 1)
            if parts then
                parts[#parts + 1] = text
                text = table.concat(parts)
            end
            return text, i + 1, text:find("\n", 1, true) and count_lf(text) or 0
        end
    end
end

-- Fast path for the common record: a complete line without quotes (the caller knows where the
-- next quote is, so nothing is scanned twice). Splits on commas with plain finds and builds the
-- table in one constructor for up to four fields. Returns fields, next position; or nil when the
-- slow path must handle the record.
local function plain_line(buf, pos, lf)
    local stop = buf:byte(lf - 1) == 13 and lf - 2 or lf - 1
    local find, sub = buf.find, buf.sub
    local c1 = find(buf, ",", pos, true)
    if not c1 or c1 > stop then return { sub(buf, pos, stop) } end
    local c2 = find(buf, ",", c1 + 1, true)
    if not c2 or c2 > stop then return { sub(buf, pos, c1 - 1), sub(buf, c1 + 1, stop) } end
    local c3 = find(buf, ",", c2 + 1, true)
    if not c3 or c3 > stop then
        return { sub(buf, pos, c1 - 1), sub(buf, c1 + 1, c2 - 1), sub(buf, c2 + 1, stop) }
    end
    local fields = { sub(buf, pos, c1 - 1), sub(buf, c1 + 1, c2 - 1), sub(buf, c2 + 1, c3 - 1) }
    local p, k = c3 + 1, 3
    while true do
        local c = find(buf, ",", p, true)
        k = k + 1
        if not c or c > stop then
            fields[k] = sub(buf, p, stop)
            return fields
        end
        fields[k] = sub(buf, p, c - 1)
        p = c + 1
    end
end

-- Parses one record starting at buf[pos]. Returns fields, next position, LF bytes consumed; or
-- NEED_MORE; or false, message, next position, LF bytes consumed for a malformed record.
local function parse_record(buf, pos, eof)
    local fields, p, lfs, n = {}, pos, 0, #buf
    local first = buf:byte(pos)
    if first == 10 then return fields, pos + 1, 1 end -- blank line: zero fields
    if first == 13 then
        local second = buf:byte(pos + 1)
        if second == 10 then return fields, pos + 2, 1 end
        if second == nil and not eof then return NEED_MORE end
    end
    while true do
        if buf:byte(p) == 34 then
            local text, after, inner = quoted_field(buf, p, eof)
            if text == NEED_MORE then return NEED_MORE end
            if not text then
                return false, "unterminated quoted field", n + 1, lfs + count_lf(buf:sub(p))
            end
            lfs = lfs + inner
            fields[#fields + 1] = text
            local c = buf:byte(after)
            if c == 44 then -- ,
                p = after + 1
            elseif c == 10 then
                return fields, after + 1, lfs + 1
            elseif c == nil then
                return fields, after, lfs -- eof is true here (quoted_field asked for more otherwise)
            elseif c == 13 and buf:byte(after + 1) == 10 then
                return fields, after + 2, lfs + 1
            elseif c == 13 and after == n and not eof then
                return NEED_MORE
            else
                local lf = buf:find("\n", after, true)
                if not lf and not eof then return NEED_MORE end
                local msg = ("unexpected %q after the closing quote of field %d"):format(
                    buf:sub(after, after), #fields)
                return false, msg, (lf or n) + 1, lfs + (lf and 1 or 0)
            end
        else
            local i = buf:find("[,\n]", p)
            if not i then
                if not eof then return NEED_MORE end
                fields[#fields + 1] = buf:sub(p)
                return fields, n + 1, lfs
            end
            if buf:byte(i) == 44 then
                fields[#fields + 1] = buf:sub(p, i - 1)
                p = i + 1
            else
                local last = i - 1
                if last >= p and buf:byte(last) == 13 then last = last - 1 end
                fields[#fields + 1] = buf:sub(p, last)
                return fields, i + 1, lfs + 1
            end
        end
    end
end

local Reader = {}
Reader.__index = Reader

-- src: a file handle, a function returning the next chunk (nil at the end), or a string.
-- opts.max_record: bytes (default M.MAX_RECORD).
function M.reader(src, opts)
    local read
    if type(src) == "string" then
        local done = false
        read = function()
            if done then return nil end
            done = true
            return src
        end
    elseif type(src) == "function" then
        read = src
    else
        read = function() return src:read(CHUNK) end
    end
    return setmetatable({
        read = read, buf = "", pos = 1, eof = false, line = 1, started = false, quote = 0,
        max_record = (opts and opts.max_record) or M.MAX_RECORD,
    }, Reader)
end

-- Appends the next chunk, dropping what was already consumed. Returns false at end of input.
function Reader:fill()
    local chunk
    repeat chunk = self.read() until chunk ~= ""
    if chunk == nil then
        self.eof = true
        return false
    end
    self.buf = self.buf:sub(self.pos) .. chunk
    self.pos = 1
    self.quote = 0 -- stale: found again from the new buffer on the next record
    return true
end

-- Reads until three bytes are buffered (or the input ends), then drops a UTF-8 BOM.
function Reader:prime()
    self.started = true
    while #self.buf < 3 and self:fill() do end
    if self.buf:sub(1, 3) == BOM then self.pos = 4 end
end

-- Skips to just after the next LF (for an over-long record). Returns the LF count skipped.
function Reader:skip_line()
    while true do
        local i = self.buf:find("\n", self.pos, true)
        if i then
            self.pos = i + 1
            return 1
        end
        self.buf, self.pos = "", 1
        if not self:fill() then return 0 end
    end
end

-- Returns fields (array of strings; empty for a blank line), the line where the record starts;
-- or nil, message, line for a malformed record (reading may continue); or nil at the end.
function Reader:next()
    if not self.started then self:prime() end
    while true do
        if self.pos > #self.buf then
            if self.eof or not self:fill() then return nil end
        end
        local line = self.line
        local buf, pos = self.buf, self.pos
        local q = self.quote
        if q and q < pos then
            q = buf:find('"', pos, true) or false
            self.quote = q
        end
        local lf = buf:find("\n", pos, true)
        if lf and lf > pos + 1 and (not q or q > lf) then
            self.pos, self.line = lf + 1, line + 1
            return plain_line(buf, pos, lf), line
        end
        local a, b, c, d = parse_record(buf, pos, self.eof)
        if a == NEED_MORE then
            if #self.buf - self.pos + 1 > self.max_record then
                self.line = line + self:skip_line()
                return nil, ("record longer than %d bytes (unclosed quote?); skipped to the next line")
                    :format(self.max_record), line
            end
            self:fill()
        elseif a == false then
            self.pos, self.line = c, line + d
            return nil, b, line
        else
            self.pos, self.line = b, line + c
            return a, line
        end
    end
end

-- Iterator form: for fields, line, err in csv.records(src) do ... end. fields is nil when err is set.
function M.records(src, opts)
    local r = M.reader(src, opts)
    return function()
        local fields, a, b = r:next()
        if fields then return fields, a, nil end
        if a then return false, b, a end
        return nil
    end
end

local function needs_quotes(s)
    return s:find('[,"\r\n]') ~= nil
end

-- One field as CSV text: quoted only when needed (comma, quote, CR, LF).
function M.quote(s)
    s = tostring(s == nil and "" or s)
    if needs_quotes(s) then return '"' .. s:gsub('"', '""') .. '"' end
    return s
end

-- One record as a CSV line ending in CRLF-free "\n". A record of one empty field is written as ""
-- so that it does not read back as a blank line.
function M.format_row(fields)
    local n = #fields
    if n == 1 and (fields[1] == nil or fields[1] == "") then return '""\n' end
    local out = {}
    for i = 1, n do out[i] = M.quote(fields[i]) end
    return table.concat(out, ",") .. "\n"
end

return M
