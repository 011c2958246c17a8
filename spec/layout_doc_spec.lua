-- The README's layout section is the tree (issue 23): every source file of src/<part>/ is named
-- on its part's lines, every module of lua/cxone/bulk/ on the lua/ lines, and every part named
-- there exists. A file added, moved or removed without the README fails here.
local U = require "spec.helpers.util"

-- The fenced block of README.md that starts with "src/", as lines.
local function layout_lines()
  local text = assert(U.read_file("README.md"))
  local block = text:match("```\n(src/.-)```")
  assert(block, "README.md has no layout block starting with src/")
  local lines = {}
  for line in block:gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

-- The text of the layout lines that belong to `head` (a line starting with it, and the indented
-- lines after it up to the next line that starts another entry at the same indentation).
local function section(lines, head)
  local out, inside, indent = {}, false, nil
  for _, line in ipairs(lines) do
    local lead, word = line:match("^(%s*)(%S+)")
    if word == head then
      inside, indent = true, #lead
    elseif inside and word and #lead <= indent then
      inside = false
    end
    if inside then out[#out + 1] = line end
  end
  return table.concat(out, "\n")
end

local function files(dir, pattern)
  local list, p = {}, assert(io.popen("ls " .. dir))
  for name in p:lines() do
    if name:match(pattern) then list[#list + 1] = name end
  end
  p:close()
  return list
end

describe("README.md's layout", function()
  local lines = layout_lines()

  it("names every file of every src/ part on that part's lines, and every part exists", function()
    local parts = files("src", "^%l+$")
    assert.is_true(#parts >= 5, "src/ parts: " .. #parts)
    for _, part in ipairs(parts) do
      local text = section(lines, part .. "/")
      assert.is_true(text ~= "", "README.md's layout does not name src/" .. part .. "/")
      for _, f in ipairs(files("src/" .. part, "%.[ch]$")) do
        local stem = f:gsub("%.[ch]$", "")
        local named = text:find(stem, 1, true) or (f:match("%.h$") and text:find(f, 1, true))
        assert.truthy(named, "src/" .. part .. "/" .. f .. " is not on the README's " .. part .. "/ lines")
      end
      for _, f in ipairs(files("src/" .. part, "%.lua$")) do
        assert.truthy(text:find(f, 1, true), "src/" .. part .. "/" .. f .. " is not on the README's lines")
      end
    end
    for _, line in ipairs(lines) do
      local part = line:match("^%s%s(%l+)/%s")
      if part then assert.truthy(U.exists("src/" .. part), "README.md names src/" .. part .. "/, which is gone") end
    end
  end)

  it("names every module of lua/cxone/bulk/ on the lua/ lines, and nothing that is gone", function()
    local text = section(lines, "lua/")
    for _, f in ipairs(files("lua/cxone/bulk", "%.lua$")) do
      local stem = f:gsub("%.lua$", "")
      assert.truthy(text:find("%f[%w_]" .. stem .. "%f[^%w_]"), "lua/cxone/bulk/" .. f .. " is not on the README's lua/ lines")
    end
  end)
end)
