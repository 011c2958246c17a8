--- The CXone outcome hierarchy: validation with suggestions, and outcome-code mapping.
local cjson = require "cjson.safe"
local profiles = require "cxone.bulk.profiles"

local M = {}
local fmt = string.format

--- Levenshtein distance (two rows; names are short).
local function distance(a, b)
  local la, lb = #a, #b
  if la == 0 then return lb end
  if lb == 0 then return la end
  local prev, cur = {}, {}
  for j = 0, lb do prev[j] = j end
  for i = 1, la do
    cur[0] = i
    local ca = a:byte(i)
    for j = 1, lb do
      local cost = (ca == b:byte(j)) and 0 or 1
      local v = prev[j] + 1
      if cur[j - 1] + 1 < v then v = cur[j - 1] + 1 end
      if prev[j - 1] + cost < v then v = prev[j - 1] + cost end
      cur[j] = v
    end
    prev, cur = cur, prev
  end
  return prev[lb]
end
M.distance = distance

--- The closest of `names` to `want`: a case-insensitive match first, then the smallest edit
-- distance within a third of the length (at least 2). Returns the name or nil.
local function closest(names, want)
  local lw = want:lower()
  for _, n in ipairs(names) do
    if n:lower() == lw then return n end
  end
  local best, best_d = nil, math.max(2, math.floor(#want / 3)) + 1
  for _, n in ipairs(names) do
    local d = distance(n:lower(), lw)
    if d < best_d then best, best_d = n, d end
  end
  return best
end
M.closest = closest

--- Builds a hierarchy from the decoded GET /api/v2/contact/outcomes answer.
-- Returns the tree or nil, message.
function M.from_json(text)
  local doc, err = cjson.decode(text)
  if type(doc) ~= "table" then return nil, "outcome hierarchy is not valid JSON: " .. tostring(err) end
  if type(doc.categories) ~= "table" then return nil, "outcome hierarchy has no 'categories' array" end
  local tree = { names = {}, subs = {} }
  for i, c in ipairs(doc.categories) do
    if type(c) ~= "table" or type(c.name) ~= "string" then
      return nil, fmt("outcome hierarchy: category %d has no name", i)
    end
    local subs = {}
    for _, s in ipairs(type(c.subcategories) == "table" and c.subcategories or {}) do
      if type(s) == "table" and type(s.name) == "string" then subs[#subs + 1] = s.name end
    end
    tree.names[#tree.names + 1] = c.name
    tree.subs[c.name] = subs
  end
  return tree
end

--- nil when category/subcategory are in the tree, else a message with the closest valid values.
function M.check(tree, category, subcategory)
  local subs = tree.subs[category]
  if subs then
    for _, s in ipairs(subs) do if s == subcategory then return nil end end
  end
  local cat = subs and category or closest(tree.names, category)
  local msg = fmt("outcome %q / %q is not in the CXone outcome hierarchy", category, subcategory)
  if not cat then
    return msg .. fmt("; no category like %q (categories: %s)", category, table.concat(tree.names, ", "))
  end
  local sub = closest(tree.subs[cat], subcategory)
  if sub then return msg .. fmt('; did you mean "%s / %s"?', cat, sub) end
  return msg .. fmt('; subcategories of "%s": %s', cat, table.concat(tree.subs[cat], ", "))
end

--- Reads an outcome map file: a JSON object {"CODE": {"category": .., "subcategory": ..}} or a
-- CSV with a header naming code (or outcome_code), category and subcategory columns.
-- Returns the map or nil, message (naming the line or the code).
function M.load_map(path)
  local fh, err = io.open(path, "rb")
  if not fh then return nil, "cannot open outcome map: " .. tostring(err) end
  local text = fh:read("*a") or ""
  fh:close()
  local map = {}
  if text:match("^%s*{") then
    local doc, derr = cjson.decode(text)
    if type(doc) ~= "table" then return nil, path .. ": invalid JSON: " .. tostring(derr) end
    for code, v in pairs(doc) do
      if type(v) ~= "table" then return nil, fmt("%s: outcome map entry %q must be an object", path, tostring(code)) end
      map[code] = { category = v.category, subcategory = v.subcategory }
    end
  else
    local csv = require "cxone.bulk.csv"
    local col
    for fields, line, rerr in csv.records(text) do
      if not fields then return nil, fmt("%s: line %d: %s", path, line, rerr) end
      if not col then
        col = {}
        for i, h in ipairs(fields) do col[h:lower():match("^%s*(.-)%s*$")] = i end
        col.code = col.code or col.outcome_code
        if not (col.code and col.category and col.subcategory) then
          return nil, path .. ": outcome map CSV needs code, category and subcategory columns"
        end
      elseif #fields > 0 then
        local code = fields[col.code]
        if not code or code == "" then return nil, fmt("%s: line %d: empty code", path, line) end
        if map[code] then return nil, fmt("%s: line %d: code %q given twice", path, line, code) end
        map[code] = { category = fields[col.category], subcategory = fields[col.subcategory] }
      end
    end
    if not col then return nil, path .. ": outcome map is empty" end
  end
  local merr = profiles.check_map(profiles.BY_NAME.tutorial, map) -- (a file's map has the tutorial's shape)
  if merr then return nil, path .. ": " .. merr end
  return map
end

return M
