-- Input encodings other than UTF-8, transcoded to UTF-8 chunk by chunk (streaming, bounded),
-- and the choice of decoder for an input (byte-order mark, --encoding).
--
-- Debian's Lua iconv binding (lua-iconv) is built for Lua 5.1-5.3 only, and this CLI runs on
-- 5.4 by default, so the few encodings spreadsheets write are decoded here: Windows-1252 and
-- ISO-8859-1 (a byte table) and UTF-16 with a byte-order mark (Excel's "Unicode Text").
local printable = require("cxone.bulk.text").printable

local M = {}

local BOM = "\239\187\191"

-- Windows-1252 bytes 0x80-0x9F. The five bytes Windows leaves undefined map to the C1 control
-- of the same value, which the input checks then refuse as a control character.
local CP1252 = {
    [0x80] = 0x20AC, [0x82] = 0x201A, [0x83] = 0x0192, [0x84] = 0x201E, [0x85] = 0x2026,
    [0x86] = 0x2020, [0x87] = 0x2021, [0x88] = 0x02C6, [0x89] = 0x2030, [0x8A] = 0x0160,
    [0x8B] = 0x2039, [0x8C] = 0x0152, [0x8E] = 0x017D, [0x91] = 0x2018, [0x92] = 0x2019,
    [0x93] = 0x201C, [0x94] = 0x201D, [0x95] = 0x2022, [0x96] = 0x2013, [0x97] = 0x2014,
    [0x98] = 0x02DC, [0x99] = 0x2122, [0x9A] = 0x0161, [0x9B] = 0x203A, [0x9C] = 0x0153,
    [0x9E] = 0x017E, [0x9F] = 0x0178,
}

-- The UTF-8 bytes of code point cp (0 <= cp <= 0x10FFFF, not a surrogate).
local function utf8_char(cp)
    local floor, char = math.floor, string.char
    if cp < 0x80 then return char(cp) end
    if cp < 0x800 then return char(0xC0 + floor(cp / 64), 0x80 + cp % 64) end
    if cp < 0x10000 then
        return char(0xE0 + floor(cp / 4096), 0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
    end
    return char(0xF0 + floor(cp / 262144), 0x80 + floor(cp / 4096) % 64,
        0x80 + floor(cp / 64) % 64, 0x80 + cp % 64)
end
M.utf8_char = utf8_char

local function byte_table(extra)
    local t = {}
    for b = 0x80, 0xFF do t[string.char(b)] = utf8_char(extra and extra[b] or b) end
    return t
end

-- A single-byte decoder: every chunk stands alone, so no state is kept.
local function single_byte(map)
    return function(chunk)
        if chunk == nil then return nil end
        return (chunk:gsub("[\128-\255]", map))
    end
end

-- Replacement for a UTF-16 unit that cannot be decoded (a lone surrogate, an odd last byte):
-- 0xFF is never valid UTF-8, so the row that holds it is refused as not UTF-8.
local INVALID = "\255"

-- UTF-16 text (whole units) to UTF-8, surrogate pairs joined, anything undecodable INVALID.
-- unit(s, i): the 16-bit unit at byte i in the input's byte order.
local function utf16_pairs(s, unit)
    local out, i, n = {}, 1, #s
    while i < n do
        local u = unit(s, i)
        if u >= 0xD800 and u <= 0xDBFF and i + 3 <= n then
            local lo = unit(s, i + 2)
            if lo >= 0xDC00 and lo <= 0xDFFF then
                out[#out + 1] = utf8_char(0x10000 + (u - 0xD800) * 1024 + (lo - 0xDC00))
                i = i + 4
            else
                out[#out + 1], i = INVALID, i + 2
            end
        elseif u >= 0xD800 and u <= 0xDFFF then
            out[#out + 1], i = INVALID, i + 2
        else
            out[#out + 1], i = utf8_char(u), i + 2
        end
    end
    return table.concat(out)
end

-- UTF-16 decoder (input after the byte-order mark). Returns f(chunk) -> UTF-8 text, and f(nil)
-- at the end -> what was left (a unit split across chunks), or nil.
local function utf16(little)
    local function unit(s, i)
        local a, b = s:byte(i, i + 1)
        if little then return a + b * 256 end
        return a * 256 + b
    end
    -- Plain units (not surrogates), decoded once each.
    local cache = setmetatable({}, { __index = function(t, k)
        local u = unit(k, 1)
        local v = false -- a surrogate: decoded in pairs by slow()
        if u < 0xD800 or u > 0xDFFF then v = utf8_char(u) end
        t[k] = v
        return v
    end })
    local has_surrogate
    local function fast(k)
        local v = cache[k]
        if v == false then has_surrogate = true return "" end
        return v
    end
    local function slow(s) return utf16_pairs(s, unit) end
    local carry = ""
    return function(chunk)
        if chunk == nil then
            if carry == "" then return nil end
            local rest = #carry % 2 == 1 and INVALID or slow(carry)
            carry = ""
            return rest
        end
        local data = carry .. chunk
        local usable = #data - #data % 2
        if usable >= 2 then
            local last = unit(data, usable - 1)
            if last >= 0xD800 and last <= 0xDBFF then usable = usable - 2 end -- pair may be split
        end
        carry = data:sub(usable + 1)
        local body = data:sub(1, usable)
        has_surrogate = false
        local text = body:gsub("..", fast)
        if has_surrogate then text = slow(body) end
        return text
    end
end

M.NAMES = { ["utf-8"] = true, utf8 = true, cp1252 = true, ["windows-1252"] = true,
    latin1 = true, ["iso-8859-1"] = true }

-- A decoder for `name` (one of M.NAMES, or "utf-16le"/"utf-16be" from a byte-order mark):
-- f(chunk) -> UTF-8 text, f(nil) -> the rest at the end of input (or nil). nil for UTF-8,
-- which needs no decoding.
function M.decoder(name)
    name = name:lower()
    if name == "cp1252" or name == "windows-1252" then return single_byte(byte_table(CP1252)) end
    if name == "latin1" or name == "iso-8859-1" then return single_byte(byte_table(nil)) end
    if name == "utf-16le" then return utf16(true) end
    if name == "utf-16be" then return utf16(false) end
    return nil
end

-- How to decode an input: picks it from its first bytes and opts.encoding. A byte-order mark
-- wins over --encoding (it cannot be wrong). Returns a plan {decode = decoder (nil: UTF-8 as it
-- is), skip = BOM bytes to drop, note = a warning to give once the header is known (a failed
-- file carries a UTF-8 BOM on purpose), watch = a check of raw chunks (--encoding cp1252 on
-- UTF-8), converted = true when the text was not plain UTF-8}; or nil, message.
function M.plan(head, name, warn)
    if name ~= nil and not M.NAMES[tostring(name):lower()] then
        return nil, ("--encoding must be utf-8, cp1252 or latin1 (got %s)"):format(printable(name))
    end
    local wanted = name and name:lower() or "utf-8"
    local given = wanted ~= "utf-8" and wanted ~= "utf8"
    local b1, b2 = head:byte(1, 2)
    if (b1 == 0xFF and b2 == 0xFE) or (b1 == 0xFE and b2 == 0xFF) then
        local which = b1 == 0xFF and "utf-16le" or "utf-16be"
        if given then warn(("the input starts with a %s byte-order mark: read as %s, not %s"):format(
            which:upper(), which:upper(), wanted)) end
        return { decode = M.decoder(which), skip = 2, converted = true }
    end
    if head:sub(1, 3) == BOM then
        local note = given and ("the input starts with a UTF-8 byte-order mark: read as UTF-8, not %s"):format(wanted)
        return { skip = 3, note = note or nil, converted = true }
    end
    if head:find("^[^%z]%z[^%z]%z") or head:find("^%z[^%z]%z[^%z]") then
        return nil, 'the input looks like UTF-16 without a byte-order mark (NUL bytes): save it as "CSV UTF-8"'
    end
    local decode = M.decoder(wanted)
    return { decode = decode, skip = 0, converted = decode ~= nil,
             watch = decode and require("cxone.bulk.damage").mojibake_watch(wanted, decode, warn) }
end

-- The decoded chunk source over fh (chunk_size bytes a read): raw bytes go to tee (if any)
-- exactly as read; the BOM is dropped and the rest decoded to UTF-8. Returns read() -> text or
-- nil at the end.
function M.source(fh, head, plan, tee, chunk_size)
    local pending, started, done = head, false, false
    local skip, decode, watch = plan.skip, plan.decode, plan.watch
    return function()
        if done then return nil end
        local c
        if pending then
            c, pending = pending, nil
        else
            c = fh:read(chunk_size)
        end
        if c and tee then tee:write(c) end
        if c and not started then
            started = true
            c = c:sub(skip + 1)
        end
        if watch then watch(c) end
        if not decode then return c end
        if c == nil then
            done = true
            return decode(nil)
        end
        return decode(c)
    end
end

return M
