-- An operator's first hour with spreadsheets (issue 20, items 3-6 and 10-12): bin/cxone-bulk end
-- to end against the mock. What was sent is checked with the mock's server-side counts.
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local csv = require "cxone.bulk.csv"
local input = require "cxone.bulk.input"

local BOM = "\239\187\191"

local function by_line(results)
    local t = {}
    for _, r in ipairs(results) do t[r.line] = r end
    return t
end

local function route(m, name)
    return m:stats().requests.by_route[name] or 0
end

local function puts(m) return route(m, "PUT /api/v2/contacts") end

-- The records of a CSV file (delimiter detected), header first.
local function records(path)
    local out = {}
    for fields in csv.records((C.read(path) or ""):gsub("^" .. BOM, ""), { delimiter = "auto" }) do
        out[#out + 1] = fields
    end
    return out
end

describe("cxone-bulk as an operator with a spreadsheet", function()
    local m, acc, lost, dir
    m = Mock.shared { "--rate", "0", "--contacts", "2000" }
    acc = Mock.shared { "--rate", "0", "--contacts", "2000", "--outcomes", "spec/fixtures/outcomes-accents.json" }
    -- Applied, then answered after the client gave up: outcome unknown (no hidden resend).
    lost = Mock.shared { "--rate", "0", "--any-contact", "--late-after-mutate", "1.0", "--late-seconds", "3" }
    lazy_setup(function()
        dir = C.tmpdir()
    end)
    lazy_teardown(function()
        C.rmdir(dir)
    end)
    before_each(function()
        m:reset()
        acc:reset()
        lost:reset()
    end)

    -- A German Excel export: ';', cp1252, its own header names, CRLF.
    local EU = "Contact ID;Outcome Category;Outcome Sub-category\r\n"
        .. "contact-000013;Contact\233;Rappel demand\233\r\n"
        .. "missing-1;Contact\233;Rendez-vous fix\233 \150 9h\r\n"
        .. "contact-000014;Contact\233;Pas dans la liste\r\n"
    local COLUMNS = { "--encoding", "cp1252", "--column", "category=Outcome Category",
        "--column", "subcategory=Outcome Sub-category" }

    it("item 3: writes the failed file in the input's delimiter, header and a BOM'd UTF-8; the same command re-feeds it", function()
        local src, failed = C.write(dir .. "/eu.csv", EU), dir .. "/eu-failed.csv"
        local code, _, err = C.run(C.args(acc, { "-o", "/dev/null", "--failed", failed, src }, COLUMNS))
        assert.equal(1, code, err)
        assert.equal(3, puts(acc))
        local text = C.read(failed)
        assert.equal(BOM, text:sub(1, 3)) -- Excel reads UTF-8 with a BOM; so does this reader
        local rec = records(failed)
        assert.same({ "Contact ID", "Outcome Category", "Outcome Sub-category", "error", "cxone_bulk_state" }, rec[1])
        assert.truthy(text:find("Contact ID;Outcome Category;Outcome Sub-category;error;cxone_bulk_state\n", 1, true))
        table.remove(rec, 1)
        table.sort(rec, function(a, b) return a[1] < b[1] end)
        assert.same({ "contact-000014", "Contacté", "Pas dans la liste" }, { rec[1][1], rec[1][2], rec[1][3] })
        assert.same({ "missing-1", "Contacté", "Rendez-vous fixé – 9h" }, { rec[2][1], rec[2][2], rec[2][3] })
        assert.same({ "failed", "failed" }, { rec[1][5], rec[2][5] })
        -- Fixed in the spreadsheet (the id), fed back with the very same command: no warning
        -- about the BOM, every row read, the accents intact.
        local fixed = C.write(dir .. "/eu-fixed.csv", (text:gsub("missing%-1", "contact-000015")))
        code, _, err = C.run(C.args(acc, { "-o", dir .. "/eu2.jsonl", "--failed", dir .. "/eu2-failed.csv", fixed }, COLUMNS))
        assert.equal(1, code, err) -- the outcome not in the list still fails
        assert.is_nil(err:find("byte-order mark", 1, true), err)
        assert.is_nil(err:find("unknown CSV column", 1, true), err)
        assert.equal("Rendez-vous fixé – 9h", acc:stats().mutations["contact-000015"].subcategory)
        -- And without --encoding too.
        acc:reset()
        code, _, err = C.run(C.args(acc, { "-o", "/dev/null", fixed }, { "--column", "category=Outcome Category",
            "--column", "subcategory=Outcome Sub-category" }))
        assert.equal(1, code, err)
        assert.equal("Rendez-vous fixé – 9h", acc:stats().mutations["contact-000015"].subcategory)
    end)

    it("item 3: marks rows whose update may have been applied 'outcome unknown'; fed back they carry verify", function()
        local src, failed = C.write(dir .. "/lost.csv", C.csv(C.rows(2))), dir .. "/lost-failed.csv"
        local code, _, err = C.run(C.args(lost, { "-o", "/dev/null", "--failed", failed, "--max-retries", "0",
            "--timeout", "0.5", src }))
        assert.equal(1, code, err)
        local rec = records(failed)
        assert.equal(3, #rec, C.read(failed) .. err)
        assert.equal("outcome unknown", rec[2][5])
        assert.equal("outcome unknown", rec[3][5])
        local inp = assert(input.open(failed, { warn = function(w) error(w) end }))
        local r1, r2 = inp:next(), inp:next()
        inp:close()
        assert.is_nil(r1.error)
        assert.is_true(r1.task.verify)
        assert.is_true(r2.task.verify)
        assert.is_nil(r1.task.error)
    end)

    it("item 3: a failed file of a --format ids run re-feeds with that same command (read as CSV, not as ids)", function()
        local ids, failed = C.write(dir .. "/ids.txt", "missing-1\ncontact-000001\n"), dir .. "/ids-failed.csv"
        local cmd = { "--format", "ids", "--category", "Contacted", "--subcategory", "Information Provided" }
        local code, _, err = C.run(C.args(m, { "-o", "/dev/null", "--failed", failed, ids }, cmd))
        assert.equal(1, code, err)
        local fixed = C.write(dir .. "/ids-fixed.csv", (C.read(failed):gsub("missing%-1", "contact-000002")))
        m:reset()
        code, _, err = C.run(C.args(m, { "-o", "/dev/null", fixed }, cmd))
        assert.equal(0, code, err)
        assert.equal(1, puts(m))
        assert.truthy(m:stats().mutations["contact-000002"])
    end)

    it("item 4: a missing column lists the header and suggests the --column that maps it; that command works", function()
        local src = C.write(dir .. "/h.csv", "Contact ID;Outcome Category;Outcome Sub-category\n"
            .. "contact-000001;Contacted;Information Provided\n")
        local code, _, err = C.run(C.args(m, { "-o", "/dev/null", src }))
        assert.equal(2, code)
        assert.matches('found: "Contact ID", "Outcome Category", "Outcome Sub%-category"', err)
        local suggested = err:match("read them with (%-%-column .-), or give")
        assert.equal('--column category="Outcome Category" --column subcategory="Outcome Sub-category"', suggested)
        code, _, err = C.run(C.args(m, { "-o", "/dev/null", "--column", "category=Outcome Category",
            "--column", "subcategory=Outcome Sub-category", src }))
        assert.equal(0, code, err)
        assert.equal(1, puts(m))
    end)

    it("item 4: --column takes every field of --api cxone ('skill=Skill ID')", function()
        local src = C.write(dir .. "/cx.csv", "Contact,Skill ID,Disposition,Agent notes\n600123456789,1001,2,call back\n")
        local out = dir .. "/cx.jsonl"
        local code, _, err = C.run({ "--api", "cxone", "--dry-run", "-o", out, "--column", "contact_id=Contact",
            "--column", "skill=Skill ID", "--column", "disposition_code=Disposition", "--column", "notes=Agent notes", src })
        assert.equal(0, code, err)
        local r = C.jsonl(out)[1]
        assert.equal("600123456789", r.contact_id)
        assert.matches('"skill":"1001"', r.body)
        assert.matches('"notes":"call back"', r.body)
    end)

    it("item 5: outcome errors name the input line, and the summary shows every suggestion", function()
        local rows = C.rows(6)
        rows[2] = { "contact-000002", "Contacted", "Info" }                      -- line 3: no suggestion
        rows[5] = { "contact-000005", "Contacted", "Informaton Provided" }       -- line 6: did you mean
        local src = C.write(dir .. "/o.csv", C.csv(rows))
        local out = dir .. "/o.jsonl"
        local code, _, err = C.run(C.args(m, { "--validate-outcomes", "-o", out, "--failed", dir .. "/o-failed.csv", src }))
        assert.equal(1, code, err)
        assert.equal(4, puts(m))
        local r = by_line(C.jsonl(out))
        assert.matches("^line 6: outcome", r[6].error)
        assert.matches("^line 3: outcome", r[3].error)
        assert.is_nil(err:find("task %d"), err)
        local summary = err:match("cxone%-bulk done:.*$")
        assert.matches('line 6: outcome "Contacted" / "Informaton Provided" is not in the CXone outcome hierarchy; '
            .. 'did you mean "Contacted / Information Provided"%?', summary)
        assert.matches("line 3: outcome", summary)
        assert.truthy(C.read(dir .. "/o-failed.csv"):find('"line 6: outcome', 1, true))
    end)

    it("item 6: refuses ids a spreadsheet turned into scientific notation, locally, with the hint", function()
        local src = C.write(dir .. "/sci.csv", 'contact_id;category;subcategory\n"6,00123E+11";Contacted;Information Provided\n'
            .. "6.00123E+11;Contacted;Information Provided\ncontact-000001;Contacted;Information Provided\n")
        local out = dir .. "/sci.jsonl"
        local code, _, err = C.run(C.args(m, { "-o", out, src }))
        assert.equal(1, code, err)
        assert.equal(1, puts(m)) -- only the real id was sent: no 404 for the rounded ones
        local r = by_line(C.jsonl(out))
        assert.is_true(r[2].invalid and r[3].invalid)
        assert.matches("the column was formatted as a number; format it as text", r[2].error)
        assert.matches("line 3: contact_id 6%.00123E%+11 .*format it as text", err)
    end)

    it("item 6: warns when --encoding cp1252 is given a file that is valid UTF-8", function()
        local src = C.write(dir .. "/u8.csv", "contact_id,category,subcategory\ncontact-000001,Contacted,Caf\195\169\n")
        local code, _, err = C.run(C.args(m, { "--dry-run", "-o", "/dev/null", "--encoding", "cp1252", src }))
        assert.equal(0, code, err)
        assert.matches('warning: %-%-encoding cp1252, but the input is valid UTF%-8: "Café" is read as "CafÃ©"', err)
        -- A real cp1252 file gets no such warning.
        code, _, err = C.run(C.args(m, { "--dry-run", "-o", "/dev/null", "--encoding", "cp1252",
            C.write(dir .. "/cp.csv", "contact_id,category,subcategory\ncontact-000001,Contacted,Caf\233\n") }))
        assert.equal(0, code, err)
        assert.is_nil(err:find("valid UTF-8", 1, true), err)
    end)

    it("item 10: --dry-run --validate-outcomes checks through the engine with credentials, and says so without", function()
        local rows = C.rows(3)
        rows[2] = { "contact-000002", "Contacted", "Informaton Provided" }
        local src = C.write(dir .. "/d.csv", C.csv(rows))
        local out, sum = dir .. "/d.jsonl", dir .. "/d.json"
        local code, _, err = C.run(C.args(m, { "--dry-run", "--validate-outcomes", "-o", out, "--summary-json", sum, src }))
        assert.equal(1, code, err)
        assert.matches("would send%s+2\n", err)
        assert.matches('did you mean "Contacted / Information Provided"', err)
        assert.is_true(by_line(C.jsonl(out))[3].invalid)
        assert.equal(1, route(m, "GET /api/v2/contact/outcomes"))
        assert.equal(0, puts(m))
        assert.is_true(require("cjson").decode(C.read(sum)).outcomes_checked)
        m:reset()
        code, _, err = C.run(C.args(m, { "--dry-run", "--validate-outcomes", "-o", out, "--summary-json", sum, src }),
            { env = { CXONE_CLIENT_ID = false } })
        assert.equal(0, code, err)
        assert.matches("warning: outcomes were not checked: %-%-validate%-outcomes needs credentials", err)
        assert.matches("would send%s+3\n.*note: outcomes were not checked", err)
        assert.equal(0, m:stats().requests.total)
        assert.is_false(require("cjson").decode(C.read(sum)).outcomes_checked)
    end)

    it("item 10: with --api cxone the dry run checks each skill's dispositions through the engine", function()
        local src = C.write(dir .. "/dcx.csv", "contact_id,skill,disposition_code\ncx-1,1001,Callback Requested\n"
            .. "cx-2,1001,Calback Requested\n")
        local out = dir .. "/dcx.jsonl"
        local code, _, err = C.run({ "--api", "cxone", "--issuer", m.url, "--dry-run", "--validate-outcomes", "-o", out,
            src }, { env = { CXONE_ACCESS_KEY_ID = "demo-access-key", CXONE_ACCESS_KEY_SECRET = "demo-access-secret" } })
        assert.equal(1, code, err)
        assert.matches("would send%s+1\n", err)
        assert.matches('line 3: disposition_code "Calback Requested" is not a disposition of skill 1001; did you mean '
            .. '"Callback Requested"%?', err)
        assert.equal(1, route(m, "GET /incontactapi/skills/dispositions"))
        assert.equal(0, m:stats().total_set_dispositions)
    end)

    it("item 11: the effective rate never reads above the limit (5 rows at --rate 10 go in the burst)", function()
        local src = C.write(dir .. "/r.csv", C.csv(C.rows(5)))
        local code, _, err = C.run({ "--base-url", m.url, "--rate", "10", "-o", "/dev/null", src })
        assert.equal(0, code, err)
        local figure = err:match("effective rate ([%d.]+)")
        assert.is_true(figure == nil or tonumber(figure) <= 10, err)
        assert.matches("effective rate: burst %(all 5 updates within the first burst of 20; limit 10/s%)", err)
    end)

    it("item 12: a run whose answers are mostly 404 says so after the first 50, while it runs", function()
        local rows = C.rows(70)
        for i = 1, 60 do rows[i][1] = ("nobody-%d"):format(i) end
        local src = C.write(dir .. "/nf.csv", C.csv(rows))
        -- With the auto-halt on (the default) such a run stops at its 20th answer (exit 5,
        -- spec/cli_safety_spec.lua); the warning is for a run that goes on.
        local code, _, err = C.run(C.args(m, { "-o", "/dev/null", "--workers", "1", "--max-failure-rate", "0", src }))
        assert.equal(1, code)
        local warning = err:find("warning: 50 of the first 50 answered rows were 404", 1, true)
        assert.truthy(warning, err)
        assert.truthy(warning < err:find("cxone-bulk done:", 1, true)) -- before the summary
        assert.equal(1, select(2, err:gsub("answered rows were 404", "")))
        -- Mostly found: no warning.
        code, _, err = C.run(C.args(m, { "-o", "/dev/null", C.write(dir .. "/ok.csv", C.csv(C.rows(60))) }))
        assert.equal(0, code, err)
        assert.is_nil(err:find("were 404", 1, true))
    end)
end)
