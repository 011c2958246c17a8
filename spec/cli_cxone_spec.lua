-- bin/cxone-bulk --api cxone end to end against the mock's cxone profile: a CSV of
-- contact_id,skill,disposition_code,notes, exactly once under faults (server-side counts), the
-- journal on a rerun, local validation, a wrong access key without any secret in the output.
-- Run from the repo root: make spec SPEC_FILES=spec/cli_cxone_spec.lua
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"

local ENV = { CXONE_ACCESS_KEY_ID = "demo-access-key", CXONE_ACCESS_KEY_SECRET = "demo-access-secret" }

local function csv(n, first)
    local out = { "contact_id,skill,disposition_code,notes" }
    for i = first or 1, (first or 1) + n - 1 do
        out[#out + 1] = ("cx-%05d,1001,Callback Requested,\"call back, after %d\""):format(i, i)
    end
    return table.concat(out, "\n") .. "\n"
end

local function by_line(path)
    local t = {}
    for _, r in ipairs(C.jsonl(path)) do t[r.line] = r end
    return t
end

describe("cxone-bulk --api cxone", function()
    local m, dir
    m = Mock.each({ "--api", "cxone", "--any-contact", "--rate", "0", "--quiet" })
    before_each(function()
        dir = C.tmpdir()
    end)
    after_each(function()
        C.rmdir(dir)
    end)

    it("sends notes that span lines (a quoted CSV cell) as written, and still refuses other control characters", function()
        local input = C.write(dir .. "/in.csv", "contact_id,skill,disposition_code,notes\n"
            .. 'cx-1,1001,Callback Requested,"called twice\nprefers mornings"\n'
            .. 'cx-2,1001,Callback Requested,"bell\7"\n')
        local code, _, err = C.run(C.cxone_args(m, { "--output", dir .. "/out.jsonl", input }), { env = ENV })
        assert.equal(1, code, err)
        local res = by_line(dir .. "/out.jsonl")
        assert.is_true(res[2].ok, res[2].error)
        assert.is_false(res[4].ok)
        assert.matches("notes contains control character 0x07", res[4].error, 1, true)
        local st = m:stats()
        assert.equal(1, st.total_set_dispositions)
        assert.equal("called twice\nprefers mornings", st.set_dispositions["cx-1"].notes)
    end)

    it("sends a CSV of contact_id,skill,disposition_code,notes exactly once, even with lost answers", function()
        m:config({ drop_after_mutate = 0.2, error_after_mutate = 0.1 })
        local input = C.write(dir .. "/in.csv", csv(200))
        local code, _, err = C.run(C.cxone_args(m, { "--timeout", "2", "--max-retries", "8", "--output", dir .. "/out.jsonl",
            "--journal", dir .. "/j", input }), { env = ENV })
        assert.equal(0, code, err)
        local res = by_line(dir .. "/out.jsonl")
        local verified = 0
        for line = 2, 201 do
            assert.is_true(res[line].ok, res[line].error)
            assert.equal("Callback Requested", res[line].disposition_code)
            if res[line].verified then verified = verified + 1 end
        end
        assert.is_true(verified > 0)
        local st = m:stats()
        assert.equal(200, st.total_set_dispositions)
        assert.equal(1, st.max_set_dispositions_per_contact)
        assert.equal("call back, after 7", st.set_dispositions["cx-00007"].notes)
        -- A rerun with the journal sends nothing.
        m:config({ drop_after_mutate = 0, error_after_mutate = 0 })
        code = C.run(C.cxone_args(m, { "--output", dir .. "/out2.jsonl", "--journal", dir .. "/j", input }), { env = ENV })
        assert.equal(0, code)
        assert.equal(200, m:stats().total_set_dispositions)
    end)

    it("refuses an unknown disposition code locally with a suggestion (--validate-outcomes)", function()
        local input = C.write(dir .. "/in.csv",
            "contact_id,skill,disposition_code,notes\ncx-1,1001,Not Intrested,\ncx-2,1001,2,ok\n")
        local code, _, err = C.run(C.cxone_args(m, { "--validate-outcomes", "--output", dir .. "/out.jsonl", input }),
            { env = ENV })
        assert.equal(1, code, err)
        local res = by_line(dir .. "/out.jsonl")
        assert.is_true(res[2].invalid)
        assert.matches('did you mean "Not Interested"', res[2].error, 1, true)
        assert.is_true(res[3].ok)
        assert.equal(1, m:stats().total_set_dispositions)
    end)

    it("a wrong access key is a batch error before any POST, with no secret anywhere", function()
        local wrong = "Wr0ng-Access-Secret-9f3a"
        local input = C.write(dir .. "/in.csv", csv(20))
        local code, out, err = C.run(C.cxone_args(m, { "--output", dir .. "/out.jsonl", input }),
            { env = { CXONE_ACCESS_KEY_ID = "demo-access-key", CXONE_ACCESS_KEY_SECRET = wrong } })
        assert.is_not.equal(0, code)
        assert.matches("token: POST " .. m.url .. "/auth/token", err, 1, true)
        assert.equal(0, m:stats().total_set_dispositions)
        local all = out .. err .. (C.read(dir .. "/out.jsonl") or "")
        for _, secret in ipairs({ wrong, "demo-secret", "demo-access-secret" }) do
            assert.is_nil(all:find(secret, 1, true), "secret in the output")
        end
    end)

    it("needs the access key in the environment and a skill column", function()
        local input = C.write(dir .. "/in.csv", csv(2))
        local code, _, err = C.run(C.cxone_args(m, { input }), { env = { CXONE_ACCESS_KEY_SECRET = false,
            CXONE_ACCESS_KEY_ID = "demo-access-key" } })
        assert.equal(2, code)
        assert.matches("CXONE_ACCESS_KEY_SECRET is not set", err, 1, true)
        local bad = C.write(dir .. "/bad.csv", "contact_id,disposition_code\ncx-1,2\n")
        code, _, err = C.run(C.cxone_args(m, { bad }), { env = ENV })
        assert.equal(2, code)
        assert.matches("skill is required with --api cxone", err, 1, true)
        assert.equal(0, m:stats().total_set_dispositions)
    end)
end)
