-- Load: 100,000 tasks (CXONE_LOAD_TASKS overrides) streamed from an iterator against the mock
-- injecting 10% 5xx, 5% dropped-after-mutate connections and random latency. Every task comes
-- back exactly once, every contact is mutated exactly once server-side (the retries of dropped
-- PUTs replay, they do not mutate again), and the client's RSS stays flat: after warm-up (10% of
-- the results) it never rises more than a small margin above its value then.
-- The injected 5xx are 500/502/504: the mock's 503 carries Retry-After: 1, which the engine
-- honours (engine_spec), and would turn this into a test of waiting.
local bulk = require "cxone.bulk"
local Mock = require "spec.helpers.mock"
local HS = require "spec.helpers.hostile"

local N = tonumber(os.getenv("CXONE_LOAD_TASKS") or "") or 100000
local RSS_MARGIN_KB = 4 * 1024
local SAMPLE_EVERY = 1000
-- Under ASan (make sanitize) RSS measures the allocator's quarantine of freed blocks, not us.
local function asan_loaded()
  local fh = io.open("/proc/self/maps", "rb")
  if not fh then return false end
  local maps = fh:read("*a")
  fh:close()
  return maps:find("libasan", 1, true) ~= nil
end
local UNDER_ASAN = asan_loaded()

describe("load", function()
  local m = Mock.shared { "--rate", "0", "--any-contact", "--threads", "4", "--error-rate", "0.1",
                         "--error-statuses", "500,502,504", "--drop-after-mutate", "0.05",
                         "--latency-jitter-ms", "3" }

  it(("%d tasks: one result each, one mutation each, flat RSS"):format(N), function()
    local seen = {}
    for i = 1, N do seen[i] = false end -- allocated up front so the spec's own growth is not measured
    local next_id = 0
    local function tasks()
      next_id = next_id + 1
      if next_id <= N then
        return { contact_id = ("load-%06d"):format(next_id), category = "Contacted",
                 subcategory = "Information Provided" }
      end
    end
    local count, dup, not_ok, first_bad = 0, 0, 0, nil
    local warm_kb, peak_kb, samples = nil, 0, {}
    local warm_at = math.floor(N / 10)
    local function on_result(r)
      if seen[r.index] then dup = dup + 1 end
      seen[r.index] = true
      count = count + 1
      if not r.ok then
        not_ok = not_ok + 1
        first_bad = first_bad or (r.contact_id .. ": " .. tostring(r.error))
      end
      if count % SAMPLE_EVERY == 0 or count == warm_at then
        -- A full collection first: RSS then measures what is retained, not how far behind the
        -- collector happens to be (LuaJIT's lets garbage pile up by several MB between cycles).
        collectgarbage()
        local kb = HS.rss_kb()
        if count == warm_at then warm_kb = kb end
        if warm_kb and kb > peak_kb then peak_kb = kb end
        samples[#samples + 1] = kb
      end
    end
    local t0 = bulk.sys.monotime()
    local summary = bulk.batch_update(tasks, {
      base_url = m.url, client_id = "demo-client", client_secret = "demo-secret",
      workers = 16, rate = 100000, burst = 1000, max_retries = 10, backoff_base = 0.001,
      backoff_max = 0.01, timeout = 5, batch_id = "load", on_result = on_result, deadline = 600,
    })
    local elapsed = bulk.sys.monotime() - t0
    local st = m:stats()
    io.stderr:write(("\n[load] %d tasks in %.1f s (%.0f/s); %d retries, %d transport errors, "
      .. "%d replays; server: %d injected 5xx, %d dropped; RSS %d KiB at 10%%, peak after %d KiB\n"):format(
      N, elapsed, N / elapsed, summary.retried, summary.transport_errors, summary.replayed,
      st.injected_errors, st.dropped, warm_kb or -1, peak_kb))

    -- Every task exactly one result, and all of them ok after retries.
    assert.are.equal(N, count)
    assert.are.equal(0, dup)
    for i = 1, N do if not seen[i] then error("no result for task " .. i) end end
    assert.are.equal(0, not_ok, first_bad)
    assert.are.equal(N, summary.succeeded)

    -- The faults really happened.
    assert.is_true(st.injected_errors >= N * 0.08, "injected 5xx: " .. st.injected_errors)
    assert.is_true(st.dropped >= N * 0.04, "dropped: " .. st.dropped)
    assert.is_true(summary.retried > 0)

    -- Server side: every contact mutated exactly once, and only ours.
    assert.are.equal(N, st.distinct_mutated)
    assert.are.equal(N, st.total_mutations)
    assert.are.equal(1, st.max_mutations_per_contact)
    local wrong = 0
    for id, v in pairs(st.mutations) do
      local k = tonumber(id:match("^load%-(%d+)$") or "")
      if not k or k < 1 or k > N or v.count ~= 1 or v.category ~= "Contacted"
         or v.subcategory ~= "Information Provided" then
        wrong = wrong + 1
      end
    end
    assert.are.equal(0, wrong)

    -- Flat RSS after warm-up.
    assert.is_number(warm_kb)
    if not UNDER_ASAN then
      assert.is_true(peak_kb - warm_kb <= RSS_MARGIN_KB,
        ("RSS grew from %d KiB at 10%% to %d KiB"):format(warm_kb, peak_kb))
    end
  end)
end)
