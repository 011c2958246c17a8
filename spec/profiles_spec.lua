-- A profile is one table (cxone.bulk.profiles): adding one is one entry, and the library, the
-- option checks, the row reader and the C core take it without a branch of their own. Shown
-- with a toy third profile: the tutorial's API with French field names.
local bulk = require "cxone.bulk"
local profiles = require "cxone.bulk.profiles"
local input = require "cxone.bulk.input"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local util = require "spec.helpers.util"

-- The one entry (registered once per Lua state: busted runs every spec file in one).
local TOY = profiles.BY_NAME["tutorial-fr"] or profiles.add("tutorial-fr", {
  base = "tutorial",
  outcome = { "categorie", "sous_categorie" },
  columns = { "contact_id", "categorie", "sous_categorie", "idempotency_key", "outcome_code" },
  record = { "contact_id", "categorie", "sous_categorie", "idempotency_key" },
  undo = { "contact_id", "categorie", "sous_categorie", "idempotency_key" },
  after = function(f) return { category = f.categorie, subcategory = f.sous_categorie } end,
})

describe("profiles as data", function()
  it("every profile declares the same fields, and its core is a request shape the C core builds", function()
    for _, name in ipairs(profiles.NAMES) do
      local p = profiles.get(name)
      assert.are.equal(name, p.name)
      assert.truthy(p.core == "tutorial" or p.core == "cxone", name)
      assert.are.equal(2, #p.outcome, name)
      for _, f in ipairs(p.outcome) do assert.is_true(p.fields[f], name .. ": " .. f) end
      assert.are.equal("contact_id", p.columns[1], name)
      assert.are.equal("function", type(p.before), name)
    end
  end)

  it("an unknown api names the known profiles, the toy one too", function()
    local ok, err = pcall(bulk.start, {}, { api = "nope", base_url = "http://127.0.0.1:1" })
    assert.is_false(ok)
    assert.matches([[option 'api' must be "tutorial" or "cxone" or "tutorial-fr" (got "nope")]], tostring(err), 1, true)
  end)

  it("a name in use cannot be added again", function()
    assert.has_error(function() profiles.add("cxone", { base = "tutorial" }) end, 'profile name "cxone" is not free')
  end)

  describe("a toy third profile, added by one entry", function()
    local m
    lazy_setup(function() m = Mock.start { "--rate", "0", "--contacts", "10" } end)
    lazy_teardown(function() m:stop() end)

    it("sends the tutorial request from its own field names, exactly once per contact (server-side)", function()
      m:reset()
      local tasks = {}
      for i = 1, 3 do
        tasks[i] = { contact_id = string.format("contact-%06d", i), categorie = "Contacted",
                     sous_categorie = "Information Provided" }
      end
      local summary, results = H.run(tasks, H.opts(m, { api = "tutorial-fr" }))
      assert.are.equal(3, summary.succeeded)
      for _, r in ipairs(results) do assert.is_true(r.ok, r.error) end
      local s = m:stats()
      assert.are.equal(3, s.requests.by_route["PUT /api/v2/contacts"])
      for i = 1, 3 do
        local got = s.mutations[string.format("contact-%06d", i)]
        assert.are.equal("Contacted", got.category)
        assert.are.equal("Information Provided", got.subcategory)
      end
    end)

    it("refuses a task without its fields in its own words, and an outcome_map of another shape", function()
      local _, results = H.run({ { contact_id = "contact-000001", categorie = "Contacted" } },
        H.opts(m, { api = "tutorial-fr" }))
      assert.is_true(results[1].invalid)
      assert.matches("sous_categorie is missing", results[1].error, 1, true)
      local ok, err = pcall(bulk.start, {}, H.opts(m, { api = "tutorial-fr",
        outcome_map = { X = { category = "A", subcategory = "B" } } }))
      assert.is_false(ok)
      assert.matches([[outcome_map["X"] must be {categorie = string, sous_categorie = string} with api = "tutorial-fr"]],
        tostring(err), 1, true)
    end)

    it("describes its request (the dry run) with the tutorial's body and a derived key", function()
      local d = assert(bulk.describe({ contact_id = "c1", categorie = "Contacted", sous_categorie = "Busy" },
        { api = "tutorial-fr", base_url = "https://example.test" }))
      assert.are.equal("PUT", d.method)
      assert.are.equal("https://example.test/api/v2/contacts/c1", d.url)
      assert.are.equal('{"outcome":{"category":"Contacted","subcategory":"Busy"}}', d.body)
    end)
  end)

  it("the CLI's row reader maps the toy profile's columns as people type them", function()
    local dir = util.tmpdir()
    local path = dir .. "/in.csv"
    local fh = assert(io.open(path, "w"))
    fh:write("Contact ID,Categorie,Sous Categorie\ncontact-000001,Contacted,Busy\n")
    fh:close()
    local inp = assert(input.open(path, { api = "tutorial-fr" }))
    local row = inp:next()
    inp:close()
    assert.is_nil(row.error)
    assert.are.same({ contact_id = "contact-000001", categorie = "Contacted", sous_categorie = "Busy" },
      { contact_id = row.task.contact_id, categorie = row.task.categorie, sous_categorie = row.task.sous_categorie })
    assert.are.equal(TOY, profiles.get("tutorial-fr"))
  end)
end)
