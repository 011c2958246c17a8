-- bin/cxone-bulk end to end with files as spreadsheets write them (spec/fixtures/), against the
-- mock: what was sent is checked with the mock's server-side counts and mutations.
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local text = require "cxone.bulk.text"
local csv = require "cxone.bulk.csv"

local FIX = "spec/fixtures/"

local function by_line(results)
    local t = {}
    for _, r in ipairs(results) do t[r.line] = r end
    return t
end

local function puts(m)
    return m:stats().requests.by_route["PUT /api/v2/contacts"] or 0
end

-- The lines of a CSV file without its header, sorted (the failed file is in completion order).
local function body_lines(path)
    local t = {}
    for l in (C.read(path) or ""):gmatch("[^\n]+") do t[#t + 1] = l end
    local header = table.remove(t, 1)
    table.sort(t)
    return header, t
end

describe("cxone-bulk with spreadsheet exports", function()
    local m, any, dir
    m = Mock.shared { "--rate", "0", "--contacts", "2000" }
    any = Mock.shared { "--rate", "0", "--any-contact" }
    lazy_setup(function()
        dir = C.tmpdir()
    end)
    lazy_teardown(function()
        C.rmdir(dir)
    end)
    before_each(function()
        m:reset()
        any:reset()
    end)

    it("sends a ;-separated Excel export (BOM, 'Contact ID', 'Sub-category', trailing ;;;) row by row", function()
        local out = dir .. "/semi.jsonl"
        local code, _, err = C.run(C.args(m, { "-o", out, FIX .. "excel-semicolon-bom.csv" }))
        assert.equal(0, code, err)
        assert.equal(5, puts(m))
        local s = m:stats()
        assert.equal(5, s.total_mutations)
        assert.same({ "Contacted", "Information Provided" },
            { s.mutations["contact-000001"].category, s.mutations["contact-000001"].subcategory })
        assert.equal("Voicemail", s.mutations["contact-000002"].subcategory)
        assert.equal("Callback Requested", s.mutations["contact-000003"].subcategory)
        assert.equal("Follow-up", s.mutations["contact-000004"].category)
        assert.equal("Sale Completed", s.mutations["contact-000005"].subcategory)
        assert.equal(5, #C.jsonl(out))
        assert.matches("skipped 2 empty row%(s%) with no values %(the first on line 7%)", err)
        assert.matches("ignoring unknown CSV column%(s%): Notes", err)
    end)

    it("reads CR-only line ends: every row is sent (not '0 rows')", function()
        local code, _, err = C.run(C.args(m, { "-o", "/dev/null", FIX .. "mac-cr-only.csv" }))
        assert.equal(0, code, err)
        assert.equal(6, puts(m))
        assert.equal("No Answer", m:stats().mutations["contact-000011"].subcategory)
        assert.matches("done: 6 rows", err)
    end)

    it("reads UTF-16 (Excel's Unicode Text, tab-separated)", function()
        local code, _, err = C.run(C.args(m, { "-o", "/dev/null", FIX .. "excel-unicode-text.txt" }))
        assert.equal(0, code, err)
        assert.equal(3, puts(m))
        assert.equal("Escalated to Supervisor", m:stats().mutations["contact-000023"].subcategory)
        assert.equal("Information Provided", m:stats().mutations["contact-000021"].subcategory)
        assert.equal("No Answer", m:stats().mutations["contact-000022"].subcategory)
    end)

    it("refuses cp1252 rows locally with the line and the hint: no request for them", function()
        local out, failed = dir .. "/cp.jsonl", dir .. "/cp-failed.csv"
        local code, _, err = C.run(C.args(m, { "-o", out, "--failed", failed, FIX .. "cp1252.csv" }))
        assert.equal(1, code)
        assert.equal(3, puts(m))
        local s = m:stats()
        assert.is_nil(s.mutations["contact-000013"])
        assert.is_nil(s.mutations["contact-000015"])
        assert.truthy(s.mutations["contact-000014"])
        assert.matches('line 3: category is not valid UTF%-8 %(byte 0xE9%): save the file as "CSV UTF%-8"', err)
        assert.matches("line 5: category is not valid UTF%-8", err)
        -- Results and stderr stay valid UTF-8; the failed file keeps the bytes for re-saving.
        assert.is_nil(text.utf8_problem(C.read(out)))
        assert.is_nil(text.utf8_problem(err))
        local r = by_line(C.jsonl(out))
        assert.is_true(r[3].invalid)
        assert.equal("Contact\\xE9", r[3].category)
        assert.truthy(C.read(failed):find("contact-000013,Contact\233,Rappel demand\233,", 1, true))
    end)

    it("charges an unterminated quote to its own row; the failed file keeps its text", function()
        local out, failed = dir .. "/uq.jsonl", dir .. "/uq-failed.csv"
        local code, _, err = C.run(C.args(m, { "-o", out, "--failed", failed, FIX .. "unterminated-quote.csv" }))
        assert.equal(1, code)
        assert.equal(9, puts(m))
        assert.equal(9, m:stats().total_mutations)
        assert.equal(1, m:stats().mutations["contact-000040"].count)
        assert.matches("line 3: unterminated quoted field", err)
        local header, lines = body_lines(failed)
        assert.equal("contact_id,category,subcategory,error,cxone_bulk_state", header)
        assert.same({ 'contact-000032,"""Contacted",Information Provided,unterminated quoted field,failed' }, lines)
        local r = by_line(C.jsonl(out))
        assert.equal("contact-000032", r[3].contact_id)
        assert.is_true(r[11].ok)
    end)

    it("neutralises formula cells in the failed file; fed back, it sends exactly the original values", function()
        local failed = dir .. "/f-failed.csv"
        local code = C.run(C.args(m, { "-o", "/dev/null", "--failed", failed, FIX .. "formula-cells.csv" }))
        assert.equal(1, code) -- unknown contacts on this mock: five 404s
        assert.equal(5, puts(m))
        local header, lines = body_lines(failed)
        assert.equal("contact_id,category,subcategory,note,error,cxone_bulk_state", header)
        assert.equal(5, #lines)
        -- No cell a spreadsheet would run as a formula: each starts with an apostrophe.
        local cells = 0
        for fields in csv.records(C.read(failed)) do
            for _, cell in ipairs(fields) do
                cells = cells + 1
                assert.is_nil(cell:match("^[=+%-@\t\r]"), cell)
            end
        end
        assert.equal(36, cells)
        local all = table.concat(lines, "\n")
        for _, want in ipairs({ [["'=HYPERLINK(""x"",""click"")"]], "'+4930123456", "'-42", "'@SUM(A1)",
            "''=already", "'=1+2", "'-1", "''-quoted" }) do
            assert.truthy(all:find(want, 1, true), want)
        end
        -- Fed straight back to a tenant where every contact exists.
        local out = dir .. "/f2.jsonl"
        code = C.run(C.args(any, { "-o", out, failed }))
        assert.equal(0, code)
        assert.equal(5, puts(any))
        local s = any:stats()
        assert.equal(5, s.total_mutations)
        for _, id in ipairs({ '=HYPERLINK("x","click")', "+4930123456", "-42", "@SUM(A1)", "'=already" }) do
            assert.truthy(s.mutations[id], id)
            assert.equal(1, s.mutations[id].count, id)
        end
        assert.equal("Email Sent", s.mutations["'=already"].subcategory)
    end)

    it("never echoes terminal escapes or NULs from the input on stderr", function()
        local input = C.write(dir .. "/esc.csv", "contact_id,category,subcategory,\27[31mred\0\n"
            .. "\27]0;pwned\7,Contacted,Busy,1\ncontact-000001,Contacted,\27[2JBusy,2\n"
            .. "\194\155" .. "31m,Contacted,Busy,3\n")
        local code, _, err = C.run(C.args(m, { "-o", "/dev/null", input }))
        assert.equal(1, code)
        assert.equal(0, puts(m))
        assert.is_nil(err:find("[%z\7\27]"), err)
        assert.is_nil(err:find("\194\155", 1, true))
        assert.matches("ignoring unknown CSV column%(s%): \\x1B%[31mred\\0", err)
        assert.matches("line 2: contact_id contains control character 0x1B", err)
        assert.matches("line 4: contact_id contains control character U%+009B", err)
    end)

    it("--encoding cp1252 transcodes: every row is sent, in UTF-8", function()
        local acc = Mock.start { "--rate", "0", "--contacts", "2000", "--outcomes", FIX .. "outcomes-accents.json" }
        local code, _, err = C.run(C.args(acc, { "-o", "/dev/null", "--encoding", "cp1252", FIX .. "cp1252.csv" }))
        local n, s = puts(acc), acc:stats()
        acc:stop()
        assert.equal(0, code, err)
        assert.equal(5, n)
        assert.equal("Contacté", s.mutations["contact-000013"].category)
        assert.equal("Rendez-vous fixé – 9h", s.mutations["contact-000015"].subcategory)
    end)

    it("--column and --delimiter name what detection cannot guess", function()
        local input = C.write(dir .. "/kontakt.csv", "Kontakt|Ergebnis|Detail\ncontact-000100|Contacted|Information Provided\n")
        local code, _, err = C.run(C.args(m, { "-o", "/dev/null", "--delimiter", "|", "--column", "contact_id=Kontakt",
            "--column", "category=Ergebnis", "--column", "subcategory=Detail", input }))
        assert.equal(0, code, err)
        assert.equal(1, puts(m))
        assert.equal("Information Provided", m:stats().mutations["contact-000100"].subcategory)
        code, _, err = C.run(C.args(m, { "--column", "contact_id=Kunde", input }))
        assert.equal(2, code)
        assert.matches("%-%-column contact_id=Kunde: the CSV header has no such column", err)
    end)
end)
