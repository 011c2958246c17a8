-- Runs the example nginx (examples/nginx/nginx.conf rendered into a private prefix) for the
-- specs, plus the few process tools the multi-process specs need (spawn, alive, kill).
-- Everything listens on 127.0.0.1 only and is stopped by its pid.
local render = require "examples.nginx.render"
local cjson = require "cjson"
local U = require "spec.helpers.util"

local N = {}
N.NGINX = "/usr/sbin/nginx"
N.LUA_MODULE = "/usr/lib/nginx/modules/ngx_http_lua_module.so"

local sh_quote, exists, sleep = U.quote, U.exists, U.sleep
N.q = sh_quote
N.sleep = sleep

--- Runs a shell command (stderr merged); returns ok, output. The exit status is read from the
-- output: on Lua 5.1 and LuaJIT, closing a popen'ed file gives true whatever the command did.
function N.run(cmd)
  local _, out = U.run("{ " .. cmd .. "\n} 2>&1; echo \"__exit=$?\"")
  local code = tonumber(out:match("__exit=(%d+)%s*$"))
  return code == 0, (out:gsub("__exit=%d+%s*$", ""))
end
local run = N.run

function N.now()
  return require("cxone.bulk").sys.monotime()
end

local built -- the LuaJIT module was built (or found up to date) by this process

--- true, or nil and why nginx with the Lua module cannot run here. Builds what nginx loads (the
-- module for LuaJIT, `make luajit-module`) first, once per process: a fresh tree has none, and
-- a spec must not skip for want of a build step.
function N.available()
  if not exists(N.NGINX) then return nil, "nginx is not installed (apt-get install nginx)" end
  if not exists(N.LUA_MODULE) then
    return nil, "nginx's Lua module is not installed (apt-get install libnginx-mod-http-lua)"
  end
  if not exists("/usr/share/lua/5.1/resty/core.lua") then
    return nil, "lua-resty-core is not installed (apt-get install lua-resty-core)"
  end
  if not built then
    local ok, out = run("make --no-print-directory -s luajit-module")
    if not ok then return nil, "cannot build the LuaJIT module (make luajit-module): " .. out end
    built = true
  end
  return true
end

---------------------------------------------------------------------------------------------
-- Processes
---------------------------------------------------------------------------------------------

--- Starts `cmd` (a shell command line) in the background; returns its pid.
function N.spawn(cmd, stdout, stderr)
  local line = string.format("sh -c %s", sh_quote(string.format("exec %s >%s 2>%s",
    cmd, sh_quote(stdout or "/dev/null"), sh_quote(stderr or "/dev/null"))))
  local p = assert(io.popen(line .. " & echo $!"))
  local pid = tonumber(p:read("*l"))
  p:close()
  assert(pid, "could not start: " .. cmd)
  return pid
end

--- true while `pid` runs (a zombie that nobody reaped yet counts as gone).
function N.alive(pid)
  local f = io.open("/proc/" .. pid .. "/stat", "rb")
  if not f then return false end
  local stat = f:read("*a") or ""
  f:close()
  local state = stat:match("^%d+ %b() (%a)")
  return state ~= nil and state ~= "Z" and state ~= "X"
end

function N.kill(pid, sig)
  os.execute(string.format("kill -%s %d 2>/dev/null", sig or "TERM", pid))
end

--- Waits up to `seconds` for pid to end; returns true and the seconds it took, or false.
function N.wait_gone(pid, seconds)
  local t0 = N.now()
  while N.alive(pid) do
    if N.now() - t0 > seconds then return false, N.now() - t0 end
    sleep(0.02)
  end
  return true, N.now() - t0
end

N.read_file = U.read_file
N.write_file = U.write_file

--- A fresh directory under /tmp, readable by nginx's unprivileged workers.
N.tempdir = U.tmpdir

---------------------------------------------------------------------------------------------
-- HTTP over curl
---------------------------------------------------------------------------------------------

--- GET or POST; returns status, body, seconds taken (curl's time_total).
function N.http(method, url, body_file)
  local out = os.tmpname()
  local cmd = string.format("curl -s -m 30 -X %s -o %s -w '%%{http_code} %%{time_total}' %s", method,
    sh_quote(out), sh_quote(url))
  if body_file then
    cmd = cmd .. " -H 'Content-Type: application/json' --data-binary @" .. sh_quote(body_file)
  end
  local _, res = run(cmd)
  local status, took = res:match("(%d+) ([%d.]+)")
  local text = N.read_file(out) or ""
  os.remove(out)
  return tonumber(status), text, tonumber(took)
end

---------------------------------------------------------------------------------------------
-- nginx
---------------------------------------------------------------------------------------------

local Nginx = {}
Nginx.__index = Nginx

local function pick_port()
  return 20000 + math.random(0, 39999)
end

--- Renders the example conf into a new prefix (or `o.prefix`, to start again where a stopped
-- nginx left its journals) and starts nginx (daemonised, pid file).
-- o: { values = {render placeholders}, env = {NAME = value}, tag = "...", prefix = dir }
local seeded
function N.start(o)
  o = o or {}
  if not seeded then -- once: two starts within a second must not draw the same port
    math.randomseed(os.time() + require("cxone.bulk").sys.getpid())
    seeded = true
  end
  local prefix = o.prefix or N.tempdir(o.tag or "nginx")
  for _, d in ipairs { "logs", "tmp", "journal" } do assert(run("mkdir -p " .. sh_quote(prefix .. "/" .. d))) end
  local values = {}
  for k, v in pairs(o.values or {}) do values[k] = v end
  values.PREFIX = prefix
  -- Started as root, the master drops its workers to nobody: give them the dirs they write.
  if not values.USER_LINE and run("test \"$(id -u)\" = 0") then
    values.USER_LINE = "user nobody nogroup;"
    assert(run("chown -R nobody:nogroup " .. sh_quote(prefix .. "/tmp") .. " " .. sh_quote(prefix .. "/journal")))
  end
  local env = ""
  for k, v in pairs(o.env or {}) do env = env .. k .. "=" .. sh_quote(v) .. " " end

  local last
  for _ = 1, 5 do
    values.PORT = values.PORT or pick_port()
    local text = assert(render.render_file(values))
    local conf = prefix .. "/nginx.conf"
    N.write_file(conf, text)
    local ok, out = run(string.format("env %s%s -p %s -c %s", env, N.NGINX, sh_quote(prefix), sh_quote(conf)))
    if ok then
      local self = setmetatable({ prefix = prefix, conf = conf, port = values.PORT, keep = o.keep,
        url = "http://127.0.0.1:" .. values.PORT }, Nginx)
      self.pid = tonumber(N.read_file(prefix .. "/nginx.pid"))
      assert(self.pid, "nginx started but wrote no pid file")
      self:wait_ready(5)
      pcall(self.ping, self) -- learns the rate bucket's name, which stop() removes
      return self
    end
    last = out
    if not out:find("Address already in use", 1, true) then break end
    values.PORT = nil -- someone else has that port: pick another
  end
  local log = N.read_file(prefix .. "/logs/error.log") or ""
  if not o.prefix then run("rm -rf " .. sh_quote(prefix)) end
  error("nginx did not start: " .. tostring(last) .. "\n" .. log)
end

function Nginx:wait_ready(seconds)
  local t0 = N.now()
  while N.now() - t0 < seconds do
    local status = N.http("GET", self.url .. "/ping")
    if status == 200 then return true end
    sleep(0.05)
  end
  error("nginx did not answer /ping within " .. seconds .. " s\n" .. self:error_log())
end

function Nginx:error_log()
  return N.read_file(self.prefix .. "/logs/error.log") or ""
end

function Nginx:get(path) return N.http("GET", self.url .. path) end

--- POSTs a Lua table as JSON. Returns status, decoded body (or raw text), seconds.
function Nginx:post_json(path, doc)
  local file = os.tmpname()
  N.write_file(file, cjson.encode(doc))
  local status, text, took = N.http("POST", self.url .. path, file)
  os.remove(file)
  local ok, decoded = pcall(cjson.decode, text)
  return status, ok and decoded or text, took
end

--- POSTs `text` as it is (a body that need not be JSON). Returns status, decoded body (or raw
-- text), seconds.
function Nginx:post_text(path, text)
  local file = os.tmpname()
  N.write_file(file, text)
  local status, body, took = N.http("POST", self.url .. path, file)
  os.remove(file)
  local ok, decoded = pcall(cjson.decode, body)
  return status, ok and decoded or body, took
end

--- Worker pids (children of the master).
function Nginx:worker_pids()
  local _, out = run("ps -o pid= --ppid " .. self.pid)
  local pids = {}
  for pid in out:gmatch("%d+") do pids[#pids + 1] = tonumber(pid) end
  return pids
end

--- Graceful quit (SIGQUIT to the master). Returns true and seconds until every process of this
-- nginx is gone, or false after `seconds` (then it kills them so nothing outlives the spec).
function Nginx:quit(seconds)
  local procs = self:worker_pids()
  procs[#procs + 1] = self.pid
  local t0 = N.now()
  N.kill(self.pid, "QUIT")
  local all = true
  for _, pid in ipairs(procs) do
    local gone = N.wait_gone(pid, math.max(0, seconds - (N.now() - t0)))
    all = all and gone
  end
  local took = N.now() - t0
  if not all then for _, pid in ipairs(procs) do N.kill(pid, "KILL") end end
  self.stopped = true
  return all, took
end

--- Stops it if still running (for teardown); removes the prefix and the host-wide rate bucket
-- its workers used, unless `keep` was given to start (or KEEP_NGINX_PREFIX is set).
function Nginx:stop()
  if not self.stopped then self:quit(5) end
  if self.limit then os.remove("/dev/shm/cxone-bulk-limit." .. self.limit) end
  if not os.getenv("KEEP_NGINX_PREFIX") and not self.keep then run("rm -rf " .. sh_quote(self.prefix)) end
end

--- GET /ping decoded; remembers the rate bucket's name for stop().
function Nginx:ping()
  local status, text, took = self:get("/ping")
  assert(status == 200, "GET /ping: " .. tostring(status) .. " " .. tostring(text))
  local doc = cjson.decode(text)
  if type(doc.shared_limit) == "string" and doc.shared_limit:match("^[%w._-]+$") then self.limit = doc.shared_limit end
  return doc, took
end

--- GET /jobs/status?id=... decoded, until pred(status) holds or `seconds` pass; returns the last.
function Nginx:wait_job(id, seconds, pred)
  local st
  local t0 = N.now()
  repeat
    local _, text = self:get("/jobs/status?id=" .. id)
    st = cjson.decode(text)
    if pred(st) then return st end
    sleep(0.05)
  until N.now() - t0 > seconds
  return st
end

--- Starts a shell loop that GETs /ping back to back (5 ms apart) and logs each curl time_total;
-- returns a stop function that ends it and gives the times in seconds.
function Nginx:ping_prober()
  local log = os.tmpname()
  local loop = string.format("while :; do curl -s -m 5 -o /dev/null -w '%%{http_code} %%{time_total}\\n' %s; sleep 0.005; done",
    sh_quote(self.url .. "/ping"))
  local pid = N.spawn("sh -c " .. sh_quote(loop), log)
  return function()
    N.kill(pid, "TERM")
    N.wait_gone(pid, 5)
    local times, bad = {}, {}
    for code, t in (N.read_file(log) or ""):gmatch("(%d+) ([%d.]+)") do
      if code == "200" then times[#times + 1] = tonumber(t) else bad[#bad + 1] = code end
    end
    os.remove(log)
    return times, bad
  end
end

--- Permission bits of a file as octal text ("640").
function N.mode(path)
  local ok, out = run("stat -c %a " .. sh_quote(path))
  assert(ok, out)
  return (out:gsub("%s+$", ""))
end

--- The largest excess over burst + rate*W over every window [t_i, t_j] of arrival times (ms),
-- and where it is.
function N.worst_excess(times_ms, rate, burst)
  local worst, wi, wj = -math.huge, 1, 1
  for i = 1, #times_ms do
    for j = i, #times_ms do
      local excess = (j - i + 1) - (burst + rate * (times_ms[j] - times_ms[i]) / 1000)
      if excess > worst then worst, wi, wj = excess, i, j end
    end
  end
  return worst, string.format("%d requests in %d ms at +%d ms", wj - wi + 1,
    (times_ms[wj] or 0) - (times_ms[wi] or 0), (times_ms[wi] or 0) - (times_ms[1] or 0))
end

--- Decodes a JSON-lines file into an array of tables.
function N.read_jsonl(path) return U.decode_jsonl(U.read_file(path)) end

return N
