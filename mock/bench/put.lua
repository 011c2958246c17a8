-- wrk script: keep-alive PUT /api/v2/contacts/{id} with a fresh Idempotency-Key per
-- request, a valid bearer token and a JSON outcome body.
--   TOKEN=<access token> CONTACTS=100000 wrk -t2 -c10 -d10s -s mock/bench/put.lua http://127.0.0.1:PORT
-- Every request must mutate: wrk reports "Non-2xx or 3xx responses" if any answer was not 2xx,
-- and run.sh prints the mock's counters (total_mutations = requests sent). There is no
-- response() callback on purpose: it makes wrk build a Lua table per answer, which costs the
-- client (sharing the same two cores as the server) about 15 % of its throughput.

local token = os.getenv("TOKEN") or error("set TOKEN to an access token")
local contacts = tonumber(os.getenv("CONTACTS") or "1000")
local nonce = os.getenv("NONCE") or tostring(os.time())

local outcomes = {
  '{"outcome":{"category":"Contacted","subcategory":"Information Provided"}}',
  '{"outcome":{"category":"Contacted","subcategory":"Callback Requested"}}',
  '{"outcome":{"category":"Not Contacted","subcategory":"No Answer"}}',
  '{"outcome":{"category":"Not Contacted","subcategory":"Voicemail"}}',
}

local next_id = 0

function setup(thread)
  next_id = next_id + 1
  thread:set("tid", next_id)
end

local counter, prefix, bodies

-- Requests are assembled by hand (not wrk.format) so the client spends as little CPU as
-- possible: client and server share the same two cores.
function init(args)
  counter = 0
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
