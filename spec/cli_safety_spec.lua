-- cxone-bulk's safe workflow end to end against the mock (issue 21), in both profiles: --plan
-- over 1,000 contacts matches the mock's own state; --undo-file then --undo puts every contact
-- back (the mock's histories), each written once per run; --canary 20 then the printed
-- continuation (--yes) sends every row exactly once; a wrong-mapping file of 100,000 rows halts
-- within 120 rows with exit 5. Run: make spec SPEC_FILES=spec/cli_safety_spec.lua
local cjson = require "cjson"
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"

local CXONE_ENV = { CXONE_ACCESS_KEY_ID = "demo-access-key", CXONE_ACCESS_KEY_SECRET = "demo-access-secret" }

-- The two profiles: how a run is started, a row's fields, and the mock's record of a contact.
local PROFILES = {
  tutorial = {
    env = nil,
    args = C.args,
    header = "contact_id,category,subcategory",
    targets = { "Contacted,Sale Completed", "Not Contacted,Voicemail", "Follow-up,Email Sent" },
    bad_target = "Contacted,Sale Complete", -- not in the hierarchy: every PUT answers 400
    history = "outcome_history",
    writes = "PUT /api/v2/contacts",
    -- The plan's label of a mock value, and whether the value is the row's target.
    label = function(v) return v == cjson.null and "(no value)" or (v.category .. " / " .. v.subcategory) end,
    at_target = function(v, target) return v ~= cjson.null and (v.category .. "," .. v.subcategory) == target end,
    same = function(a, b)
      if a == cjson.null or b == cjson.null then return a == b end
      return a.category == b.category and a.subcategory == b.subcategory
    end,
  },
  cxone = {
    env = CXONE_ENV,
    args = C.cxone_args,
    header = "contact_id,skill,disposition_code",
    targets = { "1001,Sale", "1001,2", "1001,No Answer" },
    bad_target = "1001,99", -- not a disposition of skill 1001: every set-disposition answers 400
    history = "disposition_history",
    writes = "POST /incontactapi/contacts/set-disposition",
    label = function(v)
      return v == cjson.null and "(no value)" or (("%s (%d)"):format(v.dispositionName, v.dispositionId))
    end,
    at_target = function(v, target)
      if v == cjson.null then return false end
      local code = target:match(",(.*)$")
      -- set-disposition replaces the whole disposition: a row without notes changes one with notes.
      return (code == ("%d"):format(v.dispositionId) or code == v.dispositionName) and v.notes == nil
    end,
    same = function(a, b)
      if a == cjson.null or b == cjson.null then return a == b end
      return a.dispositionId == b.dispositionId and tostring(a.skill) == tostring(b.skill) and a.notes == b.notes
    end,
  },
}

local function id(i) return ("contact-%06d"):format(i) end

-- CSV rows for contacts first..last, the target of row i being targets[i % #targets + 1].
local function input(p, first, last, extra_rows)
  local out = { p.header }
  for i = first, last do out[#out + 1] = id(i) .. "," .. p.targets[i % #p.targets + 1] end
  for _, r in ipairs(extra_rows or {}) do out[#out + 1] = r end
  return table.concat(out, "\n") .. "\n"
end

local function run(p, m, extra, opts)
  opts = opts or {}
  opts.env = p.env
  return C.run(p.args(m, extra), opts)
end

-- A CSV file as rows of fields (no quoted commas in what these specs write).
local function csv_rows(path)
  local rows = {}
  for line in io.lines(path) do
    local f = {}
    for cell in (line .. ","):gmatch('("?[^,]*"?),') do f[#f + 1] = cell end
    rows[#rows + 1] = f
  end
  table.remove(rows, 1)
  return rows
end

for _, name in ipairs({ "tutorial", "cxone" }) do
  local p = PROFILES[name]

  describe("cxone-bulk safe workflow (" .. name .. ")", function()
    local m, dir
    before_each(function() dir = C.tmpdir() end)
    after_each(function()
      if m then m:stop() end
      m = nil
      C.rmdir(dir)
    end)

    it("--plan over 1,000 contacts: the transition table is the mock's state; nothing is written", function()
      m = Mock.start { "--rate", "0", "--history", "--contacts", "1000", "--quiet" }
      local path = C.write(dir .. "/in.csv", input(p, 1, 1000, { "contact-999999," .. p.targets[1] }))
      local code, _, err = run(p, m, { "--plan", dir .. "/plan.csv", "--summary-json", dir .. "/s.json", "-q",
        "-o", dir .. "/r.jsonl", path })
      assert.equal(1, code, err) -- one row not found
      local st = m:stats("history=1")
      assert.equal(0, st.requests.by_route[p.writes])
      local hist = st[p.history]
      -- The expected table, from the mock's record of each contact's value.
      local expect, statuses = {}, { change = 0, ["no change"] = 0, ["not found"] = 1, invalid = 0, error = 0 }
      for i = 1, 1000 do
        local v = hist[id(i)][1]
        assert.equal(1, #hist[id(i)], id(i) .. " was written")
        local target = p.targets[i % #p.targets + 1]
        local key = p.label(v) .. " -> " .. target
        expect[key] = (expect[key] or 0) + 1
        local s = p.at_target(v, target) and "no change" or "change"
        statuses[s] = statuses[s] + 1
      end
      -- The plan file: one row per input row, its status and before as the mock has it.
      local rows = csv_rows(dir .. "/plan.csv")
      assert.equal(1001, #rows)
      for _, r in ipairs(rows) do
        local i = tonumber(r[2]:match("(%d+)$"))
        if r[2] == "contact-999999" then
          assert.equal("not found", r[3])
        else
          local v = hist[id(i)][1]
          assert.equal(p.label(v), r[4], r[2])
          assert.equal(p.at_target(v, p.targets[i % #p.targets + 1]) and "no change" or "change", r[3], r[2])
        end
      end
      local summary = cjson.decode(C.read(dir .. "/s.json"))
      assert.same(statuses, summary.plan)
      local got = {}
      for _, t in ipairs(summary.transitions) do
        -- The after label is the row's own value: "Contacted / Sale Completed", or the code.
        local target
        for _, tg in ipairs(p.targets) do
          local c, s = tg:match("^(.-),(.*)$")
          if t.after == c .. " / " .. s or t.after == s then target = tg end
        end
        got[t.before .. " -> " .. target] = t.count
      end
      assert.same(expect, got)
    end)

    it("--undo-file then --undo: every contact back at its value before the run, each written once per run", function()
      m = Mock.start { "--rate", "0", "--history", "--quiet", "--seed", "7" }
      -- 300 contacts, and contact 5 twice (it must go back to its value before the FIRST row).
      local path = C.write(dir .. "/in.csv", input(p, 1, 300, { id(5) .. "," .. p.targets[(5 + 1) % 3 + 1] }))
      local code, _, err = run(p, m, { "--undo-file", dir .. "/undo.csv", "--journal", dir .. "/j", "-q",
        "-o", dir .. "/r1.jsonl", path })
      assert.equal(0, code, err)
      local before = m:stats("history=1")[p.history]
      code, _, err = run(p, m, { "--undo", dir .. "/undo.csv", "--journal", dir .. "/j2", "-q",
        "-o", dir .. "/r2.jsonl" })
      assert.equal(0, code, err)
      local hist = m:stats("history=1")[p.history]
      local no_previous = {}
      for _, r in ipairs(csv_rows(dir .. "/undo.no-previous.csv")) do no_previous[r[1]] = r[3] end
      local restored, unset = 0, 0
      for i = 1, 300 do
        local h, k = hist[id(i)], id(i)
        local rows = i == 5 and 2 or 1
        local initial, last = h[1], h[#h]
        if initial == cjson.null then
          unset = unset + 1
          assert.matches("had no value before this run", no_previous[k], 1, true)
          assert.equal(1 + rows, #h, k) -- nothing to restore it to: not written by --undo
        else
          assert.is_true(p.same(initial, last), k .. " is not back at its value before the run")
          local changed = #before[k] > 1 and not p.same(before[k][#before[k]], initial)
          assert.equal(1 + rows + (changed and 1 or 0), #h, k) -- each run wrote it once (twice: 2 rows)
          if changed then restored = restored + 1 end
        end
      end
      assert.is_true(restored > 200 and unset > 0, restored .. " restored, " .. unset .. " without a value")
      -- The undo again: every contact already shows its old value, so nothing is written.
      local writes = m:stats("mutations=0").requests.by_route[p.writes]
      code, _, err = run(p, m, { "--undo", dir .. "/undo.csv", "-q", "-o", dir .. "/r3.jsonl" })
      assert.equal(0, code, err)
      assert.equal(writes, m:stats("mutations=0").requests.by_route[p.writes])
      for _, r in ipairs(C.jsonl(dir .. "/r3.jsonl")) do assert.is_true(r.unchanged, r.contact_id) end
    end)

    it("--canary 20 stops (exit 6) with the continuation; the continuation sends every row exactly once", function()
      m = Mock.start { "--rate", "0", "--any-contact", "--history", "--quiet" }
      local path = C.write(dir .. "/in.csv", input(p, 1, 150))
      local argv = { "--canary", "20", "--journal", dir .. "/j", "--failed", dir .. "/f.csv", "-o", dir .. "/r.jsonl",
        "--undo-file", dir .. "/undo.csv", path }
      local code, _, err = run(p, m, argv)
      assert.equal(6, code, err)
      assert.matches("canary: 20 rows sent: 20 ok", err, 1, true)
      assert.matches("no terminal to ask and no --yes", err, 1, true)
      local st = m:stats("mutations=0")
      assert.equal(20, st.requests.by_route[p.writes])
      local full = p.args(m, argv)
      local want = "continue: cxone-bulk " .. table.concat(full, " ") .. " --yes"
      assert.matches(want, err, 1, true)
      full[#full + 1] = "--yes"
      code, _, err = C.run(full, { env = p.env })
      assert.equal(0, code, err)
      st = m:stats("history=1")
      assert.equal(150, st.requests.by_route[p.writes]) -- no row sent twice
      local counts = name == "tutorial" and st.mutations or st.set_dispositions
      for i = 1, 150 do assert.equal(1, counts[id(i)].count, id(i)) end
      -- The continuation appended to the canary's undo file: each contact listed once, and the
      -- undo puts back every one that had a value.
      local listed = {}
      for _, f in ipairs({ "/undo.csv", "/undo.no-previous.csv" }) do
        for _, r in ipairs(csv_rows(dir .. f)) do
          assert.is_nil(listed[r[1]], r[1] .. " listed twice")
          listed[r[1]] = true
        end
      end
      local hist = st[p.history]
      for i = 1, 150 do
        local h = hist[id(i)]
        assert.equal(h[1] == cjson.null or not p.same(h[1], h[2]), listed[id(i)] or false, id(i))
      end
      code, _, err = run(p, m, { "--undo", dir .. "/undo.csv", "--journal", dir .. "/ju", "-q",
        "-o", dir .. "/u.jsonl" })
      assert.equal(0, code, err)
      hist = m:stats("history=1")[p.history]
      for i = 1, 150 do
        local h = hist[id(i)]
        if h[1] ~= cjson.null then assert.is_true(p.same(h[1], h[#h]), id(i) .. " not restored") end
      end
    end)

    it("a wrong-mapping file of 100,000 rows halts within 120 rows (exit 5), naming the failure", function()
      m = Mock.start { "--rate", "0", "--any-contact", "--initial-values", "none", "--quiet" }
      local out = { p.header }
      for i = 1, 100000 do out[#out + 1] = id(i) .. "," .. p.bad_target end
      local path = C.write(dir .. "/in.csv", table.concat(out, "\n") .. "\n")
      local t0 = os.time()
      local code, _, err = run(p, m, { "--journal", dir .. "/j", "-o", dir .. "/r.jsonl", path })
      assert.equal(5, code, err)
      assert.is_true(os.time() - t0 < 30)
      local sent = m:stats("mutations=0").requests.by_route[p.writes]
      assert.is_true(sent >= 20 and sent <= 120, sent .. " rows sent")
      assert.matches("stopped: 20 of the last 20 results were 400 (rejected by the API)", err, 1, true)
      assert.matches("--max-failure-rate = 0.5", err, 1, true)
      assert.matches("rerun: cxone-bulk", err, 1, true)
      for _, r in ipairs(C.jsonl(dir .. "/r.jsonl")) do assert.is_nil(r.outcome_unknown, r.error) end
    end)
  end)
end

describe("cxone-bulk --undo-file with rows an earlier run may have applied", function()
  local m, dir
  m = Mock.each { "--rate", "0", "--quiet", "--initial-values", "none" }
  before_each(function()
    dir = C.tmpdir()
  end)
  after_each(function()
    C.rmdir(dir)
  end)

  it("lists a contact found already applied (verified) apart: its value before that run was never recorded", function()
    -- contact 1 already shows the row's outcome (an earlier run's write whose answer was lost);
    -- contact 2 does not (that write never landed): it is read, written, and can be put back.
    local tok = m:token()
    m:request("PUT", "/api/v2/contacts/contact-000001", { headers = { Authorization = "Bearer " .. tok,
      ["Content-Type"] = "application/json" }, body = '{"outcome":{"category":"Contacted","subcategory":"Busy"}}' })
    m:request("PUT", "/api/v2/contacts/contact-000001", { headers = { Authorization = "Bearer " .. tok,
      ["Content-Type"] = "application/json" },
      body = '{"outcome":{"category":"Contacted","subcategory":"Sale Completed"}}' })
    m:request("PUT", "/api/v2/contacts/contact-000002", { headers = { Authorization = "Bearer " .. tok,
      ["Content-Type"] = "application/json" }, body = '{"outcome":{"category":"Follow-up","subcategory":"Email Sent"}}' })
    local path = C.write(dir .. "/failed.csv", "contact_id,category,subcategory,error,cxone_bulk_state\n"
      .. "contact-000001,Contacted,Sale Completed,no answer,outcome unknown\n"
      .. "contact-000002,Contacted,Sale Completed,no answer,outcome unknown\n")
    local code, _, err = C.run(C.fast(m, { "--undo-file", dir .. "/undo.csv", "-o", dir .. "/r.jsonl", path }))
    assert.equal(0, code, err)
    local by = {}
    for _, r in ipairs(C.jsonl(dir .. "/r.jsonl")) do by[r.contact_id] = r end
    assert.is_true(by["contact-000001"].verified)
    assert.is_nil(by["contact-000001"].before)
    assert.same({ category = "Follow-up", subcategory = "Email Sent" }, by["contact-000002"].before)
    local undo_text = C.read(dir .. "/undo.csv")
    assert.matches("^contact_id,category,subcategory,idempotency_key,cxone_bulk_state\ncontact%-000002,Follow%-up,"
      .. "Email Sent,[%x%-]+,\n$", undo_text)
    local np = C.read(dir .. "/undo.no-previous.csv")
    assert.matches("contact-000001,2,applied by an earlier run whose answer was lost", np, 1, true)
  end)
end)

describe("cxone-bulk safety flags that cannot work", function()
  local m, dir
  m = Mock.each { "--rate", "0", "--quiet" }
  before_each(function()
    dir = C.tmpdir()
  end)
  after_each(function()
    C.rmdir(dir)
  end)

  it("are refused before anything is sent (exit 2), naming the flag", function()
    local path = C.write(dir .. "/in.csv", C.csv(C.rows(3)))
    local cases = {
      { { "--canary", "2", path }, "--canary needs --journal" },
      { { "--plan", dir .. "/p.csv", "--journal", dir .. "/j", path }, "leave out --journal" },
      { { "--undo", path }, "is not an undo file's" },
      { { "--undo-file", dir .. "/u.csv", "--dry-run", path }, "--undo-file needs a real run" },
      { { "--max-failure-rate", "50", path }, "--max-failure-rate must be a number >= 0 and <= 1" },
    }
    for _, c in ipairs(cases) do
      local code, _, err = C.run(C.fast(m, c[1]))
      assert.equal(2, code, err)
      assert.matches(c[2], err, 1, true)
    end
    C.write(dir .. "/old-undo.csv", "contact_id,category,subcategory,idempotency_key,cxone_bulk_state\n")
    local code, _, err = C.run(C.fast(m, { "--undo-file", dir .. "/old-undo.csv", path }))
    assert.equal(2, code, err)
    assert.matches("exists: it may hold the only record of earlier values", err, 1, true)
    assert.equal(0, m:stats("mutations=0").requests.total)
  end)
end)
