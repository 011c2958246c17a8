-- The `make valgrind` workload: a 2,000-task batch through the Lua facade and the C core against
-- the mock, with 5% injected 5xx (retries), 1 s tokens (refreshes ahead of expiry) and two
-- revocations mid-run (401 -> re-auth). Run under memcheck by mk/hardening.mk; exits 1 when an
-- invariant fails, and closes the Lua state on exit so every job is collected before the leak
-- check.
--   lua5.4 hostile/valgrind_batch.lua [MOCK_BINARY] [TASKS]
local bulk = require "cxone.bulk"

local MOCK = arg[1] or "build/cxone-mock"
local N = tonumber(arg[2] or "2000")

local function q(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- The mock prints its port first; `echo $$` + exec gives us its pid to stop it.
local fh = assert(io.popen("echo $$; exec " .. q(MOCK) .. " --quiet --any-contact --rate 0"
  .. " --threads 4 --expires-in 1 --error-rate 0.05", "r"))
local pid = tonumber(fh:read("*l"))
local port = tonumber(fh:read("*l") or "")
if not port then
  io.stderr:write("valgrind_batch: the mock did not start\n")
  os.exit(2)
end
local base = "http://127.0.0.1:" .. port

local function revoke()
  os.execute("curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d "
    .. q('{"revoke_tokens":true}') .. " " .. q(base .. "/_mock/config"))
end

local tasks = {}
for i = 1, N do
  tasks[i] = { contact_id = ("vg-%06d"):format(i), category = "Contacted",
               subcategory = "Information Provided" }
end

local seen, count = {}, 0
local ok, summary = pcall(bulk.batch_update, tasks, {
  base_url = base, client_id = "demo-client", client_secret = "demo-secret",
  workers = 8, rate = 5000, burst = 200, max_retries = 8, backoff_base = 0.01, backoff_max = 0.05,
  timeout = 20, batch_id = "valgrind",
  on_result = function(r)
    if seen[r.index] then error("two results for task " .. r.index) end
    seen[r.index] = r.ok
    count = count + 1
    if count == math.floor(N / 3) or count == math.floor(2 * N / 3) then revoke() end
  end,
})

local function config(json)
  os.execute("curl -s -o /dev/null -X POST -H 'Content-Type: application/json' -d " .. q(json) .. " "
    .. q(base .. "/_mock/config"))
end

-- A journaled cxone batch whose every set-disposition answers 500 after it was applied, then the
-- same batch again with the journal: the intents, the write-ahead barrier (src/engine/durable.c) and the
-- read-back on resume, under memcheck.
local M = math.max(20, math.floor(N / 10))
local cx, journal = {}, os.tmpname()
os.remove(journal)
for i = 1, M do cx[i] = { contact_id = ("vgx-%05d"):format(i), skill = "1001", disposition_code = "2" } end
local function cx_opts()
  return { api = "cxone", issuer = base, client_id = "demo-client", client_secret = "demo-secret",
    access_key_id = "demo-access-key", access_key_secret = "demo-access-secret", workers = 4, rate = 5000,
    burst = 200, max_retries = 0, timeout = 20, journal = journal }
end
config('{"error_after_mutate":1,"error_rate":0}')
local ok1, first = pcall(bulk.batch_update, cx, cx_opts())
config('{"error_after_mutate":0}')
local verified = 0
local o2 = cx_opts()
o2.on_result = function(r) if r.verified then verified = verified + 1 end end
local ok2, second = pcall(bulk.batch_update, cx, o2)
os.remove(journal)

os.execute("kill " .. pid)
fh:close()

local failures = {}
local function check(cond, what) if not cond then failures[#failures + 1] = what end end
check(ok1 and first.failed == M, "journaled cxone batch: " .. tostring(ok1 and first.failed or first))
check(ok2 and second.succeeded == M and verified == M,
  ("journaled rerun: %s ok, %d verified"):format(tostring(ok2 and second.succeeded or second), verified))
check(ok, "batch_update raised: " .. tostring(summary))
if ok then
  check(count == N, ("%d results for %d tasks"):format(count, N))
  check(summary.succeeded == N, ("%d of %d succeeded"):format(summary.succeeded, N))
  check(summary.retried > 0, "no retries happened (error injection not working?)")
  check(summary.token_refreshes >= 2, "the token was never refreshed")
  print(("valgrind_batch: %d tasks, %d ok, %d retries, %d token fetches, %d re-auths, %.1f s"):format(
    N, summary.succeeded, summary.retried, summary.token_refreshes, summary.reauths, summary.elapsed))
end
for _, f in ipairs(failures) do io.stderr:write("valgrind_batch: FAILED: ", f, "\n") end
os.exit(#failures == 0 and 0 or 1, true)
