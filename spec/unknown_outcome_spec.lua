-- outcome_unknown is sticky (issue 11, item 4): once any attempt of a task's PUT may have been
-- applied without a definitive answer (no HTTP answer, or a 5xx), the final result says so,
-- whatever later attempts return, unless a later attempt succeeded. A cancelled task whose
-- earlier attempt reached the server never says it was cancelled "before it was sent".
-- Server-side evidence: the hostile server's request log, the mock's mutation counts.
local bulk = require "cxone.bulk"
local HS = require "spec.helpers.hostile"
local Mock = require "spec.helpers.mock"
local E = require "spec.helpers.engine"

-- libcurl re-sends a request by itself, once, when a reused keep-alive connection closes before
-- any answer; the token comes from a server of its own so the first PUT's connection is fresh
-- and its unanswered attempt is one the engine sees.
local tok
local function run_one(api, extra)
  local results = {}
  local o = { base_url = api.url, token_url = tok.url .. "/oauth2/token", client_id = "c",
              client_secret = "s", workers = 1, max_retries = 2, backoff_base = 0.01,
              backoff_max = 0.02, timeout = 5, deadline = 30,
              on_result = function(r) results[#results + 1] = r end }
  for k, v in pairs(extra or {}) do o[k] = v end
  local summary = bulk.batch_update(E.tasks(1), o)
  assert.are.equal(1, #results)
  return results[1], summary
end

local function puts(srv)
  local n = 0
  for _, r in ipairs(srv:requests()) do if r.method == "PUT" then n = n + 1 end end
  return n
end

describe("outcome_unknown after an attempt that may have been applied", function()
  lazy_setup(function() tok = HS.start { mode = "ok" } end)
  lazy_teardown(function() tok:stop() end)

  it("first PUT unanswered, then 503 until retries run out: unknown, and says so", function()
    local api = HS.start { mode = "drop-first", drops = 1, status = 503 }
    local r = run_one(api)
    local seen = puts(api)
    api:stop()
    assert.are.equal(3, seen) -- server side: all three attempts arrived
    assert.are.equal(3, r.attempts)
    assert.are.equal(503, r.status)
    assert.is_false(r.ok)
    assert.is_true(r.outcome_unknown, r.error)
    assert.matches("gave up after 3 attempts", r.error, 1, true)
    assert.matches("attempt 1 may have been applied (no answer", r.error, 1, true)
    assert.matches("outcome unknown", r.error, 1, true)
  end)

  it("first PUT unanswered, then 429s (definitive, but too late): still unknown", function()
    local api = HS.start { mode = "drop-first", drops = 1, status = 429 }
    local r = run_one(api)
    local seen = puts(api)
    api:stop() -- before any assertion: a server left running would hang busted at exit
    assert.are.equal(3, seen)
    assert.are.equal(429, r.status)
    assert.is_true(r.outcome_unknown, r.error)
    assert.matches("attempt 1 may have been applied", r.error, 1, true)
  end)

  it("first PUT unanswered, then a 400: still unknown", function()
    local api = HS.start { mode = "drop-first", drops = 1, status = 400 }
    local r = run_one(api)
    local seen = puts(api)
    api:stop()
    assert.are.equal(2, seen)
    assert.are.equal(400, r.status)
    assert.is_true(r.outcome_unknown, r.error)
  end)

  it("first PUT unanswered, then a success: ok, and nothing unknown", function()
    local api = HS.start { mode = "drop-first", drops = 1, status = 200 }
    local r = run_one(api)
    api:stop()
    assert.is_true(r.ok)
    assert.is_nil(r.outcome_unknown)
    assert.is_nil(r.error)
  end)

  it("only 503s: a 5xx may have been applied, so unknown", function()
    local api = HS.start { mode = "ok", status = 503 }
    local r = run_one(api)
    api:stop()
    assert.are.equal(503, r.status)
    assert.is_true(r.outcome_unknown, r.error)
    assert.matches("attempt 1 may have been applied (HTTP 503)", r.error, 1, true)
  end)

  for _, status in ipairs { 404, 400, 429, 409 } do
    it("only " .. status .. "s: definitive, outcome_unknown is false", function()
      local api = HS.start { mode = "ok", status = status }
      local r = run_one(api)
      api:stop()
      assert.are.equal(status, r.status)
      assert.is_false(r.ok)
      assert.is_nil(r.outcome_unknown, r.error)
      assert.is_nil(r.error:find("unknown", 1, true), r.error)
    end)
  end
end)

describe("a task cancelled while its retry waits", function()
  local m = Mock.shared { "--rate", "0", "--drop-after-mutate", "1" }

  it("on the limiter: attempts = 1, unknown, and never 'before it was sent'", function()
    m:reset()
    local results, retried = {}, false
    -- Burst 2 at 0.5/s: the token request and the first PUT go at once, the retry waits ~2 s.
    -- The token URL names the mock as "localhost", so the PUT does not reuse the token's
    -- connection (libcurl would silently re-send it there, see above).
    local job = bulk.start(E.tasks(1), { base_url = m.url, client_id = "demo-client",
      token_url = "http://localhost:" .. m.port .. "/oauth2/token",
      client_secret = "demo-secret", workers = 1, rate = 0.5, burst = 2, max_retries = 3,
      backoff_base = 0.001, backoff_max = 0.001, timeout = 5,
      on_event = function(e) if e.type == "retry" then retried = true end end,
      on_result = function(r) results[#results + 1] = r end })
    local t0 = bulk.sys.monotime()
    while not retried and bulk.sys.monotime() - t0 < 10 do job:poll(0.02) end
    assert.is_true(retried, "the first PUT was never retried")
    job:cancel("operator interrupt")
    while not job:done() do job:poll(0.5) end
    job:close()
    assert.are.equal(1, #results)
    local r = results[1]
    -- Server side: the one PUT that went out was applied (and its answer dropped).
    assert.are.equal(1, m:stats().total_mutations)
    assert.are.equal(1, r.attempts)
    assert.is_true(r.cancelled)
    assert.is_true(r.outcome_unknown, r.error)
    assert.is_nil(r.error:find("before it was sent", 1, true), r.error)
    assert.matches("^operator interrupt: cancelled before attempt 2 was sent; attempt 1 may have been "
      .. "applied %(no answer", r.error)
    assert.matches("outcome unknown", r.error, 1, true)
  end)

  it("a task never sent still says so, with outcome_unknown false", function()
    m:reset()
    local results = {}
    local job = bulk.start(E.tasks(3), { base_url = m.url, client_id = "demo-client",
      client_secret = "demo-secret", workers = 1, rate = 0.2, burst = 1, timeout = 5,
      on_result = function(r) results[#results + 1] = r end })
    job:poll(0.1)
    job:cancel("stop")
    while not job:done() do job:poll(0.5) end
    job:close()
    assert.are.equal(3, #results)
    assert.are.equal(0, m:stats().total_mutations)
    for _, r in ipairs(results) do
      assert.are.equal(0, r.attempts)
      assert.is_nil(r.outcome_unknown)
      assert.matches("^stop: cancelled before it was sent", r.error)
    end
  end)
end)
