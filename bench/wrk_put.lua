-- wrk script: the loopback ceiling for bench/run.lua. Sends byte for byte the request the engine
-- sends (same header names and order, a bearer token, a 36-character Idempotency-Key fresh for
-- every request, the same four JSON outcome bodies, contact ids contact-NNNNNNN) over keep-alive
-- connections, without parsing the answers beyond the status line.
--   TOKEN=<access token> NONCE=<int> wrk -t2 -c8 -d3s -s bench/wrk_put.lua http://127.0.0.1:PORT
-- Adapted from mock/bench/put.lua. done() prints "BENCH-JSON {...}" for the driver.

local token = os.getenv("TOKEN") or error("set TOKEN to an access token")
local nonce = tonumber(os.getenv("NONCE") or "0") % 0x100000000

local outcomes = {
  '{"outcome":{"category":"Contacted","subcategory":"Information Provided"}}',
  '{"outcome":{"category":"Contacted","subcategory":"Callback Requested"}}',
  '{"outcome":{"category":"Not Contacted","subcategory":"No Answer"}}',
  '{"outcome":{"category":"Not Contacted","subcategory":"Voicemail"}}',
}

local threads = {}
local next_tid = 0

function setup(thread)
  next_tid = next_tid + 1
  thread:set("tid", next_tid)
  table.insert(threads, thread)
end

-- not_ok is global so done() can read it from each thread with thread:get().
local counter, prefix, bodies
not_ok = 0

-- Requests are assembled by hand (not wrk.format) so wrk spends as little CPU as possible.
function init(args)
  counter = 0
  not_ok = 0
  prefix = " HTTP/1.1\r\nHost: " .. wrk.host .. ":" .. tostring(wrk.port) ..
           "\r\nUser-Agent: cxone-bulk\r\nAuthorization: Bearer " .. token ..
           "\r\nAccept: application/json\r\nContent-Type: application/json\r\nIdempotency-Key: "
  bodies = {}
  for i, b in ipairs(outcomes) do
    bodies[i] = "\r\nContent-Length: " .. #b .. "\r\n\r\n" .. b
  end
end

function request()
  counter = counter + 1
  -- Each thread numbers its own contacts: tid in the top digit keeps threads apart.
  local n = tid * 1000000 + counter
  -- UUID-shaped (8-4-4-4-12), unique per nonce, thread and request.
  local key = string.format("%08x-%04x-5000-8000-%012x", nonce, tid, counter)
  return "PUT /api/v2/contacts/contact-" .. string.format("%07d", n % 10000000) .. prefix ..
         key .. bodies[counter % 4 + 1]
end

function response(status, headers, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("not_ok") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH-JSON {"requests":%d,"duration_us":%d,"non_200":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"status":%d}\n',
    summary.requests, summary.duration, bad, e.connect, e.read, e.write, e.timeout, e.status))
end
