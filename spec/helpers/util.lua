-- The small tools every spec helper and the bench driver share: shell quoting, whole-file read
-- and write, sleeping and polling, temporary directories, running a command. Written once here;
-- spec/helpers/*.lua and bench/lib/util.lua re-export what their callers use.
-- Plain Lua 5.1–5.4 and LuaJIT (io.read "*a", os.execute's two return conventions).
local U = {}

--- A string as one single-quoted shell word.
function U.quote(s)
  return "'" .. (tostring(s):gsub("'", "'\\''")) .. "'"
end

--- The whole file, or nil when it cannot be opened.
function U.read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

--- Writes text to path (raises on any error); returns path.
function U.write_file(path, text)
  local f = assert(io.open(path, "wb"))
  assert(f:write(text))
  assert(f:close())
  return path
end

function U.exists(path)
  local f = io.open(path, "rb")
  if f then f:close() end
  return f ~= nil
end

function U.sleep(s)
  os.execute("sleep " .. string.format("%.3f", s))
end

--- Calls pred() every 20 ms for up to `seconds`; returns its first truthy value or nil.
function U.poll(seconds, pred)
  for _ = 1, math.floor(seconds / 0.02) do
    local v = pred()
    if v then return v end
    U.sleep(0.02)
  end
  return pred()
end

--- Runs a shell command (stderr merged); returns ok, output.
function U.run(cmd)
  -- The exit status is read from the output: on Lua 5.1 and LuaJIT a popen'ed file's close()
  -- says true whatever the command did.
  local p = assert(io.popen("( " .. cmd .. " ) 2>&1; echo \"__cxb_rc=$?\""))
  local out = p:read("*a")
  p:close()
  local code = tonumber(out:match("__cxb_rc=(%d+)%s*$"))
  return code == 0, (out:gsub("__cxb_rc=%d+%s*$", ""))
end

local TMP_PREFIX = "/tmp/cxb-"

--- A fresh directory /tmp/cxb-<tag>.XXXXXX, mode 0755 (nginx's unprivileged workers read it).
function U.tmpdir(tag)
  local ok, out = U.run("mktemp -d " .. TMP_PREFIX .. (tag or "spec") .. ".XXXXXX")
  assert(ok, out)
  local dir = out:gsub("%s+$", "")
  assert(U.run("chmod 755 " .. U.quote(dir)))
  return dir
end

--- Removes a directory made by U.tmpdir (anything else is left alone).
function U.rmdir(dir)
  if dir and dir:sub(1, #TMP_PREFIX) == TMP_PREFIX and not dir:find("..", 1, true) then
    os.execute("rm -rf " .. U.quote(dir))
  end
end

--- Every line of a JSON Lines text decoded (a line that does not parse raises).
function U.decode_jsonl(text)
  local cjson = require "cjson"
  local out = {}
  for line in (text or ""):gmatch("[^\n]+") do
    local ok, v = pcall(cjson.decode, line)
    assert(ok, "not JSON: " .. line)
    out[#out + 1] = v
  end
  return out
end

--- s as a form / URL component (RFC 3986 unreserved characters kept), the way the engine sends it.
function U.form_encode(s)
  return (s:gsub("[^%w%-%._~]", function(ch) return ("%%%02X"):format(ch:byte()) end))
end

local B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

--- Standard base64 (RFC 4648) of s: what an HTTP Basic header carries.
function U.base64(s)
  local out = {}
  for i = 1, #s, 3 do
    local a, b, c = s:byte(i, i + 2)
    local n = a * 65536 + (b or 0) * 256 + (c or 0)
    local chars = {}
    for k = 3, 0, -1 do
      local v = math.floor(n / 64 ^ k) % 64
      chars[#chars + 1] = B64:sub(v + 1, v + 1)
    end
    if not b then chars[3], chars[4] = "=", "=" elseif not c then chars[4] = "=" end
    out[#out + 1] = table.concat(chars)
  end
  return table.concat(out)
end

--- Every key and value of v (nested tables too, keys sorted) as one text, for scanning.
function U.dump(v, out, depth)
  out = out or {}
  depth = depth or 0
  if type(v) == "table" and depth < 8 then
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    for _, k in ipairs(keys) do
      out[#out + 1] = tostring(k) .. "="
      U.dump(v[k], out, depth + 1)
    end
  else
    out[#out + 1] = tostring(v)
  end
  return table.concat(out, "\n")
end

return U
