-- The mock's contact values, checked over real HTTP on 127.0.0.1: what a contact holds before
-- anything is written (seeded random, --values-file, --initial-values none), that writes
-- replace it and reset brings it back, and the per-contact history of --history
-- (GET /_mock/stats?history=1), in both profiles.
-- Run from the repo root: make spec SPEC_FILES=spec/mock_values_spec.lua
local cjson = require "cjson"
local Mock = require "spec.helpers.mock"
local U = require "spec.helpers.util"

local API = "/incontactapi/services/v33.0"
local SALE = '{"outcome":{"category":"Contacted","subcategory":"Sale Completed"}}'
local VOICEMAIL = '{"outcome":{"category":"Not Contacted","subcategory":"Voicemail"}}'

local function decode(body)
  local ok, v = pcall(cjson.decode, body)
  assert(ok, "not JSON: " .. tostring(body))
  return v
end

local function tutorial_token(m) return m:token() end

-- A cxone-profile token: the password grant, the client by HTTP Basic.
local function cxone_token(m)
  local p = io.popen("printf %s demo-client:demo-secret | base64 -w0")
  local basic = p:read("*a")
  p:close()
  local st, body = m:request("POST", "/auth/token", {
    headers = { ["Content-Type"] = "application/x-www-form-urlencoded", Authorization = "Basic " .. basic },
    body = "grant_type=password&username=demo-access-key&password=demo-access-secret" })
  assert.equal(200, st, body)
  return decode(body).access_token
end

-- GETs many paths in one curl process (one request each would take seconds); the decoded
-- bodies in order.
local function get_many(m, tok, paths)
  local cfg = os.tmpname()
  local lines = { 'header = "Authorization: Bearer ' .. tok .. '"', 'write-out = "\\n"', "silent", "path-as-is" }
  for _, p in ipairs(paths) do lines[#lines + 1] = 'url = "' .. m.url .. p .. '"' end
  U.write_file(cfg, table.concat(lines, "\n") .. "\n")
  local pipe = io.popen("curl -K " .. Mock.quote(cfg))
  local out = pipe:read("*a")
  pipe:close()
  os.remove(cfg)
  local bodies = {}
  for line in out:gmatch("([^\n]*)\n") do bodies[#bodies + 1] = decode(line) end
  assert.equal(#paths, #bodies)
  return bodies
end

local function ids(n)
  local t = {}
  for i = 1, n do t[i] = string.format("contact-%06d", i) end
  return t
end

local function outcomes_of(m, list)
  local paths = {}
  for i, id in ipairs(list) do paths[i] = "/api/v2/contacts/" .. id end
  return get_many(m, tutorial_token(m), paths)
end

local function dispositions_of(m, list)
  local paths = {}
  for i, id in ipairs(list) do paths[i] = API .. "/contacts/" .. id .. "/disposition" end
  return get_many(m, cxone_token(m), paths)
end

local function put(m, tok, id, body, key)
  local headers = { ["Content-Type"] = "application/json", Authorization = "Bearer " .. tok }
  if key then headers["Idempotency-Key"] = key end
  local st, b = m:request("PUT", "/api/v2/contacts/" .. id, { headers = headers, body = body })
  return st, decode(b)
end

local function set(m, tok, id, info)
  local st, b = m:request("POST", API .. "/contacts/" .. id .. "/set-disposition", {
    headers = { ["Content-Type"] = "application/json", Authorization = "Bearer " .. tok },
    body = cjson.encode { dispositionInfo = info } })
  return st, decode(b)
end

-- Every mock a test starts is stopped after it, even when an assertion failed halfway.
local running = {}
local function start(argv)
  local m = Mock.start(argv)
  running[#running + 1] = m
  return m
end
local function stop_all()
  for _, m in ipairs(running) do m:stop() end
  running = {}
end

local function values_file(t)
  return U.write_file(os.tmpname(), cjson.encode(t))
end

-- The outcomes the built-in hierarchy holds, as "category/subcategory".
local HIERARCHY = {}
for cat, subs in pairs {
  ["Contacted"] = { "Information Provided", "Callback Requested", "Appointment Scheduled", "Sale Completed",
    "Not Interested", "Do Not Call" },
  ["Not Contacted"] = { "No Answer", "Busy", "Voicemail", "Wrong Number", "Disconnected Number" },
  ["Follow-up"] = { "Email Sent", "Escalated to Supervisor" },
} do
  for _, s in ipairs(subs) do HIERARCHY[cat .. "/" .. s] = true end
end
local SKILL_1001 = { [1] = "Sale", [2] = "Callback Requested", [3] = "Not Interested", [4] = "No Answer",
  [5] = "Wrong Number" }

describe("cxone-mock initial values: tutorial outcomes", function()
  after_each(stop_all)

  it("are seeded: in the hierarchy, about a tenth null, the same for the same seed, others for another", function()
    local list = ids(300)
    local a = start { "--rate", "0" }
    local b = start { "--rate", "0", "--seed", "1" }
    local c = start { "--rate", "0", "--seed", "2" }
    local va, vb, vc = outcomes_of(a, list), outcomes_of(b, list), outcomes_of(c, list)
    a:stop(); b:stop(); c:stop()
    local nulls, differ, kinds = 0, 0, {}
    for i, body in ipairs(va) do
      assert.equal(list[i], body.id)
      if body.outcome == cjson.null then
        nulls = nulls + 1
        assert.equal(cjson.null, body.updatedDate)
      else
        local key = body.outcome.category .. "/" .. body.outcome.subcategory
        assert.is_true(HIERARCHY[key], key)
        assert.is_string(body.outcome.description)
        assert.matches("^2025%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", body.updatedDate)
        kinds[key] = true
      end
      assert.same(body, vb[i]) -- the default seed is 1
      if cjson.encode(body) ~= cjson.encode(vc[i]) then differ = differ + 1 end
    end
    -- 300 draws at 0.1: 30 expected; 8..60 is more than five standard deviations wide
    assert.truthy(nulls >= 8 and nulls <= 60, nulls)
    assert.truthy(differ > 200, differ)
    local n = 0
    for _ in pairs(kinds) do n = n + 1 end
    assert.truthy(n >= 10, n) -- spread over the hierarchy, not one value
  end)

  it("depend only on seed and id: --any-contact gives a contact first read late the same value", function()
    local list = { "contact-000007", "contact-000123", "contact-000999" }
    local known = start { "--rate", "0", "--no-value-fraction", "0" }
    local any = start { "--rate", "0", "--any-contact", "--no-value-fraction", "0" }
    local tok = any:token()
    for i = 1, 30 do put(any, tok, string.format("other-%d", i), SALE) end
    local late = outcomes_of(any, { "contact-000123", "contact-000999", "contact-000007", "never-seen-id" })
    local fresh = start { "--rate", "0", "--any-contact", "--no-value-fraction", "0" }
    local again = outcomes_of(fresh, { "never-seen-id" })
    local ref = outcomes_of(known, list)
    known:stop(); any:stop(); fresh:stop()
    for i = 1, 4 do assert.is_table(late[i].outcome) end
    assert.same(ref[2], late[1])
    assert.same(ref[3], late[2])
    assert.same(ref[1], late[3])
    assert.same(again[1], late[4])
  end)

  it("--no-value-fraction 0 gives every contact a value, 1 none; --initial-values none none", function()
    local list = ids(50)
    local all = start { "--rate", "0", "--no-value-fraction", "0" }
    local none = start { "--rate", "0", "--no-value-fraction", "1" }
    local off = start { "--rate", "0", "--initial-values", "none" }
    local va, vn, vo = outcomes_of(all, list), outcomes_of(none, list), outcomes_of(off, list)
    all:stop(); none:stop(); off:stop()
    for i = 1, #list do
      assert.is_table(va[i].outcome)
      assert.equal(cjson.null, vn[i].outcome)
      assert.equal(cjson.null, vo[i].outcome)
      assert.equal(cjson.null, vo[i].updatedDate)
    end
  end)

  it("a PUT replaces the value; a reset brings the initial value back", function()
    local m = start { "--rate", "0", "--no-value-fraction", "0" }
    local tok = m:token()
    local before = outcomes_of(m, { "contact-000001" })[1]
    local st, after = put(m, tok, "contact-000001", VOICEMAIL)
    assert.equal(200, st)
    assert.same(after, outcomes_of(m, { "contact-000001" })[1])
    assert.equal("Voicemail", after.outcome.subcategory)
    m:reset()
    assert.same(before, outcomes_of(m, { "contact-000001" })[1])
    m:stop()
  end)
end)

describe("cxone-mock initial values: cxone dispositions", function()
  after_each(stop_all)

  it("are seeded from the first skill, some with notes, about a tenth {}; stable per seed", function()
    local list = ids(200)
    local a = start { "--rate", "0" }
    local b = start { "--rate", "0", "--api", "cxone" }
    local va, vb = dispositions_of(a, list), dispositions_of(b, list)
    a:stop(); b:stop()
    local empty, notes = 0, 0
    for i, d in ipairs(va) do
      if next(d) == nil then
        empty = empty + 1
      else
        assert.equal(SKILL_1001[d.dispositionId], d.dispositionName)
        assert.matches("^2025%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", d.lastUpdated)
        if d.notes then notes = notes + 1 end
      end
      assert.same(d, vb[i])
    end
    assert.truthy(empty >= 4 and empty <= 45, empty)
    assert.truthy(notes >= 40 and notes <= 140, notes) -- half of the ~180 with a value
  end)

  it("a contact with no outcome has no disposition either (one draw per contact)", function()
    local list = ids(200)
    local m = start { "--rate", "0" }
    local o, d = outcomes_of(m, list), dispositions_of(m, list)
    m:stop()
    local none = 0
    for i = 1, #list do
      assert.equal(o[i].outcome == cjson.null, next(d[i]) == nil, list[i])
      if next(d[i]) == nil then none = none + 1 end
    end
    assert.truthy(none > 0 and none < #list, none)
  end)

  it("set-disposition replaces the value; a reset brings the initial value back", function()
    local m = start { "--rate", "0", "--no-value-fraction", "0" }
    local tok = cxone_token(m)
    local before = dispositions_of(m, { "contact-000003" })[1]
    assert.equal(202, (set(m, tok, "contact-000003", { skill = "1002", dispositionCode = "12", notes = "n1" })))
    local after = dispositions_of(m, { "contact-000003" })[1]
    assert.equal(12, after.dispositionId)
    assert.equal("Refused To Pay", after.dispositionName)
    assert.equal("n1", after.notes)
    m:reset()
    assert.same(before, dispositions_of(m, { "contact-000003" })[1])
    m:stop()
  end)
end)

describe("cxone-mock --values-file", function()
  after_each(stop_all)

  it("sets the values of the contacts it names, which become known contacts", function()
    local f = values_file {
      ["contact-000001"] = { category = "Follow-up", subcategory = "Email Sent" },
      ["vip/7"] = { skill = 1002, dispositionId = 11, notes = "promised friday" },
      ["both"] = { category = "Contacted", subcategory = "Do Not Call", skill = "1001", dispositionId = "4" },
      ["blank"] = cjson.null,
      ["empty"] = {},
    }
    local m = start { "--rate", "0", "--contacts", "2", "--no-value-fraction", "0", "--values-file", f }
    os.remove(f)
    local o = outcomes_of(m, { "contact-000001", "vip%2F7", "both", "blank", "empty", "contact-000002" })
    local d = dispositions_of(m, { "contact-000001", "vip%2F7", "both", "blank", "empty" })
    local tok = m:token()
    local st404 = m:request("GET", "/api/v2/contacts/contact-000003", { headers = { Authorization = "Bearer " .. tok } })
    m:stop()
    assert.same({ category = "Follow-up", subcategory = "Email Sent", description = "Details were sent by email" },
      o[1].outcome)
    assert.equal("vip/7", o[2].id)
    assert.equal(cjson.null, o[2].outcome) -- an entry gives the whole starting state
    assert.equal("Do Not Call", o[3].outcome.subcategory)
    assert.equal(cjson.null, o[4].outcome)
    assert.equal(cjson.null, o[5].outcome)
    assert.is_table(o[6].outcome) -- not in the file: the seeded value
    assert.same({}, d[1])
    assert.equal(11, d[2].dispositionId)
    assert.equal("Promise To Pay", d[2].dispositionName)
    assert.equal("promised friday", d[2].notes)
    assert.equal(4, d[3].dispositionId)
    assert.is_nil(d[3].notes)
    assert.same({}, d[4])
    assert.same({}, d[5])
    assert.equal(404, st404)
  end)

  it("combines with --initial-values none: only the file's contacts have values", function()
    local f = values_file { ["contact-000002"] = { category = "Not Contacted", subcategory = "Busy" } }
    local m = start { "--rate", "0", "--initial-values", "none", "--values-file", f }
    os.remove(f)
    local o = outcomes_of(m, { "contact-000001", "contact-000002" })
    m:stop()
    assert.equal(cjson.null, o[1].outcome)
    assert.equal("Busy", o[2].outcome.subcategory)
  end)

  it("refuses a bad file with exit 1 and a message naming the file and the entry", function()
    local cases = {
      { '{"c1": {"category": "Contacted", "subcategory": "Nope"}}', '"c1": category "Contacted", subcategory "Nope" is not in the outcome hierarchy' },
      { '{"c1": {"category": "Contacted"}}', '"c1": category and subcategory must both be strings' },
      { '{"c2": {"skill": 1001}}', '"c2": skill and dispositionId go together' },
      { '{"c2": {"skill": 1001, "dispositionId": 11}}', '"c2": dispositionId 11 is not a disposition of skill 1001' },
      { '{"c2": {"skill": 77, "dispositionId": 1}}', '"c2": skill 77 is not a skill of the mock' },
      { '{"c2": {"skill": "x", "dispositionId": 1}}', '"c2": skill and dispositionId must be positive whole numbers' },
      { '{"c2": {"notes": "n"}}', '"c2": notes needs skill and dispositionId' },
      { '{"c3": {"colour": "red"}}', '"c3": unknown field "colour"' },
      { '{"c4": 5}', '"c4": must be an object or null' },
      { '{"ok": null, "a\\nb": null}', "entry 2: not a contact id" },
      { '[1, 2]', "must be a JSON object" },
      { '{"c1": {}\n, }', "line 2" },
    }
    for _, c in ipairs(cases) do
      local f = U.write_file(os.tmpname(), c[1])
      local rc, out, err = Mock.run { "--port", "0", "--values-file", f }
      os.remove(f)
      assert.equal(1, rc, c[1])
      assert.equal("", out)
      assert.truthy(err:find("--values-file " .. f, 1, true), err)
      assert.truthy(err:find(c[2], 1, true), err)
    end
    local rc, _, err = Mock.run { "--port", "0", "--values-file", "/nonexistent/values.json" }
    assert.equal(1, rc)
    assert.truthy(err:find("--values-file /nonexistent/values.json", 1, true), err)
  end)
end)

describe("cxone-mock --history", function()
  after_each(stop_all)

  it("records each contact read or written: its initial value, then every applied write", function()
    local f = values_file { ["contact-000005"] = cjson.null }
    local m = start { "--rate", "0", "--history", "--no-value-fraction", "0", "--values-file", f }
    os.remove(f)
    local tok = m:token()
    local v1 = outcomes_of(m, { "contact-000001" })[1].outcome
    local v2 = outcomes_of(m, { "contact-000002" })[1].outcome
    put(m, tok, "contact-000002", SALE)
    put(m, tok, "contact-000002", VOICEMAIL)
    put(m, tok, "contact-000003", SALE, "h-key")
    put(m, tok, "contact-000003", SALE, "h-key") -- a replay applies nothing
    put(m, tok, "contact-999999", SALE)          -- unknown: 404, nothing applied
    outcomes_of(m, { "contact-000005" })
    local h = m:stats("history=1").outcome_history
    local function plain(v) return { category = v.category, subcategory = v.subcategory } end
    assert.same({ plain(v1) }, h["contact-000001"])
    assert.same({ plain(v2), { category = "Contacted", subcategory = "Sale Completed" },
      { category = "Not Contacted", subcategory = "Voicemail" } }, h["contact-000002"])
    assert.equal(2, #h["contact-000003"])
    assert.same({ cjson.null }, h["contact-000005"])
    assert.is_nil(h["contact-000004"])
    assert.is_nil(h["contact-999999"])
    m:reset()
    assert.same({}, m:stats("history=1").outcome_history)
    m:stop()
  end)

  it("records dispositions the same way; tutorial and cxone histories are kept apart", function()
    local m = start { "--rate", "0", "--history", "--no-value-fraction", "0", "--any-contact" }
    local tok = cxone_token(m)
    local v0 = dispositions_of(m, { "late-contact" })[1]
    set(m, tok, "late-contact", { skill = "1001", dispositionCode = "Sale", notes = "first" })
    set(m, tok, "late-contact", { skill = "1002", dispositionCode = "13" })
    set(m, tok, "other", { skill = "1001", dispositionCode = "99" }) -- 400: not applied
    local s = m:stats("history=1")
    m:stop()
    local h = s.disposition_history["late-contact"]
    assert.equal(3, #h)
    assert.same({ skill = 1001, dispositionId = v0.dispositionId, dispositionName = v0.dispositionName,
      notes = v0.notes }, h[1])
    assert.same({ skill = 1001, dispositionId = 1, dispositionName = "Sale", notes = "first" }, h[2])
    assert.same({ skill = 1002, dispositionId = 13, dispositionName = "Left Message" }, h[3])
    assert.is_nil(s.disposition_history["other"])
    assert.same({}, s.outcome_history)
    assert.equal(2, s.set_dispositions["late-contact"].count)
  end)

  it("is asked for with ?history=1 only: 400 naming --history when it is off", function()
    local m = start { "--rate", "0" }
    local s = m:stats()
    assert.is_nil(s.outcome_history)
    assert.is_nil(s.disposition_history)
    local st, body = m:request("GET", "/_mock/stats?history=1")
    assert.equal(400, st)
    assert.matches("%-%-history", decode(body).message)
    st = m:request("GET", "/_mock/stats?history=yes")
    assert.equal(400, st)
    m:stop()
  end)
end)

describe("cxone-mock initial-value flags", function()
  after_each(stop_all)

  it("--help lists them", function()
    local rc, out = Mock.run { "--help" }
    assert.equal(0, rc)
    for _, flag in ipairs { "--initial-values", "--seed", "--no-value-fraction", "--values-file", "--history",
      "--discovery-error-rate", "window_ms", "history=1" } do
      assert.truthy(out:find(flag, 1, true), "usage lacks " .. flag)
    end
  end)

  it("rejects bad values with exit 2 naming the flag", function()
    for _, c in ipairs {
      { { "--initial-values", "some" }, "%-%-initial%-values needs random or none" },
      { { "--seed", "-1" }, "%-%-seed needs a whole number" },
      { { "--seed", "x" }, "%-%-seed needs a whole number" },
      { { "--no-value-fraction", "1.5" }, "%-%-no%-value%-fraction needs a number from 0 to 1" },
      { { "--values-file" }, "%-%-values%-file needs a value" },
      { { "--history=no" }, "%-%-history takes no value" },
    } do
      local rc, out, err = Mock.run(c[1])
      assert.equal(2, rc, table.concat(c[1], " "))
      assert.equal("", out)
      assert.matches(c[2], err)
    end
  end)
end)
