-- Spec helper for spec/docs_check_spec.lua: the fenced code blocks of a markdown file, and
-- running one as a reader would (a scratch directory that reads like the checkout, the
-- environment README.md's "Try it against the mock" sets up).
--
-- Convention: a fenced block whose language is sh (bash, shell) or lua is run; a block preceded
-- by the line `<!-- docs-check: skip (reason) -->` is not, and the reason is listed.
local U = require "spec.helpers.util"

local D = {}

-- Fence languages that are run, and how.
D.RUN = { sh = "sh", bash = "sh", shell = "sh", lua = "lua" }
-- How long one block may take (seconds): a bound for a block that hangs; the LuaRocks example
-- compiles the module.
D.TIMEOUT = 300
-- The interpreter a reader runs a Lua snippet with (the default build, `make`).
D.LUA = "lua5.4"

local MARKER = "docs-check:"

-- The marker on line i (a skip reason), or nil when the line is no marker. Raises naming
-- file:line for a marker that is malformed or not right before a fence.
local function marker(lines, i, file)
  local line = lines[i]
  if not line:find(MARKER, 1, true) then return nil end
  local reason = line:match("^<!%-%- docs%-check: skip %((.-)%) %-%->%s*$")
  if not reason or reason:match("^%s*$") then
    error(("%s:%d: a docs-check marker reads `<!-- docs-check: skip (reason) -->`: %s"):format(file, i, line), 0)
  end
  if not (lines[i + 1] or ""):match("^%s*```") then
    error(("%s:%d: a docs-check marker must be the line right before a fenced block"):format(file, i), 0)
  end
  return reason
end

-- The blocks of the markdown text `src` (named `file` in messages): {file, line (the opening
-- fence), lang, code, skip (reason) or nil}. Raises naming file:line for a bad marker and for
-- an unclosed fence.
function D.blocks(src, file)
  local out, lines = {}, {}
  for line in (src .. "\n"):gmatch("([^\n]*)\n") do lines[#lines + 1] = line end
  local i, pending = 1, nil
  while i <= #lines do
    local fence, lang = lines[i]:match("^%s*(```+)%s*([%w_+-]*)")
    local reason = marker(lines, i, file)
    if reason then
      pending = reason
    elseif fence then
      local code, j = {}, i + 1
      while j <= #lines and not lines[j]:match("^%s*" .. fence .. "%s*$") do
        code[#code + 1] = lines[j]:gsub("^" .. (lines[i]:match("^(%s*)")), "")
        j = j + 1
      end
      if j > #lines then error(("%s:%d: the fenced block never ends"):format(file, i), 0) end
      out[#out + 1] = { file = file, line = i, lang = lang:lower(), code = table.concat(code, "\n") .. "\n",
        skip = pending }
      pending = nil
      i = j
    end
    i = i + 1
  end
  return out
end

-- The blocks of a file on disk.
function D.file_blocks(path, name)
  local src = U.read_file(path)
  assert(src, "cannot read " .. path)
  return D.blocks(src, name or path)
end

-- A fresh directory that reads like the checkout at `root` (a symlink to each of its top-level
-- entries), so `bin/cxone-bulk` and `examples/...` resolve while what a block writes stays there.
function D.scratch(root)
  local dir = U.tmpdir("docs-check")
  local ok, out = U.run(("cd %s && for e in * .[!.]*; do [ -e \"$e\" ] && [ \"$e\" != .git ] && "
    .. "ln -s \"$PWD/$e\" %s/; done; true"):format(U.quote(root), U.quote(dir)))
  assert(ok, out)
  return dir
end

-- Runs one block in `dir` with exactly the environment `env` (name -> value) on top of PATH and
-- HOME (the scratch directory: `luarocks --local` installs there), plus what `make -s env` prints
-- for the checkout at `root` (LUA_PATH, LUA_CPATH, PATH).
-- sh blocks run under `sh -e` (a failing command fails the block); lua blocks under D.LUA.
-- Returns true, output or false, "file:line: the sh block failed: exit N; its output: ...".
function D.run(block, dir, root, env)
  local runner = D.RUN[block.lang]
  assert(runner, "not a block that is run: " .. block.lang)
  local name = dir .. "/block." .. runner
  U.write_file(name, block.code)
  local parts = { "env -i", "PATH=" .. U.quote(os.getenv("PATH") or "/usr/bin:/bin"),
    "HOME=" .. U.quote(dir), "LANG=C.UTF-8" }
  for k, v in pairs(env) do parts[#parts + 1] = k .. "=" .. U.quote(v) end
  -- timeout leads its own process group: whatever the block left running is found and stopped.
  -- Zombies do not count (an orphaned wrapper shell the machine's init has not reaped yet), and a
  -- process already on its way out gets a second to finish first.
  local script = ('cd %s && eval "$(make -s --no-print-directory -C %s env)" || exit 90; '
    .. 'left() { ps -e -o pgid=,stat= | awk -v g=$t \'$1 == g && $2 !~ /^Z/\' | grep -q .; }; '
    .. 'timeout %d %s %s & t=$!; wait $t; rc=$?; '
    .. 'n=0; while left && [ $n -lt 20 ]; do sleep 0.05; n=$((n+1)); done; '
    .. 'if left; then kill -TERM -$t; [ $rc -ne 0 ] || rc=91; fi; '
    .. 'echo "[exit $rc]"; exit $rc'):format(U.quote(dir), U.quote(root), D.TIMEOUT,
    runner == "sh" and "sh -e" or D.LUA, U.quote(name))
  parts[#parts + 1] = "sh -c " .. U.quote(script)
  local _, out = U.run(table.concat(parts, " ") .. " < /dev/null")
  local code = tonumber(out:match("%[exit (%d+)%]%s*$"))
  out = out:gsub("%[exit %d+%]%s*$", "")
  if code == 0 then return true, out end
  local why = ({ [124] = "it ran over " .. D.TIMEOUT .. " s", [90] = "`make -s env` failed",
    [91] = "it left processes running (stopped now)" })[code] or ("exit " .. tostring(code))
  return false, ("%s:%d: the %s block failed: %s; its output:\n%s"):format(block.file, block.line, block.lang,
    why, out)
end

return D
