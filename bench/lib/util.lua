-- Small helpers for the benchmark driver: shell quoting, files, timing child processes,
-- CPU accounting from /proc, medians, and what machine we ran on.
local cjson = require "cjson"

local S = require "spec.helpers.util" -- quoting and files, shared with the spec helpers

local U = {}

U.q = S.quote
U.read = S.read_file
U.write = S.write_file

-- Runs a shell command; returns true when it exited 0, plus the exit code.
function U.sh(cmd)
  local ok, _, code = os.execute(cmd)
  return ok == true, code
end

-- Runs a shell command and returns its stdout (trailing whitespace trimmed); raises on failure.
function U.capture(cmd)
  local p = assert(io.popen(cmd, "r"))
  local out = p:read("a")
  local ok, _, code = p:close()
  if not ok then error(string.format("command failed (exit %s): %s", tostring(code), cmd), 2) end
  return (out:gsub("%s+$", ""))
end

-- A run failed: the whole bench exits non-zero (a missed target never does that).
function U.fail(fmt, ...)
  error({ bench_failure = string.format(fmt, ...) }, 2)
end

local CLK_TCK
-- CPU seconds (user + system) a live process has used so far, from /proc/PID/stat.
function U.proc_cpu(pid)
  CLK_TCK = CLK_TCK or tonumber(U.capture("getconf CLK_TCK"))
  local stat = U.read("/proc/" .. pid .. "/stat")
  if not stat then return nil end
  -- comm (field 2) may contain spaces; fields after ")" start at field 3.
  local rest = stat:match("%) (.*)$")
  local f = {}
  for w in rest:gmatch("%S+") do f[#f + 1] = w end
  return (tonumber(f[12]) + tonumber(f[13])) / CLK_TCK -- utime, stime are fields 14, 15
end

-- Runs `cmd` under /usr/bin/time; returns ok, {wall, user, sys, cpu, max_rss_kb, exit}.
function U.timed(cmd, scratch)
  local tf = scratch .. ".time"
  os.remove(tf)
  local ok, code = U.sh(string.format("/usr/bin/time -f '%%e %%U %%S %%M %%x' -o %s %s", U.q(tf), cmd))
  local t = U.read(tf) or ""
  -- /usr/bin/time prints "Command exited with non-zero status N" first when it failed.
  local wall, user, sys, rss, exit = t:match("([%d.]+) ([%d.]+) ([%d.]+) (%d+) (%-?%d+)%s*$")
  local r = { wall = tonumber(wall), user = tonumber(user), sys = tonumber(sys),
              max_rss_kb = tonumber(rss), exit = tonumber(exit) or code }
  if r.user then r.cpu = r.user + r.sys end
  return ok, r
end

function U.median(xs)
  local s = {}
  for i, v in ipairs(xs) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  if n % 2 == 1 then return s[(n + 1) / 2] end
  return (s[n / 2] + s[n / 2 + 1]) / 2
end

-- Collects field `key` of every record in `runs` and returns its median.
function U.median_of(runs, key)
  local xs = {}
  for _, r in ipairs(runs) do
    if r[key] ~= nil then xs[#xs + 1] = r[key] end
  end
  return U.median(xs)
end

-- Seconds of CPU time the hypervisor gave to others (steal), summed over all cores, so far.
function U.steal_seconds()
  CLK_TCK = CLK_TCK or tonumber(U.capture("getconf CLK_TCK"))
  local f = {}
  for w in ((U.read("/proc/stat") or ""):match("^cpu%s+([^\n]+)") or ""):gmatch("%d+") do f[#f + 1] = tonumber(w) end
  return f[8] and f[8] / CLK_TCK or nil
end

function U.loadavg()
  return (U.read("/proc/loadavg") or ""):match("^(%S+ %S+ %S+)")
end

-- Where and with what the numbers were measured.
function U.machine()
  local cpuinfo = U.read("/proc/cpuinfo") or ""
  local function first_line(cmd)
    local ok, out = pcall(U.capture, cmd .. " 2>&1")
    return ok and out:match("^[^\n]*") or "unknown"
  end
  return {
    date = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    cpu_model = cpuinfo:match("model name%s*:%s*([^\n]+)") or "unknown",
    cores = tonumber(U.capture("nproc")),
    kernel = first_line("uname -sr"),
    memory_kb = tonumber((U.read("/proc/meminfo") or ""):match("MemTotal:%s*(%d+)")),
    os = (U.read("/etc/os-release") or ""):match('PRETTY_NAME="([^"]+)"') or "unknown",
    curl = first_line("curl --version"),
    wrk = first_line("wrk -v 2>&1 | head -n1; true"),
    valgrind = first_line("valgrind --version"),
    lua = _VERSION,
    loadavg_start = U.loadavg(),
  }
end

function U.json(v)
  return cjson.encode(v)
end

-- Parses the last line of `text` that starts with `tag` as JSON.
function U.tagged_json(text, tag)
  local found
  for line in text:gmatch("[^\n]+") do
    if line:sub(1, #tag) == tag then found = line:sub(#tag + 1) end
  end
  if not found then return nil end
  local ok, v = pcall(cjson.decode, found)
  return ok and v or nil
end

return U
