-- Bytes from an input file, made safe to show and checked for UTF-8.
--
-- printable(s) is what every message that echoes input bytes (header names, bad values) goes
-- through: a terminal must never receive an escape sequence, a NUL or a byte that is not UTF-8
-- from a file someone else wrote. utf8_problem(s) says why a value cannot be sent as JSON text.
local M = {}

-- Code points shown escaped even though they are valid UTF-8: C1 controls (U+009B is a CSI
-- escape on many terminals), line/paragraph separators and the bidi overrides and isolates
-- that reorder what a reader sees ("Trojan Source").
local function invisible(cp)
    return (cp >= 0x80 and cp <= 0x9F) or cp == 0x2028 or cp == 0x2029
        or (cp >= 0x202A and cp <= 0x202E) or (cp >= 0x2066 and cp <= 0x2069)
end

local NAMED = { [9] = "\\t", [10] = "\\n", [13] = "\\r", [0] = "\\0" }

-- Decodes the UTF-8 sequence at s[i]. Returns the code point and the index after it, or nil
-- when the bytes there are not well-formed UTF-8 (overlong forms, surrogates and code points
-- above U+10FFFF included).
local function decode_at(s, i)
    local c = s:byte(i)
    local n, cp, min
    if c < 0x80 then return c, i + 1 end
    if c >= 0xC2 and c <= 0xDF then
        n, cp, min = 1, c - 0xC0, 0x80
    elseif c >= 0xE0 and c <= 0xEF then
        n, cp, min = 2, c - 0xE0, 0x800
    elseif c >= 0xF0 and c <= 0xF4 then
        n, cp, min = 3, c - 0xF0, 0x10000
    else
        return nil
    end
    for k = 1, n do
        local b = s:byte(i + k)
        if not b or b < 0x80 or b > 0xBF then return nil end
        cp = cp * 64 + (b - 0x80)
    end
    if cp < min or cp > 0x10FFFF or (cp >= 0xD800 and cp <= 0xDFFF) then return nil end
    return cp, i + n + 1
end
M.decode_at = decode_at

-- s with control characters, invisible code points and bytes that are not UTF-8 written as
-- \t \n \r \0, \xNN (a byte) or \u{XXXX} (a code point). Plain text comes back unchanged, and
-- printable(printable(s)) == printable(s), so a message may pass through it more than once.
function M.printable(s)
    s = tostring(s)
    if not s:find("[%z\1-\31\127-\255]") then return s end
    local out, n, i, len = {}, 0, 1, #s
    while i <= len do
        local c = s:byte(i)
        local piece, nexti
        if c < 32 or c == 127 then
            piece, nexti = NAMED[c] or ("\\x%02X"):format(c), i + 1
        elseif c < 128 then
            local j = s:find("[%z\1-\31\127-\255]", i) or len + 1
            piece, nexti = s:sub(i, j - 1), j
        else
            local cp, after = decode_at(s, i)
            if not cp then
                piece, nexti = ("\\x%02X"):format(c), i + 1
            elseif invisible(cp) then
                piece, nexti = ("\\u{%04X}"):format(cp), after
            else
                piece, nexti = s:sub(i, after - 1), after
            end
        end
        n = n + 1
        out[n] = piece
        i = nexti
    end
    return table.concat(out)
end

-- nil when s is well-formed UTF-8 without C1 controls; otherwise a short reason naming the
-- first offending byte or code point.
function M.utf8_problem(s)
    local i = s:find("[\128-\255]")
    while i do
        local cp, after = decode_at(s, i)
        if not cp then return ("is not valid UTF-8 (byte 0x%02X)"):format(s:byte(i)) end
        if cp <= 0x9F then return ("contains control character U+%04X"):format(cp) end
        i = s:find("[\128-\255]", after)
    end
    return nil
end

-- s cut to at most max bytes between two words, ending in "...": never in the middle of a word
-- or of a UTF-8 sequence. A word longer than half of max is cut at a character boundary.
function M.shorten(s, max)
    s = tostring(s)
    if #s <= max then return s end
    local keep = max - 3
    local cut = s:sub(1, keep + 1):match("^.*()%s") -- the last space within the first keep+1 bytes
    if cut and cut - 1 >= keep / 2 then
        return (s:sub(1, cut - 1):gsub("[%s,;:]+$", "")) .. "..."
    end
    while keep > 0 and (s:byte(keep + 1) or 0) >= 0x80 and s:byte(keep + 1) < 0xC0 do keep = keep - 1 end
    return s:sub(1, keep) .. "..."
end

-- "a, b, c and 99,997 more": a list of names that stays one readable line however many there
-- are (the first `first`, then the count of the others).
function M.list(names, first)
    first = first or 5
    if #names <= first + 1 then return table.concat(names, ", ") end
    local shown = {}
    for i = 1, first do shown[i] = names[i] end
    local more = tostring(#names - first):reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
    return ("%s and %s more"):format(table.concat(shown, ", "), more)
end

return M
