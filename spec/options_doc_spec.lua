-- The option table (lua/cxone/bulk/options.lua) is the one declaration of every engine option;
-- docs/api.md's options table and docs/cli.md's Options table are checked against it here
-- (names, defaults, ranges), the way luv's CI fails when docs/docs.md drifts from docs/docs.lua.
local options = require "cxone.bulk.options"
local args = require "cxone.bulk.args"
local U = require "spec.helpers.util"

-- The cells of one markdown table row ("| a | b \| c |" -> {"a", "b | c"}), or nil.
local function cells(line)
  if not line:match("^|") then return nil end
  local body = line:gsub("\\|", "\1"):match("^|(.*)|%s*$")
  if not body then return nil end
  local out = {}
  for cell in (body .. "|"):gmatch("([^|]*)|") do
    out[#out + 1] = (cell:gsub("\1", "|"):match("^%s*(.-)%s*$"))
  end
  return out
end

-- The rows of the first table under the heading `heading` (data rows only), each with its line.
local function table_under(text, heading)
  local rows, in_section, line_no, started = {}, false, 0, false
  for line in (text .. "\n"):gmatch("([^\n]*)\n") do
    line_no = line_no + 1
    if line:match("^#+ ") then
      if in_section and started then break end
      in_section = line:match("^#+ (.-)%s*$") == heading
    elseif in_section then
      local c = cells(line)
      if c then
        started = true
        if not c[1]:match("^%-+$") and not c[1]:match("^:?%-%-") then
          rows[#rows + 1] = { cells = c, line = line_no }
        end
      elseif started then
        break
      end
    end
  end
  table.remove(rows, 1) -- the header row
  return rows
end

local function num(v) return string.format("%.14g", v) end

-- How a default is written in docs/api.md: `10`, `false`, `"contact:read contact:update"`.
local function api_default(d)
  local v = d.default
  if type(v) == "string" then return "`" .. string.format("%q", v) .. "`" end
  if type(v) == "number" then return "`" .. num(v) .. "`" end
  return "`" .. tostring(v) .. "`"
end

-- How a default is written in docs/cli.md: 10, contact:read contact:update, off, empty.
local function cli_default(d)
  local v = d.default
  if type(v) == "boolean" then return v and "on" or "off" end
  if v == "" then return "empty" end
  if type(v) == "number" then return num(v) end
  return "`" .. v .. "`"
end

local function range_cell(d)
  local r = options.describe_range(d)
  return r == "" and "–" or ("`" .. r .. "`")
end

-- A cell that reads as a literal value (a number, true/false, a quoted string) states a default.
local function is_literal(cell)
  local inner = cell:match("^`(.*)`$") or cell
  return inner:match("^%-?[%d.]+$") or inner == "true" or inner == "false" or inner:match('^".*"$')
end

describe("docs/api.md's options table", function()
  local path = "docs/api.md"
  local rows = table_under(U.read_file(path), "opts")
  local by_name = {}
  for _, r in ipairs(rows) do
    local name = r.cells[1]:match("^`([%w_]+)[%(`]")
    assert(name, ("%s:%d: the first cell names no option: %s"):format(path, r.line, r.cells[1]))
    by_name[name] = r
  end

  it("has the columns option | default | range | meaning", function()
    assert.is_true(#rows > 0, path .. ": no table under '### opts'")
    for _, r in ipairs(rows) do
      assert.are.equal(4, #r.cells, ("%s:%d: expected 4 cells"):format(path, r.line))
    end
  end)

  it("has one row per declared option and no other", function()
    for _, d in ipairs(options.LIST) do
      assert.is_truthy(by_name[d.name], path .. ": no row for option '" .. d.name .. "'")
    end
    for name, r in pairs(by_name) do
      assert.is_truthy(options.BY_NAME[name],
        ("%s:%d: option '%s' is not in lua/cxone/bulk/options.lua"):format(path, r.line, name))
    end
  end)

  it("gives every option its declared default (or environment variable)", function()
    for _, d in ipairs(options.LIST) do
      local r = assert(by_name[d.name], path .. ": no row for option '" .. d.name .. "'")
      local cell, where = r.cells[2], ("%s:%d (%s)"):format(path, r.line, d.name)
      if d.env then
        assert.is_truthy(cell:find("`$" .. d.env .. "`", 1, true), where .. ": default must name $" .. d.env)
      end
      if d.default ~= nil then
        assert.are.equal(api_default(d), cell, where)
      elseif d.derive then
        assert.are.equal(d.default_doc, cell, where .. ": a derived default reads as its default_doc")
      elseif not d.env then
        assert.is_falsy(is_literal(cell), where .. ": states a default the table does not have: " .. cell)
      end
    end
  end)

  it("gives every option its declared range", function()
    for _, d in ipairs(options.LIST) do
      local r = assert(by_name[d.name], path .. ": no row for option '" .. d.name .. "'")
      assert.are.equal(range_cell(d), r.cells[3], ("%s:%d (%s)"):format(path, r.line, d.name))
    end
  end)
end)

describe("docs/cli.md's Options table", function()
  local path = "docs/cli.md"
  local rows = table_under(U.read_file(path), "Options")
  local by_flag = {}
  for _, r in ipairs(rows) do
    for flag in r.cells[1]:gmatch("%-%-([%w-]+)") do by_flag[flag] = r end
  end

  it("has the columns option | meaning | range | default", function()
    assert.is_true(#rows > 0, path .. ": no table under '## Options'")
    for _, r in ipairs(rows) do
      assert.are.equal(4, #r.cells, ("%s:%d: expected 4 cells"):format(path, r.line))
    end
  end)

  it("lists every flag the parser knows and no other", function()
    for _, o in ipairs(args.OPTIONS) do
      assert.is_truthy(by_flag[o.name], path .. ": no row for --" .. o.name)
    end
    local known = {}
    for _, o in ipairs(args.OPTIONS) do known[o.name] = true end
    for flag, r in pairs(by_flag) do
      assert.is_truthy(known[flag], ("%s:%d: --%s is not a flag of cxone-bulk"):format(path, r.line, flag))
    end
  end)

  it("gives every engine flag its own row with the declared range and default", function()
    for _, d in ipairs(options.LIST) do
      if d.flag then
        local r = assert(by_flag[d.flag], path .. ": no row for --" .. d.flag)
        local where = ("%s:%d (--%s)"):format(path, r.line, d.flag)
        local _, n = r.cells[1]:gsub("%-%-[%w-]+", "")
        assert.are.equal(1, n, where .. ": an engine flag needs a row of its own")
        assert.are.equal(range_cell(d), r.cells[3], where)
        if d.default ~= nil then
          assert.are.equal(cli_default(d), r.cells[4], where)
        elseif d.env then
          assert.is_truthy(r.cells[4]:find("`$" .. d.env .. "`", 1, true), where .. ": default must name $" .. d.env)
        else
          assert.is_falsy(is_literal(r.cells[4]), where .. ": states a default the table does not have")
        end
      end
    end
  end)
end)
