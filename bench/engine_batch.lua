-- One engine batch for the benchmarks: streams N generated tasks through bulk.batch_update and
-- prints one line "BENCH-JSON {...}" with what happened. Exit 1 when any task failed.
--   lua5.4 bench/engine_batch.lua --url URL --tasks N --workers W [--rate R --burst B]
--          [--callback none|trivial] [--batch-id ID] [--queue-size Q] [--gc stop]
--          [--shared-limit NAME|redis://...]
-- Credentials: the mock's demo-client / demo-secret unless CXONE_CLIENT_ID/SECRET are set.
local bulk = require "cxone.bulk"
local cjson = require "cjson"

-- Unthrottled means the highest rate and burst the option table allows (lua/cxone/bulk/options.lua:
-- 100,000/s), well above what one machine's loopback reaches.
local limits = require("cxone.bulk.options").BY_NAME
local opt = { rate = limits.rate.max, burst = limits.burst.max, callback = "trivial", ["batch-id"] = "bench", gc = "default" }
local i = 1
while i <= #arg do
  local k = arg[i]:match("^%-%-(.+)$")
  if not k or arg[i + 1] == nil then
    io.stderr:write("engine_batch: bad argument " .. tostring(arg[i]) .. "\n")
    os.exit(2)
  end
  opt[k] = arg[i + 1]
  i = i + 2
end
local n = tonumber(opt.tasks)
if not opt.url or not n or not tonumber(opt.workers) then
  io.stderr:write("engine_batch: --url, --tasks and --workers are required\n")
  os.exit(2)
end
if opt.callback ~= "none" and opt.callback ~= "trivial" then
  io.stderr:write("engine_batch: --callback must be none or trivial\n")
  os.exit(2)
end
if opt.gc ~= "default" and opt.gc ~= "stop" then
  io.stderr:write("engine_batch: --gc must be default or stop\n")
  os.exit(2)
end

-- The same four outcomes the wrk script cycles through, so both send the same body shapes.
local outcomes = {
  { "Contacted", "Information Provided" }, { "Contacted", "Callback Requested" },
  { "Not Contacted", "No Answer" }, { "Not Contacted", "Voicemail" },
}
local next_index = 0
local function tasks()
  next_index = next_index + 1
  if next_index > n then return nil end
  local o = outcomes[next_index % 4 + 1]
  return { contact_id = string.format("contact-%07d", next_index), category = o[1], subcategory = o[2] }
end

local opts = {
  base_url = opt.url,
  client_id = os.getenv("CXONE_CLIENT_ID") or "demo-client",
  client_secret = os.getenv("CXONE_CLIENT_SECRET") or "demo-secret",
  workers = tonumber(opt.workers), rate = tonumber(opt.rate), burst = tonumber(opt.burst),
  batch_id = opt["batch-id"], queue_size = tonumber(opt["queue-size"]),
  shared_limit = opt["shared-limit"],
}
-- "trivial" is the cheapest callback a caller can give: it only counts.
local seen = 0
if opt.callback == "trivial" then opts.on_result = function() seen = seen + 1 end end

-- The callback-overhead measure stops the collector so that two runs differ by the callback's
-- own instructions, not by where the collector's cycles happened to fall.
if opt.gc == "stop" then collectgarbage("stop") end
local t0 = bulk.sys.monotime()
local s = bulk.batch_update(tasks, opts)
local elapsed = bulk.sys.monotime() - t0

io.write("BENCH-JSON ", cjson.encode({
  tasks = n, succeeded = s.succeeded, failed = s.failed, requests = s.requests, retried = s.retried,
  callbacks = seen, elapsed = elapsed, rps = n / elapsed, by_status = s.by_status,
}), "\n")
os.exit(s.succeeded == n and 0 or 1)
