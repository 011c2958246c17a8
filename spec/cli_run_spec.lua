-- bin/cxone-bulk end to end against the mock: usage and exit codes, dry run, every input format,
-- malformed rows, --strict, outputs (results JSONL, failed CSV fed back in), duplicates, auth.
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"

local function by_line(results)
    local t = {}
    for _, r in ipairs(results) do
        assert.is_nil(t[r.line], "two results for line " .. tostring(r.line))
        t[r.line] = r
    end
    return t
end

describe("cxone-bulk usage", function()
    it("prints help with examples and exits 0", function()
        local code, out = C.run({ "--help" })
        assert.equal(0, code)
        assert.matches("Usage: cxone%-bulk", out)
        assert.matches("Examples:", out)
    end)

    it("exits 2 naming the bad option", function()
        local code, _, err = C.run({ "--workers", "0", "x.csv" })
        assert.equal(2, code)
        assert.matches("%-%-workers must be a whole number >= 1", err)
        assert.matches("Try 'cxone%-bulk %-%-help'", err)
        code, _, err = C.run({ "--base-url", "http://example.com", "x.csv" })
        assert.equal(2, code)
        assert.matches("plain http://", err)
    end)

    it("exits 2 without credentials in the environment, before reading anything", function()
        local code, _, err = C.run({ "--base-url", "https://api.example.invalid", "/nonexistent.csv" }, { env = { CXONE_CLIENT_SECRET = false } })
        assert.equal(2, code)
        assert.matches("CXONE_CLIENT_SECRET is not set", err)
    end)

    it("exits 2 on an unreadable input or an unusable header", function()
        local code, _, err = C.run({ "--base-url", "https://api.example.invalid", "/nonexistent/in.csv" })
        assert.equal(2, code)
        assert.matches("cannot open input: /nonexistent/in.csv", err)
        local dir = C.tmpdir()
        C.write(dir .. "/h.csv", "id,category,subcategory\n1,a,b\n")
        code, _, err = C.run({ "--base-url", "https://api.example.invalid", dir .. "/h.csv" })
        assert.equal(2, code)
        assert.matches("line 1: CSV header has no contact_id column", err)
        C.write(dir .. "/ids.txt", "1\n2\n")
        code, _, err = C.run({ "--base-url", "https://api.example.invalid", dir .. "/ids.txt" })
        assert.equal(2, code)
        assert.matches("category is required", err)
        C.rmdir(dir)
    end)
end)

describe("cxone-bulk against the mock", function()
    local m, dir
    m = Mock.shared { "--rate", "0", "--contacts", "2000" }
    lazy_setup(function()
        dir = C.tmpdir()
    end)
    lazy_teardown(function()
        C.rmdir(dir)
    end)
    before_each(function() m:reset() end)

    it("--dry-run prints each request and sends nothing, not even for a token", function()
        local rows = C.rows(20)
        rows[#rows + 1] = { "", "Contacted", "Busy" }
        local input = C.write(dir .. "/dry.csv", C.csv(rows))
        local code, out, err = C.run(C.args(m, { "--dry-run", "--batch-id", "b7", input }))
        assert.equal(1, code) -- one invalid row
        local lines = {}
        for l in out:gmatch("[^\n]+") do lines[#lines + 1] = require("cjson").decode(l) end
        assert.equal(21, #lines)
        assert.equal("PUT", lines[1].method)
        assert.equal(m.url .. "/api/v2/contacts/contact-000001", lines[1].url)
        assert.equal('{"outcome":{"category":"Contacted","subcategory":"Information Provided"}}', lines[1].body)
        assert.matches("^%x+%-%x+%-5%x+%-%x+%-%x+$", lines[1].idempotency_key)
        assert.equal(2, lines[1].line)
        assert.is_true(lines[21].invalid)
        assert.equal(22, lines[21].line)
        assert.matches("dry run: 21 rows", err)
        local s = m:stats()
        assert.equal(0, s.requests.total)
        assert.equal(0, s.tokens_issued)
        -- The same key a real run sends.
        local out2 = dir .. "/dry-real.jsonl"
        assert.equal(1, (C.run(C.args(m, { "--batch-id", "b7", "-o", out2, input }))))
        assert.equal(lines[1].idempotency_key, by_line(C.jsonl(out2))[2].idempotency_key)
    end)

    it("--dry-run needs no credentials and no base URL: the URLs show {base_url}, and it says so", function()
        local input = C.write(dir .. "/dry-none.jsonl",
            '{"contact_id":"contact-000001","category":"Contacted","subcategory":"Busy"}\n')
        local none = { CXONE_BASE_URL = false, CXONE_CLIENT_ID = false, CXONE_CLIENT_SECRET = false }
        local code, out, err = C.run({ "--dry-run", "--strict", "--batch-id", "b7", input }, { env = none })
        assert.equal(0, code, err)
        local d = require("cjson").decode(out)
        assert.equal("{base_url}/api/v2/contacts/contact-000001", d.url)
        assert.equal("PUT", d.method)
        assert.matches("^%x+%-%x+%-5%x+%-%x+%-%x+$", d.idempotency_key)
        assert.matches("none given %(%-%-base%-url or %$CXONE_BASE_URL%): the URLs show {base_url}", err)
        -- The key does not depend on the URL: a real run sends the same one.
        local code2, out2 = C.run(C.args(m, { "--dry-run", "--batch-id", "b7", input }))
        assert.equal(0, code2)
        assert.equal(d.idempotency_key, require("cjson").decode(out2).idempotency_key)
        -- A real run still needs both.
        local code3, _, err3 = C.run({ "-o", "/dev/null", input }, { env = none })
        assert.equal(2, code3)
        assert.matches("%-%-base%-url is required", err3)
    end)

    it("updates every row of a CSV file and writes one result per row", function()
        local input = C.write(dir .. "/ok.csv", C.csv(C.rows(500)))
        local out = dir .. "/ok.jsonl"
        local code, stdout, err = C.run(C.args(m, { "--output", out, "--failed", dir .. "/ok-failed.csv", input }))
        assert.equal(0, code, err)
        assert.equal("", stdout)
        local results = C.jsonl(out)
        assert.equal(500, #results)
        local lines = by_line(results)
        for line = 2, 501 do
            local r = lines[line]
            assert.is_true(r.ok, "line " .. line)
            assert.equal(200, r.status)
            assert.equal(("contact-%06d"):format(line - 1), r.contact_id)
            assert.equal("Contacted", r.category)
        end
        assert.equal("contact_id,category,subcategory,error,cxone_bulk_state\n", C.read(dir .. "/ok-failed.csv"))
        assert.matches("done: 500 rows", err)
        assert.matches("succeeded%s+500", err)
        local s = m:stats()
        assert.equal(500, s.total_mutations)
        assert.equal(1, s.max_mutations_per_contact)
    end)

    it("reads JSON Lines and a list of ids from stdin, writing results to stdout", function()
        local jl = {}
        for i = 1, 30 do
            jl[i] = ('{"contact_id":"contact-%06d","category":"Not Contacted","subcategory":"Voicemail"}'):format(i)
        end
        local input = C.write(dir .. "/in.jsonl", table.concat(jl, "\n") .. "\n")
        local code, out = C.run(C.args(m, { "-" }), { stdin = input })
        assert.equal(0, code)
        local n = 0
        for line in out:gmatch("[^\n]+") do
            n = n + 1
            assert.matches('"ok":true', line)
        end
        assert.equal(30, n)
        assert.equal("Voicemail", m:stats().mutations["contact-000030"].subcategory)

        local ids = {}
        for i = 31, 60 do ids[#ids + 1] = ("contact-%06d"):format(i) end
        input = C.write(dir .. "/ids.txt", table.concat(ids, "\n") .. "\n")
        code, out = C.run(C.args(m, { "--format", "ids", "--category", "Follow-up", "--subcategory", "Email Sent", "-" }),
            { stdin = input })
        assert.equal(0, code)
        local _, count = out:gsub('"ok":true', "")
        assert.equal(30, count)
        assert.equal("Email Sent", m:stats().mutations["contact-000060"].subcategory)
    end)

    it("reports bad rows with line numbers, sends the good ones, exits 1; --strict sends nothing", function()
        local text = table.concat({
            "contact_id,category,subcategory",
            "contact-000001,Contacted,Busy",            -- 2: rejected by the server (400)
            "contact-000002,Contacted",                 -- 3: missing column
            "contact-000003,Not Contacted,Busy",        -- 4: ok
            ",Not Contacted,Busy",                      -- 5: empty id
            "missing-1,Not Contacted,Busy",             -- 6: 404
            '"contact-000004\nx",Not Contacted,Busy',   -- 7: id with a line break
            "contact-000005,Not Contacted,Busy",        -- 9: ok
        }, "\n") .. "\n"
        local input = C.write(dir .. "/bad.csv", text)
        local out, failed = dir .. "/bad.jsonl", dir .. "/bad-failed.csv"
        local code, _, err = C.run(C.args(m, { "-o", out, "--failed", failed, input }))
        assert.equal(1, code)
        assert.matches("line 3: expected 3 fields %(as in the header%), got 2", err)
        assert.matches("line 5: contact_id is empty", err)
        assert.matches("line 7: contact_id contains control character 0x0A", err)
        local r = by_line(C.jsonl(out))
        assert.equal(400, r[2].status)
        assert.is_true(r[3].invalid)
        assert.equal("contact-000002", r[3].contact_id)
        assert.is_true(r[4].ok)
        assert.is_true(r[5].invalid)
        assert.equal(404, r[6].status)
        assert.is_true(r[7].invalid)
        assert.is_true(r[9].ok)
        assert.matches("400%s+1%s+e%.g%. line 2", err)
        assert.matches("404%s+1%s+e%.g%. line 6", err)
        assert.matches("invalid%s+3", err)
        assert.equal(4, m:stats().requests.by_route["PUT /api/v2/contacts"])

        m:reset()
        code, _, err = C.run(C.args(m, { "--strict", input }))
        assert.equal(2, code)
        assert.matches("line 3: expected 3 fields %(as in the header%), got 2 %(%-%-strict: nothing was sent%)", err)
        assert.equal(0, m:stats().requests.total)
    end)

    it("--strict validates stdin first, then sends it all", function()
        local input = C.write(dir .. "/strict.csv", C.csv(C.rows(40)))
        local code, out = C.run(C.args(m, { "--strict", "-" }), { stdin = input })
        assert.equal(0, code)
        local _, n = out:gsub("\n", "")
        assert.equal(40, n)
        assert.equal(40, m:stats().total_mutations)
    end)

    it("writes a failed file that can be fixed and fed straight back in", function()
        local text = "id_note,contact_id,category,subcategory\n"
            .. 'first,missing-1,Not Contacted,Busy\n'
            .. '"has, comma",contact-000010,Not Contacted,Busy\n'
            .. 'third,missing-2,Not Contacted,"Busy"\n'
        local input = C.write(dir .. "/fb.csv", text)
        local failed = dir .. "/fb-failed.csv"
        local code, _, err = C.run(C.args(m, { "-o", "/dev/null", "--failed", failed, input }))
        assert.equal(1, code)
        assert.matches("ignoring unknown CSV column%(s%): id_note", err)
        local f = C.read(failed)
        local lines = {}
        for l in f:gmatch("[^\n]+") do lines[#lines + 1] = l end
        assert.equal("id_note,contact_id,category,subcategory,error,cxone_bulk_state", table.remove(lines, 1))
        table.sort(lines) -- in completion order
        assert.same({
            'first,missing-1,Not Contacted,Busy,"HTTP 404: contact ""missing-1"" not found",failed',
            'third,missing-2,Not Contacted,Busy,"HTTP 404: contact ""missing-2"" not found",failed',
        }, lines)
        -- Fixed by the operator (the ids), then fed back as it is: error column and all.
        local fixed = C.write(dir .. "/fb-fixed.csv", (f:gsub("missing%-1", "contact-000011"):gsub("missing%-2", "contact-000012")))
        local out = dir .. "/fb2.jsonl"
        code, _, err = C.run(C.args(m, { "-o", out, "--failed", dir .. "/fb2-failed.csv", fixed }))
        assert.equal(0, code, err)
        assert.equal(1, select(2, err:gsub("ignoring unknown CSV column", ""))) -- one warning, for id_note only
        assert.is_nil(err:find("error", 1, true) and err:find("column%(s%):[^\n]*error"))
        local r = by_line(C.jsonl(out))
        assert.is_true(r[2].ok and r[3].ok)
        assert.equal("Busy", m:stats().mutations["contact-000012"].subcategory)
    end)

    it("sends rows for the same contact in input order, each with its own result", function()
        local outcomes = { { "Contacted", "Callback Requested" }, { "Not Contacted", "No Answer" },
            { "Contacted", "Sale Completed" } }
        local rows = {}
        for c = 1, 40 do
            for _, o in ipairs(outcomes) do rows[#rows + 1] = { ("contact-%06d"):format(c), o[1], o[2] } end
        end
        rows[#rows + 1] = { "contact-000001", "Contacted", "Sale Completed" } -- same outcome again
        m:config({ latency_ms = 5, latency_jitter_ms = 20 })
        local input = C.write(dir .. "/dup.csv", C.csv(rows))
        local out = dir .. "/dup.jsonl"
        local code = C.run(C.args(m, { "--workers", "8", "-o", out, input }))
        m:config({ latency_ms = 0, latency_jitter_ms = 0 })
        assert.equal(0, code)
        local results = C.jsonl(out)
        assert.equal(#rows, #results)
        local s = m:stats()
        for c = 1, 40 do
            local id = ("contact-%06d"):format(c)
            assert.equal("Sale Completed", s.mutations[id].subcategory, id)
            assert.equal(3, s.mutations[id].count, id)
        end
        local r = by_line(results)
        assert.is_true(r[#rows + 1].replayed) -- the repeat of line 4's update was replayed, not applied
        assert.equal(r[4].idempotency_key, r[#rows + 1].idempotency_key)
    end)

    it("exits 3 on wrong credentials and never prints the secret", function()
        local input = C.write(dir .. "/auth.csv", C.csv(C.rows(5)))
        local failed = dir .. "/auth-failed.csv"
        local code, out, err = C.run(C.args(m, { "--failed", failed, input }),
            { env = { CXONE_CLIENT_SECRET = "Sup3r-S3cret-Value" } })
        assert.equal(3, code)
        assert.matches("stopped: ", err)
        assert.is_nil(err:find("Sup3r-S3cret-Value", 1, true))
        assert.is_nil(out:find("Sup3r-S3cret-Value", 1, true))
        assert.is_nil(C.read(failed):find("Sup3r-S3cret-Value", 1, true))
        assert.equal(0, m:stats().requests.by_route["PUT /api/v2/contacts"])
    end)
end)
