-- cxone-bulk's pre-flight options (issue 5): --validate-outcomes, --outcome-map, --preflight,
-- checked against the mock's server-side request counts.
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"

local PUT, GET_C, GET_O = "PUT /api/v2/contacts", "GET /api/v2/contacts", "GET /api/v2/contact/outcomes"

local function route(m, name) return m:stats().requests.by_route[name] or 0 end

local function with(m, dir, list)
    local a = C.fast(m, { "--output", dir .. "/results.jsonl", "--failed", dir .. "/failed.csv", "--quiet" })
    for _, v in ipairs(list) do a[#a + 1] = v end
    return a
end

describe("cxone-bulk pre-flight options", function()
    local m, dir
    m = Mock.shared { "--rate", "0", "--contacts", "10" }
    lazy_setup(function()
        dir = C.tmpdir()
    end)
    lazy_teardown(function()
        C.rmdir(dir)
    end)
    before_each(function() m:reset() end)

    it("--validate-outcomes fails unknown outcomes locally with a suggestion, without a PUT", function()
        local input = C.write(dir .. "/in.csv", "contact_id,category,subcategory\r\n"
            .. "contact-000001,Contacted,Information Provided\r\n"
            .. "contact-000002,contacted,information provided\r\n")
        local code = C.run(with(m, dir, { "--validate-outcomes", input }))
        assert.equal(1, code)
        local results = C.jsonl(dir .. "/results.jsonl")
        assert.equal(2, #results)
        local bad = results[1].line == 3 and results[1] or results[2]
        assert.matches('did you mean "Contacted / Information Provided"', bad.error, 1, true)
        assert.equal(1, route(m, GET_O))
        assert.equal(1, route(m, PUT))
        assert.matches("did you mean", C.read(dir .. "/failed.csv"), 1, true)
    end)

    it("--outcome-map translates an outcome_code column (CSV map); an unknown code fails naming it", function()
        local map = C.write(dir .. "/map.csv", "code,category,subcategory\nCNT-INFO,Contacted,Information Provided\n"
            .. "NC-BUSY,Not Contacted,Busy\n")
        local input = C.write(dir .. "/codes.csv", "contact_id,outcome_code\ncontact-000001,CNT-INFO\n"
            .. "contact-000002,NC-BUSY\ncontact-000003,NOPE\n")
        local code = C.run(with(m, dir, { "--outcome-map", map, input }))
        assert.equal(1, code)
        local s = m:stats()
        assert.equal(2, s.requests.by_route[PUT])
        assert.equal("Busy", s.mutations["contact-000002"].subcategory)
        local failed = C.read(dir .. "/failed.csv")
        assert.matches('unknown outcome_code ""?NOPE""?', failed)
        assert.matches("contact%-000003,NOPE", failed)
    end)

    it("--outcome-map takes a JSON map and JSON Lines input", function()
        local map = C.write(dir .. "/map.json", '{"CNT-INFO":{"category":"Contacted","subcategory":"Information Provided"}}')
        local input = C.write(dir .. "/codes.jsonl", '{"contact_id":"contact-000004","outcome_code":"CNT-INFO"}\n')
        assert.equal(0, (C.run(with(m, dir, { "--outcome-map", map, input }))))
        assert.equal("Information Provided", m:stats().mutations["contact-000004"].subcategory)
    end)

    it("a malformed outcome map is a usage error naming the code", function()
        local map = C.write(dir .. "/bad.json", '{"X":{"category":"A"}}')
        local code, _, err = C.run(with(m, dir, { "--outcome-map", map, dir .. "/codes.jsonl" }))
        assert.equal(2, code)
        assert.matches('outcome_map%["X"%]', err)
        assert.equal(0, m:stats().requests.total)
    end)

    it("--preflight skips missing contacts with 404 and sends no PUT for them", function()
        local input = C.write(dir .. "/pre.csv", "contact_id,category,subcategory\n"
            .. "contact-000005,Contacted,Information Provided\nghost-9,Contacted,Information Provided\n")
        local code = C.run(with(m, dir, { "--preflight", input }))
        assert.equal(1, code)
        assert.equal(2, route(m, GET_C))
        assert.equal(1, route(m, PUT))
        local results = C.jsonl(dir .. "/results.jsonl")
        local ghost = results[1].contact_id == "ghost-9" and results[1] or results[2]
        assert.equal(404, ghost.status)
        assert.equal("not_found", ghost.skipped)
    end)
end)
