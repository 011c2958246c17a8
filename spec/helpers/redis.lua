-- Spec helper: a throw-away redis-server (Debian's) on 127.0.0.1 and a unix socket, persistence
-- off, in its own temporary directory; stopped by pid.
--
--   local R = require "spec.helpers.redis"
--   local r = R.start()          -- raises with the server's log if it does not answer in 5 s
--   r.port, r.sock, r.pid, r:url("key"), r:unix_url("key")
--   r:cli("HGETALL", "k")        -- redis-cli output (string)
--   r:signal("STOP" | "CONT")    -- kill -STOP / -CONT
--   r:kill9(); r:restart()       -- crash, then a fresh empty server on the same port and socket
--   r:stop()                     -- SIGTERM, wait, remove the directory; idempotent
local N = require "spec.helpers.nginx"

local R = {}
R.__index = R

R.BIN = "/usr/bin/redis-server"

function R.available()
  local f = io.open(R.BIN, "rb")
  if not f then return nil, "redis-server is not installed (apt-get install redis-server)" end
  f:close()
  return true
end

local function ping(self)
  local ok, out = N.run(string.format("redis-cli -s %s PING 2>&1", N.q(self.sock)))
  return ok and out:match("PONG") ~= nil
end

local function launch(self)
  self.pid = N.spawn(string.format("%s --port %d --bind 127.0.0.1 --save '' --appendonly no "
    .. "--unixsocket %s --unixsocketperm 700 --dir %s --daemonize no --logfile %s",
    R.BIN, self.port, N.q(self.sock), N.q(self.dir), N.q(self.dir .. "/redis.log")))
  local t0 = N.now()
  while N.now() - t0 < 5 do
    if ping(self) then return true end
    if not N.alive(self.pid) then break end
    N.sleep(0.05)
  end
  return false
end

--- Starts a server on a free port (tries a few random ones) and a socket in a fresh directory.
function R.start()
  local self = setmetatable({ dir = N.tempdir("redis") }, R)
  self.sock = self.dir .. "/redis.sock"
  math.randomseed(os.time() + require("cxone.bulk").sys.getpid())
  for _ = 1, 5 do
    self.port = math.random(20000, 60000)
    if launch(self) then return self end
    N.kill(self.pid, "KILL")
    N.wait_gone(self.pid, 2)
  end
  local log = N.read_file(self.dir .. "/redis.log") or ""
  self:stop()
  error("redis-server did not start: " .. log)
end

function R:url(key) return string.format("redis://127.0.0.1:%d/0?key=%s", self.port, key) end
function R:unix_url(key) return string.format("unix://%s?key=%s", self.sock, key) end

function R:cli(...)
  local args = {}
  for i, a in ipairs({ ... }) do args[i] = N.q(a) end
  local _, out = N.run(string.format("redis-cli -s %s %s 2>&1", N.q(self.sock), table.concat(args, " ")))
  return out
end

function R:signal(sig) N.kill(self.pid, sig) end

function R:kill9()
  N.kill(self.pid, "KILL")
  assert(N.wait_gone(self.pid, 3), "redis-server survived kill -9")
end

function R:restart()
  os.remove(self.sock)
  assert(launch(self), "redis-server did not restart: " .. tostring(N.read_file(self.dir .. "/redis.log")))
end

function R:stop()
  if self.pid then
    N.kill(self.pid, "CONT")
    N.kill(self.pid, "TERM")
    if not N.wait_gone(self.pid, 5) then N.kill(self.pid, "KILL"); N.wait_gone(self.pid, 2) end
    self.pid = nil
  end
  if self.dir then N.run("rm -rf " .. N.q(self.dir)); self.dir = nil end
end

return R
