-- Metadata fetches (validate_outcomes: the outcome hierarchy, a skill's dispositions) travel on
-- their own path (issue 23 §3): the core keeps their results apart (job:fetched()), so the task
-- results job:take() returns never carry one, and each fetch is one request with one limiter
-- slot, counted server side. Run from the repo root: make spec SPEC_FILES=spec/metadata_fetch_spec.lua
local bulk = require "cxone.bulk"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"

-- Runs tasks through job's C core by hand (what job:poll does), recording every take and
-- every fetched result.
local function drive(job, n)
  local taken, fetched = {}, {}
  local c = job._c
  local t0 = bulk.sys.monotime()
  while #taken < n and bulk.sys.monotime() - t0 < 10 do
    job:_feed()
    for _, r in ipairs(c:take(0.05)) do taken[#taken + 1] = r end
    for _, f in ipairs(c:fetched()) do
      fetched[#fetched + 1] = f
      job:_fetch_done(f)
    end
  end
  return taken, fetched
end

describe("metadata fetches on their own path", function()
  it("tutorial: the outcome hierarchy comes back from fetched(), never among the task results", function()
    local m = Mock.start { "--rate", "0", "--contacts", "20" }
    finally(function() m:stop() end)
    local job = bulk.start(H.tasks(5), H.opts(m, { validate_outcomes = true }))
    local taken, fetched = drive(job, 5)
    job:close()
    assert.are.equal(5, #taken)
    for _, r in ipairs(taken) do
      assert.is_true(r.index >= 1 and r.index <= 5, "a result that is not a task: " .. tostring(r.index))
      assert.is_nil(r.fetch)
      assert.is_true(r.ok, tostring(r.error))
    end
    assert.are.equal(1, #fetched)
    assert.is_true(fetched[1].ok)
    assert.are.equal("", fetched[1].name)
    assert.are.equal(200, fetched[1].status)
    assert.is_string(fetched[1].body)
    assert.are.equal(1, m:stats().requests.by_route["GET /api/v2/contact/outcomes"])
  end)

  it("cxone: each skill's dispositions come back from fetched() named by the skill, once per skill", function()
    local m = Mock.start { "--api", "cxone", "--any-contact", "--rate", "0", "--quiet" }
    finally(function() m:stop() end)
    local list = {}
    for i = 1, 6 do
      list[i] = { contact_id = "cx-" .. i, skill = i % 2 == 0 and "1001" or "1002", disposition_code = i % 2 == 0 and "2" or "13" }
    end
    local job = bulk.start(list, { api = "cxone", issuer = m.url, client_id = "demo-client", client_secret = "demo-secret",
      access_key_id = "demo-access-key", access_key_secret = "demo-access-secret", validate_outcomes = true,
      backoff_base = 0.01, backoff_max = 0.05, timeout = 5 })
    local taken, fetched = drive(job, 6)
    job:close()
    assert.are.equal(6, #taken)
    for _, r in ipairs(taken) do
      assert.is_nil(r.fetch)
      assert.is_true(r.ok, tostring(r.error))
      assert.matches("^cx%-", r.contact_id)
    end
    local names = {}
    for _, f in ipairs(fetched) do names[#names + 1] = f.name end
    table.sort(names)
    assert.are.same({ "1001", "1002" }, names)
  end)

  it("a failed fetch ends the batch with the fetch's own kind, and every task still yields one result", function()
    local m = Mock.start { "--rate", "0", "--contacts", "20" }
    finally(function() m:stop() end)
    -- A closed port: the hierarchy GET cannot connect (a transport failure, detected in C).
    local results = {}
    local o = H.opts(m, { validate_outcomes = true, max_retries = 0, base_url = "http://127.0.0.1:9",
      token_url = m.url .. "/oauth2/token" })
    o.on_result = function(r) results[#results + 1] = r end
    local ok, err = pcall(bulk.batch_update, H.tasks(4), o)
    assert.is_false(ok)
    assert.matches("could not fetch the outcome hierarchy", tostring(err))
    assert.are.equal("network", bulk.error_kind(err))
    assert.are.equal(4, #results)
    for i, r in ipairs(results) do
      assert.are.equal(i, r.index)
      assert.is_true(r.cancelled)
    end
    -- It never reached the mock (the API host is a closed port).
    assert.are.equal(0, m:stats().requests.by_route["GET /api/v2/contact/outcomes"] or 0)
  end)
end)
