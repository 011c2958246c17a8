-- Spec and bench helper: the adaptive-rate scenarios of issue 22 (rate = "auto" against the
-- mock's tenant limit), measured from the mock's own counts.
--
--   local A = require "spec.helpers.adaptive"
--   local run = A.spawn(dir, "one", mock.url, nil)        -- a batch at rate = "auto" in a child
--   local s = A.sampler(mock)                             -- s:sample() about every second
--   s:window(from_s, to_s) -> {requests=, http_429=, seconds=, send_rate=, goodput=, frac_429=}
--   run:stop(); run:result() -> the child's summary {succeeded, http_429, rate_found, ...}
--
-- Times are seconds on the mock's clock (its uptime). The mock counts every API request it
-- answered and every 429 it sent; a window's goodput is what it accepted per second.
-- ADAPTIVE_LOG=1 in the environment: each child also writes its rate and retry events, with
-- their CLOCK_MONOTONIC instants, to <name>.json.log in dir (to see what a cut cost).
local cjson = require "cjson"
local N = require "spec.helpers.nginx"

local A = {}

A.START, A.MAX = 45, 100 -- the client: rate = "auto" from 45/s, max_rate 100

-- A batch in its own process: base_url, shared_limit ("" for none), first contact, out file,
-- stop file. Runs rate = "auto" until the stop file appears, then writes its summary.
A.CHILD = [[
local bulk = require "cxone.bulk"
local cjson = require "cjson"
local base, limit, first, out, stop, start, max, log = ...
local logf = log and log ~= "" and assert(io.open(log, "w"))
local i = tonumber(first) - 1
local function tasks()
  i = i + 1
  return { contact_id = string.format("contact-%07d", i), category = "Contacted",
           subcategory = "Information Provided" }
end
local changes = 0
local job = bulk.start(tasks, { base_url = base, client_id = "demo-client", client_secret = "demo-secret",
  rate = "auto:" .. start, max_rate = tonumber(max), burst = 20, workers = 10, max_retries = 100,
  shared_limit = limit ~= "" and limit or nil,
  on_event = function(ev)
    if ev.type == "rate" then changes = changes + 1 end
    if logf and (ev.type == "rate" or ev.type == "retry") then
      logf:write(string.format("%.3f %s %s %s\n", bulk.sys.monotime(), ev.type, ev.reason or ev.status or "",
        ev.rate or ev.index or ""))
    end
  end })
local t0 = bulk.sys.monotime()
while not job:done() do
  job:poll(0.1)
  local f = io.open(stop, "r")
  if f then f:close(); job:cancel("stopped"); break end
end
while not job:done() do job:poll(0.1) end
local s = job:status()
job:close()
local f = assert(io.open(out .. ".tmp", "w"))
f:write(cjson.encode { succeeded = s.succeeded, failed = s.failed, cancelled = s.cancelled,
  http_429 = s.http_429, requests = s.requests, rate_found = s.rate_found or false, rate = s.rate,
  rate_changes = changes, elapsed = bulk.sys.monotime() - t0 })
f:close()
os.rename(out .. ".tmp", out)
]]

local Run = {}
Run.__index = Run

--- Starts the child batch `name` in dir against url (shared_limit `limit` or nil).
function A.spawn(dir, name, url, limit, first)
  local script = dir .. "/child.lua"
  if not N.read_file(script) then N.write_file(script, A.CHILD) end
  local self = setmetatable({ out = dir .. "/" .. name .. ".json", stopf = dir .. "/" .. name .. ".stop",
                              errf = dir .. "/" .. name .. ".err" }, Run)
  local lua = os.getenv("CXONE_SPEC_LUA") or "lua5.4"
  local build = os.getenv("BENCH_BUILD") or "build/lua5.4"
  self.pid = N.spawn(string.format("env LUA_PATH='lua/?.lua;;' LUA_CPATH=%s setsid %s %s %s %s %d %s %s %g %g %s",
    N.q(build .. "/?.so;;"), lua, N.q(script), N.q(url), N.q(limit or ""), first or 1, N.q(self.out),
    N.q(self.stopf), A.START, A.MAX, N.q(os.getenv("ADAPTIVE_LOG") and (self.out .. ".log") or "")), nil, self.errf)
  return self
end

function Run:stop() N.write_file(self.stopf, "stop\n") end

--- The child's summary once it has written it (waits up to 30 s); raises with its stderr.
function Run:result()
  local t0 = N.now()
  while N.now() - t0 < 30 do
    local text = N.read_file(self.out)
    if text then return cjson.decode(text) end
    N.sleep(0.1)
  end
  N.kill(self.pid, "KILL")
  error("child batch wrote no summary: " .. tostring(N.read_file(self.errf)))
end

local Sampler = {}
Sampler.__index = Sampler

--- Samples of one mock's counters over time.
function A.sampler(mock) return setmetatable({ mock = mock, s = {} }, Sampler) end

--- One sample: {t (mock seconds), requests (API requests answered), http_429}. Returns it.
function Sampler:sample()
  local st = self.mock:stats("mutations=0")
  local x = { t = st.uptime_ms / 1000, requests = st.api_requests_logged, http_429 = st.rate_limited }
  self.s[#self.s + 1] = x
  return x
end

function Sampler:now() return self.s[#self.s] and self.s[#self.s].t or 0 end

-- The sample nearest to t (seconds on the mock's clock).
local function nearest(s, t)
  local best
  for _, x in ipairs(s) do
    if not best or math.abs(x.t - t) < math.abs(best.t - t) then best = x end
  end
  return best
end

--- What reached the mock between the samples nearest to from and to.
function Sampler:window(from, to)
  local a, b = nearest(self.s, from), nearest(self.s, to)
  local w = { from = a.t, to = b.t, seconds = b.t - a.t, requests = b.requests - a.requests,
              http_429 = b.http_429 - a.http_429 }
  w.send_rate = w.requests / w.seconds
  w.goodput = (w.requests - w.http_429) / w.seconds
  w.frac_429 = w.requests > 0 and w.http_429 / w.requests or 0
  return w
end

--- The first window of `len` seconds ending after `after` and by `by` whose measure (a field of
-- the window) satisfies ok(v); nil when none did. Windows end at each sample.
function Sampler:first_window(after, by, len, field, ok)
  for _, x in ipairs(self.s) do
    if x.t > after + len - 0.01 and x.t <= by + 0.5 then
      local w = self:window(x.t - len, x.t)
      if ok(w[field]) then return w end
    end
  end
end

A.mkdir = N.tempdir
A.now, A.sleep = N.now, N.sleep
return A
