-- Streaming RFC 4180 CSV reader and writer.
--
-- Debian ships no maintained Lua CSV parser (`apt-cache search lua csv` finds nothing), so this is
-- a small one. The reader never holds more than one record plus one read chunk in memory, so a
-- file of any length can be streamed. It accepts what real exports contain: quoted fields with
-- embedded delimiters, quotes ("") and line breaks; LF or CRLF line ends, or CR-only ones (old
-- Mac exports: a file whose first line ends in a lone CR); a
-- UTF-8 byte-order mark; a last record without a line end; `,`, `;` or tab as the delimiter
-- (given, or detected from the first line). One liberty, common in the wild: a bare quote inside
-- an unquoted field is kept as data.
--
-- Malformed records never raise: next() returns nil, message, line, raw text of the record's
-- first line, and reading resumes at the next line, so an unclosed quote costs one line, not the
-- rest of the file.
local text = require "cxone.bulk.text"

local M = {}

local BOM = "\239\187\191"
local CHUNK = 65536
M.MAX_RECORD = 1024 * 1024 -- bytes; bounds memory when a quote is never closed

local NEED_MORE = {} -- sentinel: the record is not complete in the buffer yet

-- Line breaks in s: LF, CRLF and a lone CR count one each.
local function count_breaks(s)
    local _, lf = s:gsub("\n", "")
    local _, cr = s:gsub("\r", "")
    local _, crlf = s:gsub("\r\n", "")
    return lf + cr - crlf
end

-- Parses one quoted field whose opening quote is at buf[p]. Returns the field text, the index of
-- the first byte after the closing quote, and the number of line breaks inside; or NEED_MORE; or
-- nil at end of input (unterminated).
local function quoted_field(buf, p, eof, lone)
    local parts, q = nil, p + 1
    while true do
        local i = buf:find('"', q, true)
        if not i then
            if eof then return nil end
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
            local s = buf:sub(q, i - 1)
            if parts then
                parts[#parts + 1] = s
                s = table.concat(parts)
            end
            if not s:find(lone and "[\r\n]" or "\n") then return s, i + 1, 0 end
            return s, i + 1, lone and count_breaks(s) or select(2, s:gsub("\n", ""))
        end
    end
end

-- Fast path for the common record: one complete line without quotes, ending before buf[stop+1]
-- (the caller knows where the next quote and line end are, so nothing is scanned twice). Splits
-- on the delimiter with plain finds and builds the table in one constructor for up to three
-- fields.
local function plain_line(buf, pos, stop, d)
    local find, sub = buf.find, buf.sub
    local c1 = find(buf, d, pos, true)
    if not c1 or c1 > stop then return { sub(buf, pos, stop) } end
    local c2 = find(buf, d, c1 + 1, true)
    if not c2 or c2 > stop then return { sub(buf, pos, c1 - 1), sub(buf, c1 + 1, stop) } end
    local c3 = find(buf, d, c2 + 1, true)
    if not c3 or c3 > stop then
        return { sub(buf, pos, c1 - 1), sub(buf, c1 + 1, c2 - 1), sub(buf, c2 + 1, stop) }
    end
    local fields = { sub(buf, pos, c1 - 1), sub(buf, c1 + 1, c2 - 1), sub(buf, c2 + 1, c3 - 1) }
    local p, k = c3 + 1, 3
    while true do
        local c = find(buf, d, p, true)
        k = k + 1
        if not c or c > stop then
            fields[k] = sub(buf, p, stop)
            return fields
        end
        fields[k] = sub(buf, p, c - 1)
        p = c + 1
    end
end

-- The end of a record whose line end starts at buf[i] (CR or LF): the index after it; or
-- NEED_MORE when a CR is the last buffered byte (it may be the first half of CRLF); or nil when
-- buf[i] is a lone CR and lone CRs are not line ends (lone == false).
local function after_break(buf, i, eof, lone)
    if buf:byte(i) == 10 then return i + 1 end
    local c2 = buf:byte(i + 1)
    if c2 == 10 then return i + 2 end
    if c2 == nil and not eof then return NEED_MORE end
    if not lone then return nil end
    return i + 1
end

-- Parses one record starting at buf[pos] with delimiter byte db (pattern pat finds the
-- delimiter or a line end); lone: a lone CR ends a record. Returns fields, next position, line
-- breaks consumed; or NEED_MORE; or false, message for a malformed record.
local function parse_record(buf, pos, eof, db, pat, lone)
    local fields, p, breaks, n = {}, pos, 0, #buf
    local first = buf:byte(pos)
    if first == 10 or first == 13 then -- blank line: zero fields
        local after = after_break(buf, pos, eof, lone)
        if after == NEED_MORE then return NEED_MORE end
        if after then return fields, after, 1 end
    end
    while true do
        if buf:byte(p) == 34 then
            local s, after, inner = quoted_field(buf, p, eof, lone)
            if s == NEED_MORE then return NEED_MORE end
            if not s then return false, "unterminated quoted field" end
            breaks = breaks + inner
            fields[#fields + 1] = s
            local c = buf:byte(after)
            if c == db then
                p = after + 1
            elseif c == nil then
                return fields, after, breaks -- eof is true here (quoted_field asked for more otherwise)
            elseif (c == 10 or c == 13) and after_break(buf, after, eof, lone) then
                local next_pos = after_break(buf, after, eof, lone)
                if next_pos == NEED_MORE then return NEED_MORE end
                return fields, next_pos, breaks + 1
            else
                return false, ('unexpected "%s" after the closing quote of field %d'):format(
                    text.printable(buf:sub(after, after)), #fields)
            end
        else
            local i = buf:find(pat, p)
            if not i then
                if not eof then return NEED_MORE end
                fields[#fields + 1] = buf:sub(p)
                return fields, n + 1, breaks
            end
            if buf:byte(i) == db then
                fields[#fields + 1] = buf:sub(p, i - 1)
                p = i + 1
            else
                local next_pos = after_break(buf, i, eof, true)
                if next_pos == NEED_MORE then return NEED_MORE end
                local last = i - 1
                if next_pos == i + 1 and buf:byte(last) == 13 and last >= p then last = last - 1 end -- CRLF
                fields[#fields + 1] = buf:sub(p, last)
                return fields, next_pos, breaks + 1
            end
        end
    end
end

M.DELIMITERS = { [","] = true, [";"] = true, ["\t"] = true, ["|"] = true }

-- The delimiter a header line uses: the most frequent of , ; tab | outside quotes (a comma when
-- none occurs; ties go to the earlier in that list).
function M.detect_delimiter(line)
    local bare = line:gsub('"[^"]*"', "")
    local best, most = ",", 0
    for _, d in ipairs({ ",", ";", "\t", "|" }) do
        local _, k = bare:gsub(d == "|" and "|" or d, "")
        if k > most then best, most = d, k end
    end
    return best
end

-- The first line end at or after pos outside quotes, or nil.
local function first_break(buf, pos)
    local inside = false
    while true do
        local j = buf:find('[\r\n"]', pos)
        if not j then return nil end
        if buf:byte(j) == 34 then
            inside = not inside
        elseif not inside then
            return j
        end
        pos = j + 1
    end
end

local Reader = {}
Reader.__index = Reader

-- src: a file handle, a function returning the next chunk (nil at the end), or a string.
-- opts.max_record: bytes (default M.MAX_RECORD); opts.delimiter: one of M.DELIMITERS (default
-- ",") or "auto" to detect it from the first line (reader.delimiter tells which, once read).
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
    opts = opts or {}
    local self = setmetatable({
        read = read, buf = "", pos = 1, eof = false, line = 1, started = false,
        quote = 0, lf = 0, cr = 0, -- next " / LF / CR at or after pos (false: none buffered)
        max_record = opts.max_record or M.MAX_RECORD,
    }, Reader)
    if opts.delimiter ~= "auto" then self.delimiter = opts.delimiter or "," end
    return self
end

function Reader:set_delimiter(d)
    self.delimiter, self.db = d, d:byte()
    self.pat = "[" .. (d:find("%p") and "%" or "") .. d .. (self.lone and "\r\n]" or "\n]")
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
    self.quote, self.lf, self.cr = 0, 0, 0 -- stale: found again from the new buffer
    return true
end

-- Reads the first line (up to max_record bytes), drops a UTF-8 BOM, detects the delimiter when
-- asked to, and the line ends: when the first line ends in a lone CR (old Mac exports) every
-- lone CR ends a record; otherwise only LF and CRLF do and a lone CR is data, which keeps the
-- common files on the fast path that never looks for CRs.
function Reader:prime()
    self.started = true
    while #self.buf < 3 and self:fill() do end
    if self.buf:sub(1, 3) == BOM then self.pos = 4 end
    local i
    repeat
        i = first_break(self.buf, self.pos)
    until (i and i < #self.buf) or #self.buf >= self.max_record or not self:fill()
    self.lone = i ~= nil and self.buf:byte(i) == 13 and self.buf:byte(i + 1) ~= 10
    self:set_delimiter(self.delimiter or M.detect_delimiter(self.buf:match("^[^\r\n]*", self.pos)))
end

-- Consumes one physical line from pos (a malformed record's first line). Returns its text
-- without the line end, or nil when it was longer than max_record (skipped unread).
function Reader:take_line()
    local long = false
    while true do
        local buf, pos = self.buf, self.pos
        local i = buf:find(self.lone and "[\r\n]" or "\n", pos)
        if i then
            local after = after_break(buf, i, self.eof, true)
            if after ~= NEED_MORE then
                self.pos, self.line = after, self.line + 1
                if long then return nil end
                local last = i - 1
                if buf:byte(last) == 13 and last >= pos then last = last - 1 end
                return buf:sub(pos, last)
            end
        elseif self.eof then
            self.pos = #buf + 1
            if long then return nil end
            return buf:sub(pos)
        elseif #buf - pos + 1 > self.max_record then
            long = true -- drop the line chunk by chunk
            self.buf, self.pos = "", 1
        end
        self:fill()
    end
end

-- The fast path: a complete line at pos with no quote in it. Returns fields or nil.
function Reader:plain_record(buf, pos, line)
    local find = buf.find
    local q, lf = self.quote, self.lf
    if q and q < pos then
        q = find(buf, '"', pos, true) or false
        self.quote = q
    end
    if lf and lf < pos then
        lf = find(buf, "\n", pos, true) or false
        self.lf = lf
    end
    local stop, after
    if not self.lone then
        if not lf then return nil end
        stop, after = buf:byte(lf - 1) == 13 and lf - 2 or lf - 1, lf + 1
    else
        local cr = self.cr
        if cr and cr < pos then
            cr = find(buf, "\r", pos, true) or false
            self.cr = cr
        end
        if lf and (not cr or cr >= lf - 1) then
            stop, after = (cr == lf - 1) and lf - 2 or lf - 1, lf + 1
        elseif cr and cr < #buf then -- a lone CR (an LF would be right after it)
            stop, after = cr - 1, cr + 1
        else
            return nil
        end
    end
    if stop < pos or (q and q <= stop) then return nil end
    self.pos, self.line = after, line + 1
    return plain_line(buf, pos, stop, self.delimiter)
end

-- Why the record at pos outgrew max_record. Only an open quote makes a record span lines, so
-- one with a line break is an unclosed quote; one without is a single line that long: without
-- quotes, the field being read when the limit was hit is named.
function Reader:too_long()
    local pending = self.buf:sub(self.pos, self.pos + self.max_record)
    if pending:find("[\r\n]") then
        return ("record longer than %d bytes (unclosed quote?); skipped to the next line"):format(self.max_record)
    end
    if not pending:find('"', 1, true) then
        local _, delimiters = pending:gsub((self.delimiter:gsub("%p", "%%%0")), "")
        return ("field %d is longer than %d bytes, the limit for one record; skipped to the next line")
            :format(delimiters + 1, self.max_record)
    end
    return ("line longer than %d bytes, the limit for one record; skipped to the next line"):format(self.max_record)
end

-- Returns fields (array of strings; empty for a blank line), the line where the record starts;
-- or nil, message, line, raw first line (nil if over-long) for a malformed record (reading goes
-- on at the next line); or nil at the end.
function Reader:next()
    if not self.started then self:prime() end
    while true do
        if self.pos > #self.buf then
            if self.eof or not self:fill() then return nil end
        end
        local line, buf, pos = self.line, self.buf, self.pos
        local fields = self:plain_record(buf, pos, line)
        if fields then return fields, line end
        local a, b, c = parse_record(buf, pos, self.eof, self.db, self.pat, self.lone)
        if a == NEED_MORE then
            if #self.buf - self.pos + 1 > self.max_record then
                return nil, self:too_long(), line, self:take_line()
            end
            self:fill()
        elseif a == false then
            return nil, b, line, self:take_line()
        else
            self.pos, self.line = b, line + c
            return a, line
        end
    end
end

-- Iterator form: for fields, line, err, raw in csv.records(src) do ... end. fields is false
-- when err is set.
function M.records(src, opts)
    local r = M.reader(src, opts)
    return function()
        local fields, a, b, raw = r:next()
        if fields then return fields, a, nil end
        if a then return false, b, a, raw end
        return nil
    end
end

-- Splits one raw line on the delimiter, quotes and all (for showing a line that did not parse).
function M.split_raw(raw, d)
    local out, p = {}, 1
    while true do
        local c = raw:find(d, p, true)
        if not c then
            out[#out + 1] = raw:sub(p)
            return out
        end
        out[#out + 1] = raw:sub(p, c - 1)
        p = c + 1
    end
end

-- A field is quoted when it holds a quote, a line break or the delimiter (and, whatever the
-- delimiter, a comma, so that a file stays readable when its delimiter is guessed).
local QUOTE_WHEN = { [","] = '[,"\r\n]', [";"] = '[,;"\r\n]', ["\t"] = '[,\t"\r\n]', ["|"] = '[,|"\r\n]' }

-- One field as CSV text: quoted only when needed. d: the delimiter (default ",").
function M.quote(s, d)
    s = tostring(s == nil and "" or s)
    if s:find(QUOTE_WHEN[d or ","]) then return '"' .. s:gsub('"', '""') .. '"' end
    return s
end

-- One record as a CSV line ending in "\n" (no CR), fields separated by d (default ","). A
-- record of one empty field is written as "" so that it does not read back as a blank line.
function M.format_row(fields, d)
    d = d or ","
    local n = #fields
    if n == 1 and (fields[1] == nil or fields[1] == "") then return '""\n' end
    local out = {}
    for i = 1, n do out[i] = M.quote(fields[i], d) end
    return table.concat(out, d) .. "\n"
end

-- OWASP CSV injection: a cell that starts with = + - @ tab or CR is a formula to a spreadsheet.
-- neutralise() prefixes such a cell with one apostrophe (and a cell that is apostrophes then
-- one of those characters with one more), so the spreadsheet shows text; unneutralise() strips
-- exactly that one apostrophe, so a file written with neutralise() reads back the original.
local TRIGGER = "^'*[=+%-@\t\r]"

function M.neutralise(s)
    if s:find(TRIGGER) then return "'" .. s end
    return s
end

function M.unneutralise(s)
    if s:byte(1) == 39 and s:find(TRIGGER, 2) then return s:sub(2) end
    return s
end

return M
