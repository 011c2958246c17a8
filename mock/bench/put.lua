-- wrk script: keep-alive PUT /api/v2/contacts/{id} with a fresh Idempotency-Key per
-- request, a valid bearer token and a JSON outcome body.
--   TOKEN=<access token> CONTACTS=100000 wrk -t2 -c10 -d10s -s mock/bench/put.lua http://127.0.0.1:PORT
-- Every request must mutate: done() prints how many answers were not 200.

local token = os.getenv("TOKEN") or error("set TOKEN to an access token")
local contacts = tonumber(os.getenv("CONTACTS") or "1000")
local nonce = os.getenv("NONCE") or tostring(os.time())

local outcomes = {
  '{"outcome":{"category":"Contacted","subcategory":"Information Provided"}}',
  '{"outcome":{"category":"Contacted","subcategory":"Callback Requested"}}',
  '{"outcome":{"category":"Not Contacted","subcategory":"No Answer"}}',
  '{"outcome":{"category":"Not Contacted","subcategory":"Voicemail"}}',
}

local threads = {}
local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
  table.insert(threads, thread)
end

-- not_ok is global: done() reads it from each thread with thread:get().
local counter, prefix, bodies
not_ok = 0

-- Requests are assembled by hand (not wrk.format) so the client spends as little CPU as
-- possible: client and server share the same two cores.
function init(args)
  counter = 0
  not_ok = 0
  local host = wrk.host .. ":" .. tostring(wrk.port)
  prefix = " HTTP/1.1\r\nHost: " .. host .. "\r\nAuthorization: Bearer " .. token ..
           "\r\nContent-Type: application/json\r\n"
  bodies = {}
  for i, b in ipairs(outcomes) do
    bodies[i] = "Content-Length: " .. #b .. "\r\n\r\n" .. b
  end
end

function request()
  counter = counter + 1
  local n = counter * 7919 + tid
  return "PUT /api/v2/contacts/contact-" .. string.format("%06d", n % contacts + 1) .. prefix ..
         "Idempotency-Key: bench-" .. nonce .. "-" .. tid .. "-" .. counter .. "\r\n" ..
         bodies[n % #bodies + 1]
end

function response(status, hdrs, body)
  if status ~= 200 then
    not_ok = not_ok + 1
  end
end

function done(summary, latency, requests)
  local bad = 0
  for _, t in ipairs(threads) do
    bad = bad + (t:get("not_ok") or 0)
  end
  io.write(string.format("requests: %d, non-200 answers: %d, socket errors: connect %d read %d write %d timeout %d\n",
    summary.requests, bad, summary.errors.connect, summary.errors.read, summary.errors.write,
    summary.errors.timeout))
end
