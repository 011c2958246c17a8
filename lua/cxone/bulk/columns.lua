-- The columns of a CSV input: which task field each header cell feeds, per API profile.
--
-- Header names are matched as people type them (case, white space, '_' and '-' do not matter:
-- "Contact ID", "ContactId", "contact-id" and "contact_id" are one name); `--column FIELD=NAME`
-- maps any other name to any field of the active profile. The failed file's own columns
-- (cxone.bulk.failed_file) are recognised and are never data. When a required field has no
-- column, the message lists the header cells found and the `--column` that would map the
-- closest one.
local failed_file = require "cxone.bulk.failed_file"
local distance = require("cxone.bulk.outcomes").distance
local printable = require("cxone.bulk.text").printable
local profiles = require "cxone.bulk.profiles"

local M = {}


local function normalize(name)
    return (name:lower():gsub("[%s_%-]", ""))
end
M.normalize = normalize

-- normalized name -> field, per profile name (built at a profile's first use: a profile added
-- after this module loaded has its columns too).
local ALIASES = {}
local function aliases(profile)
    local t = ALIASES[profile]
    if not t then
        t = {}
        for _, f in ipairs(profiles.get(profile).columns) do t[normalize(f)] = f end
        ALIASES[profile] = t
    end
    return t
end

-- The field a header name feeds in `profile` (a profile's name) without --column, or nil.
function M.field_of(name, profile)
    return aliases(profile)[normalize(name)]
end

-- The profile (other than `profile`) that has a field named like `name`, or nil.
local function other_profile(name, profile)
    for _, p in ipairs(profiles.NAMES) do
        if p ~= profile and aliases(p)[normalize(name)] then return p end
    end
    return nil
end

-- --column FIELD=NAME overrides: field -> {norm=, shown=}; or nil, message. columns: an array of
-- "FIELD=NAME" as given on the command line, or a table {field = name}.
function M.overrides(columns, profile)
    local map = {}
    if columns == nil then return map end
    if type(columns) == "string" then columns = { columns } end
    for k, v in pairs(columns) do
        local field, name, shown
        if type(k) == "number" then
            shown = tostring(v)
            field, name = shown:match("^%s*([^=]-)%s*=(.*)$")
            if not field then return nil, ("--column must be FIELD=NAME (got %s)"):format(printable(shown)) end
        else
            field, name, shown = k, tostring(v), k .. "=" .. tostring(v)
        end
        name = name:match("^%s*(.-)%s*$"):gsub('^"(.*)"$', "%1")
        local canon = M.field_of(field, profile)
        if not canon then
            local other = other_profile(field, profile)
            return nil, ("--column %s: unknown field %s (the fields of --api %s: %s)%s"):format(printable(shown),
                printable(field), profile, table.concat(profiles.get(profile).columns, ", "),
                other and ("; %s is a field of --api %s"):format(printable(field), other) or "")
        end
        if name == "" then return nil, ("--column %s: no column name after '='"):format(printable(shown)) end
        if map[canon] then return nil, ("--column: %s is named twice"):format(canon) end
        map[canon] = { norm = normalize(name), shown = shown }
    end
    return map
end

-- The header cells as shown in messages: "Contact ID", "Outcome" (escaped, quoted).
local function shown_cells(header)
    local names = {}
    for i, h in ipairs(header) do names[i] = '"' .. printable(h) .. '"' end
    return table.concat(names, ", ")
end
M.shown_cells = shown_cells

-- Maps header cells to fields: --column names first, then the usual names. Returns a layout
-- {col = field -> index, error = index, state = index, unknown = names shown}, or nil, message.
function M.map_header(header, line, overrides, profile)
    local by_override = {}
    for field, o in pairs(overrides) do by_override[o.norm] = field end
    local layout = { col = {}, unknown = {} }
    local col = layout.col
    for i, raw in ipairs(header) do
        local norm = normalize(raw)
        local own = failed_file.own_column(raw)
        local field = by_override[norm]
        if not field and not own then
            field = aliases(profile)[norm]
            if field and overrides[field] then field = nil end -- --column named another column
        end
        if field then
            if col[field] then
                return nil, ("line %d: CSV header names column %q twice (%s and %s)"):format(line, field,
                    printable(("%q"):format(header[col[field]])), printable(("%q"):format(raw)))
            end
            col[field] = i
        elseif own then
            layout[own] = layout[own] or i
        else
            layout.unknown[#layout.unknown + 1] = printable(raw)
        end
    end
    for field, o in pairs(overrides) do
        if not col[field] then
            return nil, ("line %d: --column %s: the CSV header has no such column (got: %s)"):format(
                line, printable(o.shown), shown_cells(header))
        end
    end
    return layout
end

-- How well header cell `cell` (normalized) could be field `f`: class (lower is better) and
-- score, or nil. The cell holding the whole field name ("Outcome Category" for category) is
-- best, then a cell that is one word of it ("Disposition" for disposition_code), then a cell
-- holding a long word of it, then a small spelling distance.
local function fit(cell, field)
    local f = normalize(field)
    if cell == "" then return nil end
    if cell:find(f, 1, true) then return 0, #cell - #f end
    for part in field:gmatch("[^_]+") do
        if cell == part then return 1, #f - #cell end
    end
    for part in field:gmatch("[^_]+") do
        if #part >= 4 and cell:find(part, 1, true) then return 2, #cell - #part end
    end
    local d = distance(cell, f)
    if d <= math.max(2, math.floor(#f / 3)) then return 3, d end
    return nil
end

-- For each missing field, the header cell (not mapped to another field, not the failed file's
-- own) that fits it best; one cell goes to one field. Returns field -> cell text.
function M.suggest(header, layout, missing)
    local used, cands = {}, {}
    for _, i in pairs(layout.col) do used[i] = true end
    if layout.error then used[layout.error] = true end
    if layout.state then used[layout.state] = true end
    for order, field in ipairs(missing) do
        for i, raw in ipairs(header) do
            if not used[i] then
                local class, score = fit(normalize(raw), field)
                if class then cands[#cands + 1] = { field = field, i = i, class = class, score = score, order = order } end
            end
        end
    end
    table.sort(cands, function(a, b)
        if a.class ~= b.class then return a.class < b.class end
        if a.score ~= b.score then return a.score < b.score end
        if a.order ~= b.order then return a.order < b.order end
        return a.i < b.i
    end)
    local out = {}
    for _, c in ipairs(cands) do
        if not out[c.field] and not used[c.i] then
            out[c.field], used[c.i] = header[c.i], true
        end
    end
    return out
end

-- One --column argument as a shell word: field="Header" (single-quoted when the name holds a
-- character the shell would read inside double quotes).
local function column_arg(field, cell)
    local name = printable(cell)
    if name:find('["$`\\!]') then
        return "--column '" .. (field .. "=" .. name):gsub("'", "'\\''") .. "'"
    end
    return ("--column %s=\"%s\""):format(field, name)
end

-- "line 1: category and subcategory are required: ..." for a CSV header without columns for
-- the `missing` fields: the cells found, and the --column flags that would map the closest
-- ones. flags: the options that give a value for every row instead (e.g. {"--category"});
-- profile: named when it is not the default one.
function M.missing_message(header, line, layout, missing, flags, profile)
    local pick = M.suggest(header, layout, missing)
    local args = {}
    for i, field in ipairs(missing) do
        args[i] = pick[field] and column_arg(field, pick[field]) or ("--column %s=NAME"):format(field)
    end
    local names = #missing == 1 and missing[1]
        or table.concat(missing, ", ", 1, #missing - 1) .. " and " .. missing[#missing]
    local msg = ("line %d: %s %s required%s: the CSV header has no %s (found: %s); read %s with %s")
        :format(line, names, #missing == 1 and "is" or "are", profile and (" with --api " .. profile) or "",
            #missing == 1 and (names .. " column") or ("column for " .. names), shown_cells(header),
            #missing == 1 and "it" or "them", table.concat(args, " "))
    if flags and #flags > 0 then msg = msg .. ", or give " .. table.concat(flags, " and ") end
    return msg
end

return M
