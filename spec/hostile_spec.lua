-- Hostile and broken servers (build/cxone-hostile): every misbehaviour ends in a clear failed
-- result or a clear batch error, with bounded memory and bounded time. Nothing here may hang:
-- each batch also carries a deadline far above what it needs, and the elapsed time is asserted.
local bulk = require "cxone.bulk"
local HS = require "spec.helpers.hostile"
local E = require "spec.helpers.engine"

local monotime = bulk.sys.monotime
local SAFETY_DEADLINE = 30 -- a hang shows as a failed time assertion, not a stuck suite

-- Runs n tasks; returns summary (nil on a batch error), the error, results by index, seconds.
local function run(n, o)
  local results, count = {}, 0
  o.on_result = function(r)
    assert(results[r.index] == nil, "two results for task " .. r.index)
    results[r.index] = r
    count = count + 1
  end
  o.deadline = o.deadline or SAFETY_DEADLINE
  local t0 = monotime()
  local ok, summary = pcall(bulk.batch_update, E.tasks(n), o)
  local elapsed = monotime() - t0
  assert.are.equal(n, count, "every task must come back exactly once")
  if ok then return summary, nil, results, elapsed end
  return nil, summary, results, elapsed
end

local function each(results, n, fn)
  for i = 1, n do fn(results[i], i) end
end

describe("hostile API server", function()
  local tok -- a well-behaved token endpoint; the API under test is the hostile one
  lazy_setup(function() tok = HS.start { mode = "ok" } end)
  lazy_teardown(function() tok:stop() end)

  local function opts(api, extra)
    local o = { base_url = api.url, token_url = tok.url .. "/oauth2/token", client_id = "c",
                client_secret = "s", workers = 2, max_retries = 1, backoff_base = 0.01,
                backoff_max = 0.02, timeout = 2 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  -- A broken answer to a PUT: the update may or may not have been applied, so the result must
  -- say the outcome is unknown, after the configured retries.
  local function assert_transport_failure(mode, pattern)
    local api = HS.start { mode = mode }
    local summary, err, results, elapsed = run(4, opts(api))
    api:stop()
    assert.is_nil(err)
    assert.are.equal(4, summary.failed)
    assert.is_true(elapsed < 10, "took " .. elapsed .. " s")
    each(results, 4, function(r)
      assert.is_false(r.ok)
      assert.are.equal(0, r.status)
      assert.are.equal(2, r.attempts)
      assert.is_true(r.outcome_unknown)
      assert.matches("^no response %(outcome unknown%): ", r.error)
      assert.matches(pattern, r.error)
      assert.matches("gave up after 2 attempts", r.error, 1, true)
    end)
  end

  it("a connection reset mid-body fails the task with 'outcome unknown'", function()
    assert_transport_failure("reset", "reset by peer")
  end)

  it("garbage chunked encoding fails the task with curl's reason", function()
    assert_transport_failure("bad-chunked", "chunked%-encoding")
  end)

  it("a chunked body cut short fails the task", function()
    assert_transport_failure("truncated-chunked", "outstanding read data remaining")
  end)

  it("a body that trickles forever is cut by the per-attempt timeout", function()
    local api = HS.start { mode = "trickle" }
    local summary, err, results, elapsed = run(2, opts(api, { timeout = 0.5, max_retries = 0 }))
    api:stop()
    assert.is_nil(err)
    assert.are.equal(2, summary.failed)
    assert.is_true(elapsed < 3, "took " .. elapsed .. " s")
    each(results, 2, function(r)
      assert.is_true(r.outcome_unknown)
      assert.matches("timed out", r.error)
    end)
  end)

  it("a server that accepts and never answers: the per-attempt timeout fires", function()
    local api = HS.start { mode = "silent" }
    local summary, err, results, elapsed = run(2, opts(api, { timeout = 0.5, max_retries = 1 }))
    api:stop()
    assert.is_nil(err)
    assert.are.equal(2, summary.failed)
    assert.is_true(elapsed >= 1 and elapsed < 4, "took " .. elapsed .. " s")
    each(results, 2, function(r)
      assert.are.equal(2, r.attempts)
      assert.is_true(r.outcome_unknown)
      assert.matches("timed out after", r.error)
    end)
  end)

  it("a server that never answers cannot hold the batch past opts.deadline", function()
    local api = HS.start { mode = "silent" }
    local summary, err, results, elapsed = run(6, opts(api, { timeout = 60, deadline = 1 }))
    api:stop()
    assert.is_nil(err)
    assert.is_true(elapsed >= 1 and elapsed < 4, "took " .. elapsed .. " s")
    assert.are.equal(6, summary.cancelled)
    each(results, 6, function(r)
      assert.is_false(r.ok)
      assert.is_true(r.cancelled)
      assert.matches("^deadline of 1 s passed", r.error)
    end)
    -- The two in flight may have been applied; the four never sent were not.
    local unknown = 0
    each(results, 6, function(r) if r.outcome_unknown then unknown = unknown + 1 end end)
    assert.are.equal(2, unknown)
  end)

  it("a 10 MB response body is read past, only a capped prefix kept; RSS stays bounded", function()
    local api = HS.start { mode = "huge" }
    local bad = HS.start { mode = "huge", status = 500 }
    collectgarbage()
    local before, peak = HS.rss_kb(), 0
    local function sample() local r = HS.rss_kb(); if r > peak then peak = r end end
    local o = opts(api, { workers = 4, timeout = 10 })
    local summary, err, _, elapsed = run(24, o)
    sample()
    assert.is_nil(err)
    assert.are.equal(24, summary.succeeded) -- 240 MB went by
    local o2 = opts(bad, { workers = 4, timeout = 10, on_event = sample })
    local summary2, err2, results2 = run(8, o2)
    sample()
    api:stop()
    bad:stop()
    assert.is_nil(err2)
    assert.are.equal(8, summary2.failed)
    each(results2, 8, function(r)
      assert.are.equal(500, r.status)
      assert.matches("^HTTP 500: x+", r.error)
      assert.is_true(#r.error < 1024, "error message of " .. #r.error .. " bytes")
    end)
    -- Keeping one 10 MB body per worker would add 40 MB; the 64 KiB cap keeps it near zero.
    assert.is_true(peak - before < 16 * 1024, ("RSS grew %d KiB (from %d)"):format(peak - before, before))
    assert.is_true(elapsed < 20, "took " .. elapsed .. " s")
  end)

  for _, status in ipairs { 302, 307 } do
    it(("a %d to another port is not followed: the other server sees nothing"):format(status), function()
      local target = HS.start { mode = "ok" }
      local api = HS.start { mode = "redirect", status = status,
                             location = target.url .. "/api/v2/contacts/contact-000001" }
      local summary, err, results = run(3, opts(api))
      local seen, target_seen = api:requests(), target:requests()
      api:stop()
      target:stop()
      assert.is_nil(err)
      assert.are.equal(3, summary.failed)
      each(results, 3, function(r)
        assert.is_false(r.ok)
        assert.are.equal(status, r.status)
        assert.are.equal(1, r.attempts)
        assert.matches("^HTTP " .. status, r.error)
      end)
      assert.are.equal(3, #seen)
      assert.are.equal("bearer", seen[1].auth)
      assert.are.same({}, target_seen)
    end)
  end
end)

describe("hostile token endpoint", function()
  local api -- accepts any bearer token, so a token the engine accepts can be used
  lazy_setup(function() api = HS.start { mode = "ok" } end)
  lazy_teardown(function() api:stop() end)

  local function opts(tok, extra)
    local o = { base_url = api.url, token_url = tok.url .. "/oauth2/token", client_id = "c",
                client_secret = "s", workers = 2, max_retries = 1, backoff_base = 0.01,
                backoff_max = 0.02, timeout = 2 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  -- A token response the engine must refuse: the batch raises naming the problem, every task
  -- comes back aborted, and no update reaches the API.
  local function assert_refused(tok_opts, pattern)
    local tok = HS.start(tok_opts)
    local puts_before = #api:requests()
    local summary, err, results, elapsed = run(5, opts(tok))
    local token_requests = #tok:requests()
    tok:stop()
    assert.is_nil(summary)
    assert.matches("^cxone%.bulk: ", err)
    assert.matches(pattern, err)
    assert.is_true(elapsed < 5, "took " .. elapsed .. " s")
    each(results, 5, function(r)
      assert.is_false(r.ok)
      assert.is_true(r.cancelled)
      assert.matches("^batch aborted: ", r.error)
      assert.matches(pattern, r.error)
    end)
    assert.are.equal(1, token_requests) -- a bad response is fatal: not retried in a loop
    assert.are.equal(puts_before, #api:requests())
  end

  it("refuses a response that is not JSON", function()
    assert_refused({ mode = "ok", token_body = "<html><body>502 Bad Gateway</body></html>" },
      "not a JSON object")
  end)

  it("refuses an empty response", function()
    assert_refused({ mode = "ok", token_body = "" }, "not a JSON object")
  end)

  it("refuses a 10 MB response (only a capped prefix is read)", function()
    assert_refused({ mode = "huge" }, "not a JSON object")
  end)

  it("refuses a response without access_token", function()
    assert_refused({ mode = "ok", token_body = '{"token_type":"bearer","expires_in":3600}' },
      "no access_token")
  end)

  it("refuses an access_token too long or with characters a header cannot carry", function()
    assert_refused({ mode = "ok", token_body = '{"access_token":"' .. ("a"):rep(5000) .. '"}' },
      "longer than 4095 bytes")
    assert_refused({ mode = "ok", token_body = '{"access_token":"abc\\r\\nX-Injected: 1"}' },
      "characters not allowed")
  end)

  it("refuses expires_in zero, negative or not a number", function()
    assert_refused({ mode = "ok", token_body = '{"access_token":"abc","expires_in":0}' },
      "expires_in must be positive %(got 0%)")
    assert_refused({ mode = "ok", token_body = '{"access_token":"abc","expires_in":-30}' },
      "expires_in must be positive %(got %-30%)")
    assert_refused({ mode = "ok", token_body = '{"access_token":"abc","expires_in":"3600"}' },
      "expires_in is not a number")
  end)

  it("accepts a missing or huge expires_in (default and capped lifetime): one token for the batch", function()
    for _, body in ipairs { '{"access_token":"abc"}', '{"access_token":"abc","expires_in":1e300}' } do
      local tok = HS.start { mode = "ok", token_body = body }
      local summary, err = run(6, opts(tok))
      local token_requests = #tok:requests()
      tok:stop()
      assert.is_nil(err)
      assert.are.equal(6, summary.succeeded)
      assert.are.equal(1, summary.token_refreshes)
      assert.are.equal(1, token_requests)
    end
  end)

  it("a token endpoint that never answers fails the tasks after the retries, no hang", function()
    local tok = HS.start { mode = "silent" }
    local summary, err, results, elapsed = run(2, opts(tok, { timeout = 0.5 }))
    tok:stop()
    assert.is_nil(err)
    assert.are.equal(2, summary.failed)
    assert.is_true(elapsed < 5, "took " .. elapsed .. " s")
    each(results, 2, function(r)
      assert.is_false(r.ok)
      assert.are.equal(0, r.attempts) -- no PUT was ever sent
      assert.matches("token request failed: .*timed out", r.error)
    end)
  end)

  it("a token endpoint that resets the connection fails the tasks with the reason", function()
    local tok = HS.start { mode = "reset" }
    local summary, err, results = run(2, opts(tok))
    tok:stop()
    assert.is_nil(err)
    assert.are.equal(2, summary.failed)
    each(results, 2, function(r) assert.matches("token request failed: .*reset by peer", r.error) end)
  end)

  it("a token endpoint redirect is not followed: the secret never reaches the other server", function()
    for _, status in ipairs { 302, 307 } do
      local target = HS.start { mode = "ok" }
      local tok = HS.start { mode = "redirect", status = status, location = target.url .. "/oauth2/token" }
      local summary, err = run(3, opts(tok))
      local target_seen = target:requests()
      tok:stop()
      target:stop()
      assert.is_nil(summary)
      assert.matches("token endpoint answered HTTP " .. status, err)
      assert.are.same({}, target_seen)
    end
  end)
end)
