-- The engine against the mock CXone server over loopback: exactly-once effect proven with the
-- mock's server-side mutation counts.
local bulk = require "cxone.bulk"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"

local function all_ok(results, n)
  local bad = {}
  for i = 1, n do
    local r = results[i]
    if not r then bad[#bad + 1] = "task " .. i .. ": no result"
    elseif not r.ok then bad[#bad + 1] = "task " .. i .. ": " .. tostring(r.error) end
    if #bad > 5 then break end
  end
  assert.are.same({}, bad)
end

local function assert_once_each(stats, n)
  assert.are.equal(n, stats.distinct_mutated)
  assert.are.equal(n, stats.total_mutations)
  assert.are.equal(1, stats.max_mutations_per_contact)
end

describe("batch_update without faults", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "2000" }

  it("gives 2,000 ok results and the server mutates every contact exactly once", function()
    local summary, results, count = H.run(H.tasks(2000), H.opts(m))
    assert.are.equal(2000, count)
    all_ok(results, 2000)
    assert.are.equal(2000, summary.total)
    assert.are.equal(2000, summary.succeeded)
    assert.are.equal(0, summary.failed)
    assert.are.equal(2000, summary.by_status["200"])
    assert_once_each(m:stats(), 2000)
    local r = results[1]
    assert.are.equal("contact-000001", r.contact_id)
    assert.are.equal(200, r.status)
    assert.are.equal(1, r.attempts)
    assert.is_nil(r.error)
    assert.is_string(r.idempotency_key)
    assert.is_false(r.replayed)
    assert.is_number(r.elapsed)
  end)

  it("rerunning the same input with the same batch_id mutates nothing new", function()
    m:reset()
    local tasks = H.tasks(300)
    H.run(tasks, H.opts(m, { batch_id = "rerun-1" }))
    local before = m:stats().total_mutations
    local summary, results = H.run(tasks, H.opts(m, { batch_id = "rerun-1" }))
    assert.are.equal(300, summary.succeeded)
    assert.are.equal(300, summary.replayed)
    assert.is_true(results[7].replayed)
    assert.are.equal(before, m:stats().total_mutations)
  end)

  it("derives keys from batch_id, contact and body: a different batch_id is a new mutation", function()
    m:reset()
    local a = bulk.describe(H.tasks(1)[1], H.opts(m, { batch_id = "a" }))
    local a2 = bulk.describe(H.tasks(1)[1], H.opts(m, { batch_id = "a" }))
    local b = bulk.describe(H.tasks(1)[1], H.opts(m, { batch_id = "b" }))
    assert.are.equal(a.idempotency_key, a2.idempotency_key)
    assert.are_not.equal(a.idempotency_key, b.idempotency_key)
    assert.matches("^%x+%-%x+%-5%x+%-[89ab]%x+%-%x+$", a.idempotency_key)
    assert.are.equal('{"outcome":{"category":"Contacted","subcategory":"Information Provided"}}', a.body)
    assert.are.equal(m.url .. "/api/v2/contacts/contact-000001", a.url)
  end)

  it("uses the task's own idempotency key when given", function()
    m:reset()
    local t = H.tasks(2)
    t[1].idempotency_key = "my-key-1"
    t[2].idempotency_key = "my-key-1" -- same key, different contact: the server answers 422
    local _, results = H.run(t, H.opts(m, { workers = 1 }))
    assert.are.equal("my-key-1", results[1].idempotency_key)
    assert.is_true(results[1].ok)
    assert.is_false(results[2].ok)
    assert.are.equal(422, results[2].status)
    assert.are.equal(1, results[2].attempts)
  end)

  it("percent-encodes contact ids into the path", function()
    local d = bulk.describe({ contact_id = "a/b c?..", category = "X", subcategory = "Y" }, H.opts(m))
    assert.are.equal(m.url .. "/api/v2/contacts/a%2Fb%20c%3F..", d.url)
  end)
end)

describe("rate limiting", function()
  local m = Mock.shared { "--rate", "40", "--burst", "10", "--contacts", "200" }

  it("with the server's limit below the client's rate: all ok, no duplicates, bounded windows", function()
    local opts = H.opts(m, { rate = 60, burst = 10, max_retries = 30, backoff_base = 0.05, backoff_max = 0.5 })
    local summary, results = H.run(H.tasks(200), opts)
    all_ok(results, 200)
    local stats = m:stats()
    assert_once_each(stats, 200)
    assert.is_true(summary.http_429 > 0, "the server should have throttled some requests")
    assert.are.equal(summary.http_429, stats.requests.by_status["429"])
    -- The client's own bucket bounds what reaches the server: burst + rate per second.
    assert.is_true(H.max_in_window(stats.api_request_ms, 1000) <= 10 + 60,
      "max requests in 1 s: " .. H.max_in_window(stats.api_request_ms, 1000))
  end)
end)

describe("faults", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "600" }
  before_each(function()
    m:reset()
    m:config { error_rate = 0, drop_after_mutate = 0, late_after_mutate = 0, latency_ms = 0 }
  end)

  it("30% of requests answered 503: every task ends ok, each contact mutated once", function()
    m:config { error_rate = 0.3, error_statuses = { 503 } }
    local summary, results = H.run(H.tasks(600), H.opts(m, { max_retries = 12 }))
    all_ok(results, 600)
    assert_once_each(m:stats(), 600)
    assert.is_true(summary.http_5xx > 100)
    assert.is_true(summary.retried >= summary.http_5xx)
  end)

  it("mutate then drop the connection: ok results, exactly one mutation each, replays seen", function()
    m:config { drop_after_mutate = 0.2 }
    local summary, results = H.run(H.tasks(600), H.opts(m, { max_retries = 8 }))
    all_ok(results, 600)
    local stats = m:stats()
    assert_once_each(stats, 600)
    assert.is_true(stats.dropped > 50)
    -- Every dropped answer is recovered by resending the same key (libcurl itself resends once
    -- on a reused connection that died unanswered; the engine retries the rest): the server
    -- replays each exactly once.
    local replayed = 0
    for i = 1, 600 do if results[i].replayed then replayed = replayed + 1 end end
    assert.are.equal(stats.dropped, replayed)
    assert.are.equal(replayed, summary.replayed)
    assert.are.equal(stats.dropped, stats.replays)
  end)

  it("mutate then answer late: timeouts retried, 409 while in progress, one mutation each", function()
    m:config { late_after_mutate = 1, late_seconds = 1.2 }
    local summary, results = H.run(H.tasks(30), H.opts(m, { timeout = 0.4, max_retries = 20,
      backoff_base = 0.2, backoff_max = 0.4, workers = 10 }))
    all_ok(results, 30)
    assert_once_each(m:stats(), 30)
    assert.is_true(summary.transport_errors >= 30)
    for i = 1, 30 do assert.is_true(results[i].replayed, "task " .. i .. " should be a replay") end
  end)

  it("a long Retry-After pauses the whole pool: the server sees nothing during the pause", function()
    m:config { once_429_retry_after = 2 }
    local events = {}
    local summary, results = H.run(H.tasks(100), H.opts(m, { pause_threshold = 1, workers = 8,
      on_event = function(e) events[#events + 1] = e end }))
    all_ok(results, 100)
    assert.are.equal(1, summary.pauses)
    local t = m:stats().api_request_ms
    -- The throttled request is the first one; the next one may come only after the pause.
    local gap = 0
    for i = 2, #t do if t[i] - t[i - 1] > gap then gap = t[i] - t[i - 1] end end
    assert.is_true(gap >= 1900, "largest gap between API requests: " .. gap .. " ms")
    local paused
    for _, e in ipairs(events) do if e.type == "pause" then paused = e end end
    assert.is_truthy(paused)
    assert.are.equal(2, paused.delay)
  end)
end)

describe("OAuth2 tokens", function()
  it("tokens expiring every 2 s through a 5 s batch: no failure, refreshed ahead of expiry", function()
    local m = Mock.start { "--rate", "0", "--contacts", "250", "--expires-in", "2" }
    finally(function() m:stop() end)
    local summary, results = H.run(H.tasks(250), H.opts(m, { rate = 50, burst = 5 }))
    all_ok(results, 250)
    assert.is_true(summary.token_refreshes >= 3, "refreshes: " .. summary.token_refreshes)
    assert.are.equal(0, summary.by_status["401"] or 0)
    assert.is_true(summary.token_refreshes <= 6, "no refetch storm: " .. summary.token_refreshes)
  end)

  it("tokens revoked mid-batch: one refresh, one retry, no failure", function()
    local m = Mock.start { "--rate", "0", "--contacts", "300" }
    finally(function() m:stop() end)
    local job = bulk.start(H.tasks(300), H.opts(m, { rate = 200, burst = 10 }))
    local got, revoked = 0, false
    while not job:done() do
      got = got + #job:poll(0.05)
      if got >= 50 and not revoked then m:config { revoke_tokens = true }; revoked = true end
    end
    local s = job:summary()
    job:close()
    assert.are.equal(300, s.succeeded)
    assert.is_true(s.reauths >= 1)
    assert.is_true(s.token_refreshes >= 2)
    assert_once_each(m:stats(), 300)
  end)

  it("wrong secret: error before any PUT, and the secret appears nowhere", function()
    local m = Mock.start { "--rate", "0" }
    finally(function() m:stop() end)
    local secret = "s3cr3t-that-must-not-leak"
    local ok, err = pcall(bulk.batch_update, H.tasks(20), H.opts(m, { client_secret = secret }))
    assert.is_false(ok)
    assert.matches("401", err)
    assert.matches("CXONE_CLIENT_SECRET", err)
    assert.is_nil(err:find(secret, 1, true))
    assert.are.equal(0, m:stats().requests.by_route["PUT /api/v2/contacts"] or 0)
  end)

  it("HTTP Basic client authentication works too", function()
    local m = Mock.start { "--rate", "0", "--contacts", "5" }
    finally(function() m:stop() end)
    local summary = bulk.batch_update(H.tasks(5), H.opts(m, { basic_auth = true }))
    assert.are.equal(5, summary.succeeded)
  end)

  it("a token without contact:update: error naming the scope, zero PUTs", function()
    local m = Mock.start { "--rate", "0", "--scope", "contact:read" }
    finally(function() m:stop() end)
    local ok, err = pcall(bulk.batch_update, H.tasks(20), H.opts(m))
    assert.is_false(ok)
    assert.matches("contact:update", err)
    assert.are.equal(0, m:stats().requests.by_route["PUT /api/v2/contacts"] or 0)
  end)
end)

describe("answers that are not retried", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "10" }

  it("404 and 400: failed results with the status and the server's message, sent once", function()
    m:reset()
    local tasks = {
      { contact_id = "no-such-contact", category = "Contacted", subcategory = "Information Provided" },
      { contact_id = "contact-000001", category = "Contacted", subcategory = "Not A Real Outcome" },
    }
    local summary, results = H.run(tasks, H.opts(m))
    assert.are.equal(404, results[1].status)
    assert.are.equal(1, results[1].attempts)
    assert.matches("404", results[1].error)
    assert.are.equal(400, results[2].status)
    assert.are.equal(1, results[2].attempts)
    assert.matches("Not A Real Outcome", results[2].error)
    assert.are.equal(2, summary.failed)
    assert.are.equal(2, m:stats().requests.by_route["PUT /api/v2/contacts"])
  end)
end)

describe("callbacks and lifecycle", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "2000", "--latency-ms", "5" }

  it("on_result raising: the error surfaces, nothing is sent after it, threads are joined", function()
    local base = H.thread_count()
    local seen = 0
    local ok, err = pcall(bulk.batch_update, H.tasks(2000), H.opts(m, { rate = 500, on_result = function()
      seen = seen + 1
      if seen == 20 then error("callback exploded") end
    end }))
    assert.is_false(ok)
    assert.matches("callback exploded", err)
    assert.are.equal(base, H.thread_count())
    local after = m:stats().requests.total
    os.execute("sleep 0.3")
    assert.are.equal(after, m:stats().requests.total)
    assert.is_true(after < 200)
  end)

  it("poll(0) never blocks and results arrive incrementally", function()
    m:reset()
    local job = bulk.start(H.tasks(200), H.opts(m, { rate = 400, workers = 4 }))
    local sizes, longest, total = {}, 0, 0
    while not job:done() do
      local t0 = bulk.sys.monotime()
      local r = job:poll(0)
      local dt = bulk.sys.monotime() - t0
      if dt > longest then longest = dt end
      if #r > 0 then sizes[#sizes + 1] = #r; total = total + #r end
      os.execute("sleep 0.02")
    end
    job:close()
    assert.are.equal(200, total)
    assert.is_true(#sizes > 3, "results should come in several polls")
    assert.is_true(longest < 0.05, "poll(0) took " .. longest .. " s")
  end)

  it("cancel returns at once; every task still gets one result; in-flight ones say unknown", function()
    m:reset()
    m:config { latency_ms = 300 }
    local job = bulk.start(H.tasks(100), H.opts(m, { workers = 4 }))
    local results = {}
    local function take(list) for _, r in ipairs(list) do results[#results + 1] = r end end
    take(job:poll(0.1))
    local t0 = bulk.sys.monotime()
    job:cancel()
    assert.is_true(bulk.sys.monotime() - t0 < 0.05)
    while not job:done() do take(job:poll(0.5)) end
    job:close()
    m:config { latency_ms = 5 }
    assert.are.equal(100, #results)
    local cancelled, unknown = 0, 0
    for _, r in ipairs(results) do
      if r.cancelled then cancelled = cancelled + 1 end
      if r.outcome_unknown then unknown = unknown + 1; assert.matches("unknown", r.error) end
    end
    assert.is_true(cancelled >= 90)
    assert.is_true(unknown >= 1)
  end)

  it("cancel with an iterator: it is not read again, and every task it gave comes back once", function()
    m:reset()
    m:config { latency_ms = 300 }
    local reads, all = 0, H.tasks(1000)
    local job = bulk.start(function()
      reads = reads + 1
      return all[reads]
    end, H.opts(m, { workers = 2 }))
    local results = {}
    local function take(list) for _, r in ipairs(list) do results[#results + 1] = r end end
    take(job:poll(0.1))
    job:cancel()
    local read_at_cancel = reads
    while not job:done() do take(job:poll(0.5)) end
    job:close()
    m:config { latency_ms = 5 }
    assert.are.equal(read_at_cancel, reads)
    assert.is_true(reads < 1000)
    assert.are.equal(reads, #results)
    local seen = {}
    for _, r in ipairs(results) do
      assert.is_nil(seen[r.index], "two results for task " .. r.index)
      seen[r.index] = true
    end
  end)

  it("opts.deadline stops the batch: unsent tasks come back cancelled, saying so", function()
    m:reset()
    m:config { latency_ms = 200 }
    local t0 = bulk.sys.monotime()
    local summary, results, count = H.run(H.tasks(100), H.opts(m, { workers = 2, deadline = 0.5 }))
    m:config { latency_ms = 5 }
    assert.is_true(bulk.sys.monotime() - t0 < 2.5)
    assert.are.equal(100, count)
    assert.is_true(summary.cancelled >= 90)
    assert.matches("deadline of 0.5 s passed", results[100].error, 1, true)
  end)

  it("a job dropped without close is cancelled by __gc and its threads are gone within a second", function()
    local base = H.thread_count()
    do
      local job = bulk.start(H.tasks(2000), H.opts(m, { rate = 200, workers = 6 }))
      job:poll(0.1)
      assert.is_true(H.thread_count() >= base + 6)
    end
    collectgarbage()
    collectgarbage()
    assert.are.equal(base, H.wait_threads(base, 1.5))
  end)

  it("job:close() joins; __close closes on Lua 5.4", function()
    local job = bulk.start(H.tasks(50), H.opts(m))
    job:close()
    job:close()
    assert.is_true(job:done())
    assert.has_error(function() job:poll(0) end, "cxone.bulk: job is closed")
  end)
end)

describe("bad input", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "10" }

  it("tasks that are not an array or an iterator: a clear error", function()
    assert.has_error(function() bulk.batch_update("nope", H.opts(m)) end,
      "cxone.bulk: tasks must be an array of task tables or an iterator function (got string)")
  end)

  it("unknown options and wrong types name the option", function()
    assert.has_error(function() bulk.start({}, H.opts(m, { wrokers = 3 })) end, "cxone.bulk: unknown option 'wrokers'")
    assert.has_error(function() bulk.start({}, H.opts(m, { workers = "3" })) end,
      "cxone.bulk: option 'workers' must be an integer >= 1 and <= 256 (got string)")
    assert.has_error(function() bulk.start({}, H.opts(m, { burst = 0.5 })) end,
      "cxone.bulk: option 'burst' must be a number >= 1 and <= 100000 (got number 0.5)")
    assert.has_error(function() bulk.start({}, H.opts(m, { client_secret = 42 })) end,
      "cxone.bulk: option 'client_secret' must be a non-empty string (got number)")
  end)

  it("plain http to a non-loopback host is refused unless allow_http", function()
    local ok, err = pcall(bulk.start, {}, H.opts(m, { base_url = "http://cxone.example.com" }))
    assert.is_false(ok)
    assert.matches("allow_http", err)
  end)

  it("bad tasks become failed results naming the task and field; good ones still run", function()
    m:reset()
    local tasks = {
      { contact_id = "contact-000001", category = "Contacted", subcategory = "Information Provided" },
      { category = "Contacted", subcategory = "Information Provided" },
      { contact_id = 42, category = "Contacted", subcategory = "Information Provided" },
      "not a table",
      { contact_id = "bad\nid", category = "Contacted", subcategory = "Information Provided" },
      { contact_id = "contact-000002", category = 7, subcategory = "Information Provided" },
      { contact_id = "", category = "Contacted", subcategory = "Information Provided" },
      { contact_id = string.rep("x", 257), category = "Contacted", subcategory = "Information Provided" },
      { contact_id = "contact-000003", category = "Contacted", subcategory = "Information Provided" },
    }
    local summary, results, count = H.run(tasks, H.opts(m))
    assert.are.equal(9, count)
    assert.is_true(results[1].ok and results[9].ok)
    assert.are.equal("task 2: contact_id is missing", results[2].error)
    assert.are.equal("task 3: contact_id must be a string (got number)", results[3].error)
    assert.are.equal("task 4: expected a table, got string", results[4].error)
    assert.are.equal("task 5: contact_id contains control character 0x0A", results[5].error)
    assert.are.equal("task 6: category must be a string (got number)", results[6].error)
    assert.are.equal("task 7: contact_id is empty", results[7].error)
    assert.are.equal("task 8: contact_id is longer than 256 bytes", results[8].error)
    for i = 2, 8 do
      assert.is_true(results[i].invalid)
      assert.are.equal(0, results[i].status)
      assert.are.equal(0, results[i].attempts)
    end
    assert.are.equal(7, summary.invalid)
    assert.are.equal(2, m:stats().requests.by_route["PUT /api/v2/contacts"])
  end)

  it("an iterator that raises: the error reaches the caller, results so far were delivered", function()
    local i, seen = 0, 0
    local ok, err = pcall(bulk.batch_update, function()
      i = i + 1
      if i == 5 then error("input file vanished") end
      return { contact_id = "contact-00000" .. i, category = "Contacted", subcategory = "Information Provided" }
    end, H.opts(m, { on_result = function() seen = seen + 1 end }))
    assert.is_false(ok)
    assert.matches("task iterator failed: .*input file vanished", err)
  end)

  it("streams an iterator without holding it: a million-task generator is not materialised", function()
    local n = 0
    local job = bulk.start(function()
      n = n + 1
      if n <= 1000000 then return { contact_id = "contact-000001", category = "C", subcategory = "S" } end
    end, H.opts(m, { workers = 2, queue_size = 8 }))
    job:poll(0)
    assert.is_true(n <= 11, "pulled " .. n .. " tasks ahead")
    job:close()
  end)
end)
