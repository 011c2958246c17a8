-- Catching a bad batch before it does harm, in the library (issue 21): plan reads that write
-- nothing, before-images and skip_unchanged, the canary gate and the auto-halt. Against the mock
-- over loopback HTTP; what was written is proven with the mock's own counts and histories.
-- Run: make spec SPEC_FILES=spec/safety_spec.lua
local bulk = require "cxone.bulk"
local cjson = require "cjson"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local U = require "spec.helpers.util"

local OUTCOMES = {
  { "Contacted", "Information Provided" }, { "Contacted", "Sale Completed" }, { "Not Contacted", "No Answer" },
  { "Not Contacted", "Voicemail" }, { "Follow-up", "Email Sent" },
}

-- A values file: contact i starts at OUTCOMES[i % 5 + 1], every 7th with no value.
local function values(n)
  local t = {}
  for i = 1, n do
    local id = ("contact-%06d"):format(i)
    if i % 7 == 0 then
      t[id] = cjson.null
    else
      local o = OUTCOMES[i % 5 + 1]
      t[id] = { category = o[1], subcategory = o[2] }
    end
  end
  return t
end

local running, files = {}, {}
local function start(argv)
  local m = Mock.start(argv)
  running[#running + 1] = m
  return m
end
local function values_mock(n, extra)
  local path = U.write_file(os.tmpname(), cjson.encode(values(n)))
  files[#files + 1] = path
  local argv = { "--rate", "0", "--history", "--values-file", path }
  for _, a in ipairs(extra or {}) do argv[#argv + 1] = a end
  return start(argv)
end
local function cleanup()
  for _, m in ipairs(running) do m:stop() end
  for _, f in ipairs(files) do os.remove(f) end
  running, files = {}, {}
end

local function initial(i)
  if i % 7 == 0 then return nil end
  local o = OUTCOMES[i % 5 + 1]
  return { category = o[1], subcategory = o[2] }
end

describe("bulk.plan", function()
  after_each(cleanup)

  it("reads every contact, writes nothing, and says before -> after per task with its status", function()
    local m = values_mock(60)
    local tasks = H.tasks(60, 1, "Contacted", "Sale Completed")
    tasks[61] = { contact_id = "contact-999999", category = "Contacted", subcategory = "Sale Completed" }
    tasks[62] = { contact_id = "contact-000001", category = "Contacted" } -- invalid: no subcategory
    local got = {}
    local s = bulk.plan(tasks, H.opts(m, { on_result = function(r) got[r.index] = r end }))
    local st = m:stats()
    assert.equal(0, st.total_mutations)
    assert.equal(0, st.requests.by_route["PUT /api/v2/contacts"])
    assert.equal(61, st.requests.by_route["GET /api/v2/contacts"]) -- one read per valid task
    local want = { change = 0, ["no change"] = 0, ["not found"] = 1, invalid = 1, error = 0 }
    for i = 1, 60 do
      local r, v = got[i], initial(i)
      assert.same(v or {}, r.before, "task " .. i)
      assert.same({ category = "Contacted", subcategory = "Sale Completed" }, r.after)
      local same = v and v.subcategory == "Sale Completed"
      assert.equal(same and "no change" or "change", r.plan, "task " .. i)
      assert.equal(same and true or nil, r.unchanged)
      want[r.plan] = want[r.plan] + 1
    end
    assert.equal("not found", got[61].plan)
    assert.equal("invalid", got[62].plan)
    assert.same(want, s.plan)
    -- The transition table, against the values the mock was given.
    local expect = {}
    for i = 1, 60 do
      local v = initial(i)
      local b = v and (v.category .. " / " .. v.subcategory) or "(no value)"
      expect[b] = (expect[b] or 0) + 1
    end
    for k, t in ipairs(s.transitions) do
      assert.equal("Contacted / Sale Completed", t.after)
      assert.equal(expect[t.before], t.count, t.before)
      expect[t.before] = nil
      if k > 1 then assert.is_true(s.transitions[k - 1].count >= t.count) end -- most rows first
    end
    assert.same({}, expect)
  end)

  it("refuses what a plan cannot do (nothing to journal, undo or confirm)", function()
    local m = start { "--rate", "0" }
    for _, extra in ipairs({ { journal = "/tmp/x.journal" }, { before_images = true }, { canary = 5 } }) do
      local ok, err = pcall(bulk.plan, H.tasks(1), H.opts(m, extra))
      assert.is_false(ok)
      assert.equal("options", bulk.error_kind(err))
      assert.matches("cannot be used with plan", err)
    end
  end)
end)

describe("before_images and skip_unchanged", function()
  after_each(cleanup)

  it("before_images: each result carries the value the contact had before its write", function()
    local m = values_mock(40)
    local s, res = H.run(H.tasks(40, 1, "Not Contacted", "Voicemail"), H.opts(m, { before_images = true }))
    assert.equal(40, s.succeeded)
    local st = m:stats("history=1")
    for i = 1, 40 do
      local id = ("contact-%06d"):format(i)
      assert.same(initial(i) or {}, res[i].before, id)
      local h = st.outcome_history[id]
      assert.equal(2, #h, id) -- the initial value, then this write: one write per contact
      assert.same({ category = "Not Contacted", subcategory = "Voicemail" }, h[2])
    end
    -- One read and one write per task, each its own request (and limiter slot).
    assert.equal(40, st.requests.by_route["GET /api/v2/contacts"])
    assert.equal(40, st.requests.by_route["PUT /api/v2/contacts"])
    assert.equal(80, s.requests)
  end)

  it("skip_unchanged: a contact already at the target is not written and its result says so", function()
    local m = values_mock(50)
    local s, res = H.run(H.tasks(50, 1, "Contacted", "Sale Completed"), H.opts(m, { skip_unchanged = true }))
    local st = m:stats("history=1")
    local at_target = 0
    for i = 1, 50 do
      local v = initial(i)
      local id = ("contact-%06d"):format(i)
      if v and v.subcategory == "Sale Completed" then
        at_target = at_target + 1
        assert.is_true(res[i].ok and res[i].unchanged, id)
        assert.is_nil(st.mutations[id], id .. " was written")
      else
        assert.is_nil(res[i].unchanged, id)
        assert.equal(1, st.mutations[id].count, id)
      end
    end
    assert.is_true(at_target > 0)
    assert.equal(at_target, s.unchanged)
    assert.equal(50 - at_target, st.total_mutations)
  end)

  it("the journal records the before-image with the result", function()
    local m = values_mock(5)
    local dir = U.tmpdir("safety")
    H.run(H.tasks(5, 1, "Follow-up", "Email Sent"), H.opts(m, { before_images = true, journal = dir .. "/j" }))
    local n = 0
    for line in io.lines(dir .. "/j") do
      local rec = cjson.decode(line)
      if rec.ok ~= nil then
        n = n + 1
        local i = tonumber(rec.contact_id:match("(%d+)$"))
        assert.same(initial(i) or {}, rec.before, rec.contact_id)
      end
    end
    assert.equal(5, n)
    U.rmdir(dir)
  end)
end)

describe("canary", function()
  after_each(cleanup)

  it("sends the first N, asks on_canary once with their results, and stops (kind canary) on no", function()
    local m = start { "--rate", "0", "--any-contact", "--initial-values", "none" }
    local asked, results = 0, {}
    local seen = 0
    local summary, err = bulk.try_batch_update(H.tasks(200), H.opts(m, { canary = 20,
      on_result = function() seen = seen + 1 end,
      on_canary = function(s, rs)
        asked, results = asked + 1, rs
        assert.equal(20, s.succeeded)
        return false
      end }))
    assert.is_nil(summary)
    assert.equal("canary", err.kind)
    assert.equal(1, asked)
    assert.equal(20, #results)
    for _, r in ipairs(results) do assert.same({}, r.before) end -- the canary reads its rows first
    assert.equal(200, seen) -- every task of the array has its one result
    assert.equal(180, err.summary.cancelled)
    assert.equal(20, m:stats().total_mutations)
  end)

  it("continues on true: every task applied once; push mode waits at submit", function()
    local m = start { "--rate", "0", "--any-contact", "--initial-values", "none" }
    local job = bulk.open(H.opts(m, { canary = 5, on_canary = function() return true end }))
    local tasks, i, refused = H.tasks(30), 1, 0
    while not job:done() do
      while i <= #tasks do
        if not job:submit(tasks[i]) then
          refused = refused + 1
          break
        end
        i = i + 1
      end
      if i > #tasks then job:close_input() end
      job:poll(0.05)
    end
    job:close()
    assert.is_nil(job:error())
    assert.is_true(refused > 0) -- the gate said "not now" while the canary was out
    local st = m:stats()
    assert.equal(30, st.total_mutations)
    assert.equal(1, st.max_mutations_per_contact)
  end)
end)

describe("auto-halt", function()
  after_each(cleanup)

  it("stops a batch whose results are all 404 (kind halted), naming the failure; in-flight work finishes", function()
    local m = start { "--rate", "0" } -- 1000 known contacts; these are not among them
    local tasks = H.tasks(5000, 50001)
    local summary, err = bulk.try_batch_update(tasks, H.opts(m))
    assert.is_nil(summary)
    assert.equal("halted", err.kind)
    assert.matches("20 of the last 20 results were 404 %(contact not found%)", err.message)
    local puts = m:stats("mutations=0").requests.by_route["PUT /api/v2/contacts"]
    assert.is_true(puts <= 120, puts)
    assert.equal(puts, err.summary.by_status["404"]) -- every request sent got its answer
    assert.equal(5000 - puts, err.summary.cancelled) -- the rest were never sent
  end)

  it("does not count transient failures (503s), and max_failure_rate = 0 turns it off", function()
    local m = start { "--rate", "0", "--any-contact", "--error-rate", "1", "--error-statuses", "503" }
    local s = bulk.try_batch_update(H.tasks(60), H.opts(m, { max_retries = 0 }))
    assert.is_table(s)
    assert.equal(60, s.failed)
    local m2 = start { "--rate", "0" }
    s = bulk.try_batch_update(H.tasks(60, 50001), H.opts(m2, { max_failure_rate = 0 }))
    assert.is_table(s)
    assert.equal(60, s.failed)
  end)

  it("refuses failure_min above failure_window", function()
    local ok, err = pcall(bulk.start, {}, H.opts({ url = "http://127.0.0.1:9" }, { failure_min = 200 }))
    assert.is_false(ok)
    assert.matches("option 'failure_min' (200) must be <= failure_window (100)", err, 1, true)
  end)
end)

describe("the auto-halt's window", function()
  local halt = require "cxone.bulk.halt"
  it("slides over successes and failures alike, and halts at the failure that reaches the rate", function()
    local h = halt.new({ max_failure_rate = 0.5, failure_window = 10, failure_min = 4 })
    local F = { ok = false, status = 404, error_kind = "not_found", error = "HTTP 404" }
    local S = { ok = true, status = 200 }
    local seq = { F, F, F, S, S, S, S, S, S, S, F, F, F, F, F }
    local at
    for i, r in ipairs(seq) do
      if h:add(r) then at = at or i end
    end
    -- After 10 results 3 failures; each new failure pushes an old one out until the 15th makes 5
    -- of the last 10.
    assert.equal(15, at)
    -- Transient failures and invalid rows are not counted at all.
    h = halt.new({ max_failure_rate = 0.5, failure_window = 10, failure_min = 4 })
    for _ = 1, 50 do
      assert.is_nil(h:add({ ok = false, status = 503, error_kind = "server" }))
      assert.is_nil(h:add({ ok = false, status = 0, invalid = true, error_kind = "input" }))
    end
  end)
end)
