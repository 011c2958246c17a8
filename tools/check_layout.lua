-- Small files, short functions, no include loops (STYLE: no file over 600 lines, no function over
-- 60; issue 23 §5-6). Run from the source root: `make check-size` (part of `make lint`).
--
--   lua5.4 tools/check_layout.lua [--allow FILE] DIR...
--
-- Every .c, .h and .lua file under the DIRs is read:
--   * a file over MAX_FILE lines is reported;
--   * a function over MAX_FUNC lines is reported, counted from the line its signature starts on
--     to its closing brace or `end`, both included. C: a top-level `{ ... }` block whose header
--     (the text since the previous top-level `;` or `}`) ends in `)` and holds no `=`, read with
--     comments, strings, character constants and preprocessor lines blanked. Lua: a line that
--     opens a `function` not closed on the same line runs to the next line of the same
--     indentation that starts with `end` (the code is indented as the style asks; long strings
--     and comments are skipped, so the JavaScript inside report_html.lua does not count);
--   * C includes: a file belongs to the unit of its name (job.c and job.h are unit job; a
--     private header X_impl.h or X_internal.h belongs to X). A unit depends on the units whose
--     headers any of its files includes ("engine/job.h" under src/, "job.h" in its own
--     directory); two units that reach each other are a loop and are reported;
--   * Lua requires: a module under lua/ depends on the modules it requires (anywhere in the file,
--     a lazy require too); two modules that reach each other are a loop and are reported.
-- Findings listed in the --allow file (one "path name size" per line, as printed; name is `file`
-- for the file's length, else the function's) are known
-- debts: they are printed as such and fail only when they grew. Exit 1 on any other finding.
local MAX_FILE, MAX_FUNC = 600, 60

local function read_lines(path)
  local f = assert(io.open(path, "rb"))
  local text = f:read("*a")
  f:close()
  local lines = {}
  for line in (text .. (text:sub(-1) == "\n" and "" or "\n")):gmatch("([^\n]*)\n") do
    lines[#lines + 1] = line
  end
  return lines
end

local function list_files(dirs)
  local files = {}
  for _, d in ipairs(dirs) do
    local p = assert(io.popen("find '" .. d .. "' -type f \\( -name '*.c' -o -name '*.h' -o -name '*.lua' \\) | sort"))
    for path in p:lines() do files[#files + 1] = path end
    p:close()
  end
  return files
end

-- ---- C -------------------------------------------------------------------------------------

-- The C text with comments, string and character literals and preprocessor lines blanked (line
-- breaks kept, so line numbers hold).
local function c_clean(lines)
  local out, state = {}, "code"
  local in_pp = false
  for i, line in ipairs(lines) do
    if state == "code" and (in_pp or line:match("^%s*#")) then
      in_pp = line:sub(-1) == "\\"
      out[i] = ""
    else
      local buf, j, n = {}, 1, #line
      while j <= n do
        local c, c2 = line:sub(j, j), line:sub(j, j + 1)
        if state == "block" then
          if c2 == "*/" then state, j = "code", j + 1 end
        elseif c2 == "//" then
          break
        elseif c2 == "/*" then
          state, j = "block", j + 1
        elseif c == '"' or c == "'" then
          local k = j + 1
          while k <= n and line:sub(k, k) ~= c do k = k + (line:sub(k, k) == "\\" and 2 or 1) end
          buf[#buf + 1] = c .. c
          j = k
        else
          buf[#buf + 1] = c
        end
        j = j + 1
      end
      out[i] = table.concat(buf)
    end
  end
  return out
end

-- Calls found(name, first_line, last_line) for every function definition.
local function c_functions(lines, found)
  local clean = c_clean(lines)
  local depth, header, start, name = 0, {}, nil, nil
  for i, line in ipairs(clean) do
    for j = 1, #line do
      local c = line:sub(j, j)
      if depth == 0 and c ~= "{" and c ~= "}" and c ~= ";" then
        if not start and c:match("%S") then start = i end
        header[#header + 1] = c
      end
      if c == "{" then
        if depth == 0 then
          local h = table.concat(header)
          name = (h:match("%)%s*$") and not h:find("=", 1, true)) and h:match("([%w_]+)%s*%b()%s*$") or nil
        end
        depth = depth + 1
      elseif c == "}" then
        depth = depth - 1
        if depth == 0 then
          if name then found(name, start, i) end
          header, start, name = {}, nil, nil
        end
      elseif c == ";" and depth == 0 then
        header, start = {}, nil
      end
    end
    if depth == 0 then header[#header + 1] = "\n" end
  end
end

-- Local headers a C file includes, as paths from the source root.
local function c_includes(path, lines)
  local dir, root = path:match("^(.*)/[^/]+$"), path:match("^([^/]+)/")
  local got = {}
  for _, line in ipairs(lines) do
    local inc = line:match('^%s*#%s*include%s+"([^"]+)"')
    if inc then
      local here = dir .. "/" .. inc
      local f = io.open(here, "r")
      if f then
        f:close()
        got[#got + 1] = here
      else
        got[#got + 1] = root .. "/" .. inc
      end
    end
  end
  return got
end

-- ---- Lua -----------------------------------------------------------------------------------

-- The Lua text with comments, short strings and long strings/comments blanked.
local function lua_clean(lines)
  local out, close = {}, nil
  for i, line in ipairs(lines) do
    local buf, j, n = {}, 1, #line
    while j <= n do
      if close then
        local e = line:find(close, j, true)
        if not e then j = n + 1 else j, close = e + #close, nil end
      else
        local c = line:sub(j, j)
        local eq = line:match("^%[(=*)%[", j) or line:match("^%-%-%[(=*)%[", j)
        if eq then
          close = "]" .. eq .. "]"
          j = j + (line:sub(j, j) == "-" and 4 or 2) + #eq
        elseif line:sub(j, j + 1) == "--" then
          break
        elseif c == '"' or c == "'" then
          local k = j + 1
          while k <= n and line:sub(k, k) ~= c do k = k + (line:sub(k, k) == "\\" and 2 or 1) end
          buf[#buf + 1] = c .. c
          j = k + 1
        else
          buf[#buf + 1] = c
          j = j + 1
        end
      end
    end
    out[i] = table.concat(buf)
  end
  return out
end

local function count_word(s, w)
  local n = 0
  for _ in (" " .. s .. " "):gmatch("[^%w_]" .. w .. "[^%w_]") do n = n + 1 end
  return n
end

-- Calls found(name, first_line, last_line) for every function not closed on its own line;
-- unclosed(name, line) when no `end` of its indentation follows.
local function lua_functions(lines, found, unclosed)
  local clean = lua_clean(lines)
  for i, line in ipairs(clean) do
    local pos = (" " .. line):find("[^%w_.:]function[^%w_]")
    if pos and count_word(line, "end") < count_word(line, "function") then
      local indent = line:match("^(%s*)")
      local name = line:match("function%s+([%w_.:]+)") or line:match("([%w_.]+)%s*=%s*function")
        or "function at line " .. i
      local last
      for k = i + 1, #clean do
        if clean[k]:match("^" .. indent .. "end[^%w_]") or clean[k] == indent .. "end" then last = k break end
      end
      if last then found(name, i, last) else unclosed(name, i) end
    end
  end
end

-- ---- the checks ----------------------------------------------------------------------------

local function unit_of(path)
  local dir, stem = path:match("^(.*)/([^/]+)%.[ch]$")
  stem = stem:gsub("_impl$", ""):gsub("_internal$", "")
  return dir .. "/" .. stem
end

-- A Lua file's module ("lua/cxone/bulk/job.lua" -> "cxone.bulk.job"; nil outside lua/) and the
-- modules of this tree it requires, wherever the require sits (a require inside a function is a
-- dependency too; comments are skipped). Spec and tool files are nobody's dependency: skipped.
local function lua_unit(path)
  local m = path:match("^lua/(.*)%.lua$")
  return m and m:gsub("/init$", ""):gsub("/", ".")
end
local function lua_requires(lines)
  local out = {}
  for _, line in ipairs(lines) do
    local code = line:gsub("%-%-.*$", "")
    for name in code:gmatch("require%s*%(?%s*[\"']([%w_.]+)[\"']") do out[#out + 1] = name end
  end
  return out
end

-- Units that reach each other through includes (C) or requires (Lua), as "a <-> b" strings.
local function include_loops(edges)
  local names = {}
  for u in pairs(edges) do names[#names + 1] = u end
  table.sort(names)
  local reach = {}
  for _, u in ipairs(names) do
    local seen, stack = {}, { u }
    while #stack > 0 do
      local v = table.remove(stack)
      for w in pairs(edges[v] or {}) do
        if not seen[w] then seen[w] = true; stack[#stack + 1] = w end
      end
    end
    reach[u] = seen
  end
  local loops = {}
  for a = 1, #names do
    for b = a + 1, #names do
      if reach[names[a]][names[b]] and (reach[names[b]] or {})[names[a]] then
        loops[#loops + 1] = names[a] .. " <-> " .. names[b]
      end
    end
  end
  return loops
end

local function load_allow(path)
  local allow = {}
  if not path then return allow end
  for _, line in ipairs(read_lines(path)) do
    local p, kind, size = line:match("^(%S+)%s+(%S+)%s+(%d+)")
    if p then allow[p .. " " .. kind] = tonumber(size) end
  end
  return allow
end

local function main(argv)
  local dirs, allow_path = {}, nil
  local i = 1
  while i <= #argv do
    if argv[i] == "--allow" then allow_path, i = argv[i + 1], i + 2
    else dirs[#dirs + 1], i = argv[i], i + 1 end
  end
  local allow, bad, known, used = load_allow(allow_path), {}, {}, {}
  local function report(path, at, what, size, limit)
    local line = ("%s %s %d (limit %d; %s)"):format(path, what, size, limit, at)
    local was = allow[path .. " " .. what]
    used[path .. " " .. what] = true
    if was and size <= was then known[#known + 1] = line else bad[#bad + 1] = line end
  end
  local edges = {}
  for _, path in ipairs(list_files(dirs)) do
    local lines = read_lines(path)
    if #lines > MAX_FILE then report(path, "whole file", "file", #lines, MAX_FILE) end
    local function found(name, first, last)
      if last - first + 1 > MAX_FUNC then report(path, "line " .. first, name, last - first + 1, MAX_FUNC) end
    end
    if path:match("%.lua$") then
      lua_functions(lines, found, function(name, line)
        bad[#bad + 1] = ("%s:%d %s: no `end` at its indentation (indent the file as the style asks)"):format(path, line, name)
      end)
      local u = lua_unit(path)
      if u then
        edges[u] = edges[u] or {}
        for _, v in ipairs(lua_requires(lines)) do
          if v ~= u then edges[u][v] = true end
        end
      end
    else
      if path:match("%.c$") then c_functions(lines, found) end
      local u = unit_of(path)
      edges[u] = edges[u] or {}
      for _, inc in ipairs(c_includes(path, lines)) do
        local v = unit_of(inc)
        if v ~= u then edges[u][v] = true end
      end
    end
  end
  for _, l in ipairs(include_loops(edges)) do bad[#bad + 1] = "include or require loop: " .. l end
  for _, l in ipairs(known) do print("known, to be split (" .. allow_path .. "): " .. l) end
  local stale = {}
  for k in pairs(allow) do if not used[k] then stale[#stale + 1] = k end end
  table.sort(stale)
  for _, k in ipairs(stale) do print("check-size: " .. k .. " is within its limit now: remove it from " .. allow_path) end
  for _, l in ipairs(bad) do print("check-size: " .. l) end
  print(("check-size: %d findings, %d known, in %s"):format(#bad, #known, table.concat(dirs, " ")))
  return #bad == 0
end

os.exit(main(arg) and 0 or 1)
