-- Pre-flight checks (issue 5): outcome hierarchy validation, outcome-code mapping and contact
-- existence, each proven with the mock's server-side request counts.
local bulk = require "cxone.bulk"
local outcomes = require "cxone.bulk.outcomes"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"

local PUT, GET_C, GET_O = "PUT /api/v2/contacts", "GET /api/v2/contacts", "GET /api/v2/contact/outcomes"

local function route(m, name) return m:stats().requests.by_route[name] or 0 end

describe("outcome suggestions", function()
  local tree = assert(outcomes.from_json([[{"categories":[
    {"name":"Contacted","subcategories":[{"name":"Information Provided"},{"name":"Callback Requested"}]},
    {"name":"Not Contacted","subcategories":[{"name":"No Answer"},{"name":"Busy"},{"name":"Voicemail"}]}]}]]))

  it("accepts values in the tree", function()
    assert.is_nil(outcomes.check(tree, "Contacted", "Information Provided"))
  end)
  it("suggests the case-insensitive match first", function()
    assert.matches('did you mean "Contacted / Information Provided"',
      outcomes.check(tree, "contacted", "information provided"), 1, true)
  end)
  it("suggests by edit distance", function()
    assert.matches('did you mean "Not Contacted / Voicemail"', outcomes.check(tree, "Not Contactd", "Voice mail"), 1, true)
  end)
  it("lists the choices when nothing is close", function()
    assert.matches("no category like", outcomes.check(tree, "Zzzzzz", "Q"))
    assert.matches('subcategories of "Contacted": Information Provided, Callback Requested',
      outcomes.check(tree, "Contacted", "Qqqqqqqqqq"), 1, true)
  end)
  it("rejects a malformed hierarchy", function()
    assert.is_nil((outcomes.from_json("[1,2")))
    assert.is_nil((outcomes.from_json('{"nope":1}')))
  end)
end)

describe("validate_outcomes", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "10" }

  it("fetches the hierarchy once and fails invalid tasks locally, with a suggestion, without a PUT", function()
    m:reset()
    local tasks = H.tasks(4)
    tasks[2].subcategory = "information provided"
    tasks[3].category, tasks[3].subcategory = "Not Contactd", "Busy"
    local summary, results = H.run(tasks, H.opts(m, { validate_outcomes = true }))
    assert.is_true(results[1].ok and results[4].ok)
    assert.is_true(results[2].invalid)
    assert.matches('did you mean "Contacted / Information Provided"', results[2].error, 1, true)
    assert.matches('did you mean "Not Contacted / Busy"', results[3].error, 1, true)
    assert.are.equal(4, summary.total)
    assert.are.equal(2, summary.failed)
    assert.are.equal(1, route(m, GET_O))
    assert.are.equal(2, route(m, PUT))
  end)

  it("a hierarchy that cannot be fetched stops the batch before any PUT", function()
    m:reset()
    m:config { error_rate = 1, error_statuses = { 500 } }
    local ok, err = pcall(bulk.batch_update, H.tasks(3), H.opts(m, { validate_outcomes = true, max_retries = 1 }))
    m:config { error_rate = 0 }
    assert.is_false(ok)
    assert.matches("outcome hierarchy", err)
    assert.are.equal(0, route(m, PUT))
  end)
end)

describe("outcome_map", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "10" }

  local map = {
    ["CNT-INFO"] = { category = "Contacted", subcategory = "Information Provided" },
    ["NC-BUSY"] = { category = "Not Contacted", subcategory = "Busy" },
  }

  it("translates codes; an unknown code is a failed result naming it, never sent", function()
    m:reset()
    local tasks = {
      { contact_id = "contact-000001", outcome_code = "CNT-INFO" },
      { contact_id = "contact-000002", outcome_code = "NC-BUSY" },
      { contact_id = "contact-000003", outcome_code = "WHAT-IS-THIS" },
    }
    local summary, results = H.run(tasks, H.opts(m, { outcome_map = map }))
    assert.is_true(results[1].ok and results[2].ok)
    assert.are.equal("task 3: unknown outcome_code \"WHAT-IS-THIS\" (not in outcome_map)", results[3].error)
    assert.are.equal(2, route(m, PUT))
    local s = m:stats()
    assert.are.equal("Busy", s.mutations["contact-000002"].subcategory)
    assert.are.equal(1, summary.invalid)
  end)

  it("rejects a malformed map naming the code", function()
    assert.has_error(function() bulk.start({}, H.opts(m, { outcome_map = { X = { category = "A" } } })) end,
      'cxone.bulk: option outcome_map["X"] must be {category = string, subcategory = string}')
  end)
end)

describe("preflight", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "5" }

  it("GETs each contact first: existing ones are updated, missing ones skipped with 404 and no PUT", function()
    m:reset()
    local tasks = H.tasks(3)
    tasks[4] = { contact_id = "ghost-1", category = "Contacted", subcategory = "Information Provided" }
    tasks[5] = { contact_id = "ghost-2", category = "Contacted", subcategory = "Information Provided" }
    local summary, results = H.run(tasks, H.opts(m, { preflight = true }))
    for i = 1, 3 do assert.is_true(results[i].ok) end
    for i = 4, 5 do
      assert.is_false(results[i].ok)
      assert.are.equal("not_found", results[i].skipped)
      assert.are.equal(404, results[i].status)
      assert.matches("does not exist", results[i].error)
    end
    assert.are.equal(5, route(m, GET_C))
    assert.are.equal(3, route(m, PUT))
    assert.are.equal(2, summary.skipped)
  end)
end)
