-- Spreadsheet damage, named before anything is sent.
--
-- Two kinds are common and silent: a column of long ids formatted as numbers, which Excel shows
-- and exports as "6,00123E+11" (the digits past the sixth are gone: the id would only ever get a
-- 404, or address another contact); and a file saved as UTF-8 read with --encoding cp1252 (or
-- latin1), which turns every "é" into "Ã©" and sends it. The first refuses the row, the second
-- warns once.
local text = require "cxone.bulk.text"

local M = {}

-- Fields that hold numbers people type and spreadsheets round: the id, and a phone number.
M.NUMERIC_FIELDS = { "contact_id", "callback_number" }

-- True when v is a number in scientific notation as a spreadsheet writes it: "6,00123E+11",
-- "6.00123E+11", "6E+11" (either decimal mark; Excel writes the exponent with its sign).
function M.scientific(v)
    return type(v) == "string" and v:find("^%d+[.,]?%d*[Ee]%+%d+$") ~= nil
end

-- Why a task's fields show spreadsheet damage, or nil.
function M.check_task(task)
    for _, f in ipairs(M.NUMERIC_FIELDS) do
        local v = task[f]
        if M.scientific(v) then
            return ("%s %s is a number in scientific notation, rounded by a spreadsheet: the column was "
                .. "formatted as a number; format it as text and export again"):format(f, v)
        end
    end
    return nil
end

-- What the bytes of one chunk say about UTF-8: "utf8" when every byte above 0x7F is part of
-- well-formed UTF-8 and there is at least one such sequence; "other" when one is not (a
-- sequence cut by the end of the chunk is neither); nil when the chunk is plain ASCII.
function M.utf8_verdict(chunk)
    local i, seen = chunk:find("[\128-\255]"), false
    while i do
        local _, after = text.decode_at(chunk, i)
        if not after then
            if #chunk - i < 3 and chunk:find("^[\192-\244][\128-\191]*$", i) then break end
            return "other"
        end
        seen = true
        i = chunk:find("[\128-\255]", after)
    end
    return seen and "utf8" or nil
end

-- The word around the first byte above 0x7F (at most 24 bytes, without delimiters, quotes or
-- white space), cut only between UTF-8 sequences: a sample to show.
local SEPARATOR = '[%s,;|"]'
function M.sample(chunk)
    local i = chunk:find("[\128-\255]")
    if not i then return nil end
    local from, to = i, i
    while from > 1 and i - from < 12 and not chunk:sub(from - 1, from - 1):find(SEPARATOR) do from = from - 1 end
    while to < #chunk and to - from < 23 and not chunk:sub(to + 1, to + 1):find(SEPARATOR) do to = to + 1 end
    while from < i and chunk:byte(from) >= 0x80 and chunk:byte(from) < 0xC0 do from = from + 1 end
    local word = chunk:sub(from, to)
    while #word > 1 and text.utf8_problem(word) do word = word:sub(1, -2) end
    return word
end

-- A watcher for --encoding cp1252/latin1: look(chunk) on each raw chunk until it has decided;
-- warns once (through warn) when the input reads as valid UTF-8. decode: the single-byte decoder.
function M.mojibake_watch(name, decode, warn)
    local decided = false
    return function(chunk)
        if decided or not chunk then return end
        local verdict = M.utf8_verdict(chunk)
        if not verdict then return end
        decided = true
        if verdict ~= "utf8" then return end
        local word = M.sample(chunk)
        warn(("--encoding %s, but the input is valid UTF-8: \"%s\" is read as \"%s\". If the file was saved as "
            .. "\"CSV UTF-8\", leave --encoding out"):format(name, text.printable(word), text.printable(decode(word))))
    end
end

return M
