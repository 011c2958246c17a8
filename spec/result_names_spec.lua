-- `skipped` says why a task sent no update, and says it the same way everywhere (issue 23 §8): a
-- string from the list docs/api.md documents, whether the library's pre-flight GET found no
-- contact or a journal settled the task, and in the CLI's results file too. Each case is a real
-- run against the mock; what was sent is checked with the mock's own counts.
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local C = require "spec.helpers.cli"
local U = require "spec.helpers.util"

-- The reasons docs/api.md documents: the rows of its table whose header is "| `skipped` |".
local function documented_reasons()
  local reasons, in_table = {}, false
  for line in (assert(U.read_file("docs/api.md"))):gmatch("[^\n]+") do
    if line:match("^| `skipped` |") then
      in_table = true
    elseif in_table then
      if not line:match("^|") then break end
      local reason = line:match('^| `"([%w_]+)"` |')
      if reason then reasons[reason] = true end
    end
  end
  return reasons
end

local REASONS = documented_reasons()

-- Every result that is skipped at all names a documented reason; returns the results by key.
local function assert_named(results, key)
  local by = {}
  for _, r in pairs(results) do
    if r.skipped ~= nil then
      assert.is_string(r.skipped, ("%s: skipped is %s, not a reason"):format(r.contact_id, tostring(r.skipped)))
      assert.is_true(REASONS[r.skipped], ("%s: skipped = %q is not in docs/api.md"):format(r.contact_id, r.skipped))
    end
    by[r[key]] = r
  end
  return by
end

local function puts(m) return m:stats().requests.by_route["PUT /api/v2/contacts"] or 0 end

local GHOST = { contact_id = "ghost-1", category = "Contacted", subcategory = "Information Provided" }

describe("docs/api.md", function()
  it("documents the reasons a result is skipped", function()
    assert.same({ not_found = true, journal = true, superseded = true }, REASONS)
  end)
end)

describe("skipped in library results", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "5", "--quiet" }
  local dir
  lazy_setup(function() dir = C.tmpdir() end)
  lazy_teardown(function() C.rmdir(dir) end)
  before_each(function() m:reset() end)

  it("is \"not_found\" when the pre-flight GET answers 404 (no PUT; still a failed result)", function()
    local tasks = H.tasks(2)
    tasks[3] = GHOST
    local summary, results = H.run(tasks, H.opts(m, { preflight = true }))
    local by = assert_named(results, "contact_id")
    assert.equal("not_found", by["ghost-1"].skipped)
    assert.is_false(by["ghost-1"].ok)
    assert.equal(404, by["ghost-1"].status)
    assert.equal("not_found", by["ghost-1"].error_kind)
    assert.is_nil(by["contact-000001"].skipped)
    assert.equal(1, summary.skipped)
    assert.equal(2, puts(m))
  end)

  it("is \"journal\" for a task the journal records as applied (no request)", function()
    local opts = H.opts(m, { journal = dir .. "/lib.journal" })
    H.run(H.tasks(3), opts)
    local sent = puts(m)
    local summary, results = H.run(H.tasks(3), H.opts(m, { journal = dir .. "/lib.journal" }))
    local by = assert_named(results, "contact_id")
    for i = 1, 3 do assert.equal("journal", by[("contact-%06d"):format(i)].skipped) end
    assert.equal(3, summary.skipped)
    assert.equal(sent, puts(m))
  end)
end)

describe("skipped in the CLI's results file", function()
  local m = Mock.shared { "--rate", "0", "--contacts", "5", "--quiet" }
  local dir
  lazy_setup(function() dir = C.tmpdir() end)
  lazy_teardown(function() C.rmdir(dir) end)
  before_each(function() m:reset() end)

  it("is \"not_found\" for --preflight's 404", function()
    local input = C.write(dir .. "/pre.csv", C.csv({ { "contact-000001", "Contacted", "Information Provided" },
      { "ghost-1", "Contacted", "Information Provided" } }))
    assert.equal(1, (C.run(C.args(m, { "--preflight", "-o", dir .. "/pre.jsonl", input }))))
    local by = assert_named(C.jsonl(dir .. "/pre.jsonl"), "line")
    assert.equal("not_found", by[3].skipped)
    assert.is_nil(by[2].skipped)
    assert.equal(1, puts(m))
  end)

  it("is \"journal\" and \"superseded\" for the rows a rerun does not send", function()
    -- line 2 fails (not an outcome of the tenant: 400), line 3 sets the same contact and succeeds
    local input = C.write(dir .. "/re.csv", C.csv({ { "contact-000001", "Contacted", "Sale Complete" },
      { "contact-000001", "Contacted", "Information Provided" }, { "contact-000002", "Not Contacted", "Busy" } }))
    local journal = dir .. "/re.journal"
    assert.equal(1, (C.run(C.args(m, { "--journal", journal, "-o", dir .. "/re1.jsonl", input }))))
    local sent = puts(m)
    local code, _, err = C.run(C.args(m, { "--journal", journal, "-o", dir .. "/re2.jsonl", input }))
    assert.equal(0, code, err)
    local by = assert_named(C.jsonl(dir .. "/re2.jsonl"), "line")
    assert.equal("superseded", by[2].skipped)
    assert.equal("journal", by[3].skipped)
    assert.equal("journal", by[4].skipped)
    assert.equal(sent, puts(m))
  end)
end)
