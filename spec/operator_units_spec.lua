-- Issue 20 (items 3-6, 11, 12) without a server: reading a failed file back (state column,
-- verify), what a missing column says, spreadsheet damage, rates that never read above the
-- limit, the 404 watch, and row messages in the file's terms.
local input = require "cxone.bulk.input"
local failed_file = require "cxone.bulk.failed_file"
local progress = require "cxone.bulk.progress"
local summary = require "cxone.bulk.summary"
local watch = require "cxone.bulk.watch"
local rows_mod = require "cxone.bulk.rows"

local function write_tmp(text, ext)
    local path = os.tmpname() .. (ext or ".csv")
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
    return path
end

-- Opens text as an input file; returns rows, warnings, the Input; or nil, error.
local function rows_of(text, opts)
    local path = write_tmp(text)
    local warnings = {}
    opts = opts or {}
    opts.warn = function(m) warnings[#warnings + 1] = m end
    local inp, err = input.open(path, opts)
    if not inp then
        os.remove(path)
        return nil, err
    end
    local rows = {}
    for row in function() return inp:next() end do rows[#rows + 1] = row end
    inp:close()
    os.remove(path)
    return rows, warnings, inp
end

describe("a failed file read back (item 3)", function()
    it("does not take the error and state columns as data; 'outcome unknown' rows carry verify", function()
        local rows, warnings, inp = rows_of("contact_id,category,subcategory,error,cxone_bulk_state\n"
            .. "1,C,S,HTTP 503,outcome unknown\n2,C,S,cancelled,not sent\n3,C,S,HTTP 404,failed\n4,C,S,,\n"
            .. "5,C,S,x,Outcome Unknown\n6,C,S,x,maybe\n")
        assert.same({}, warnings)
        assert.same({ contact_id = "1", category = "C", subcategory = "S", verify = true }, rows[1].task)
        for i = 2, 4 do
            assert.is_nil(rows[i].error)
            assert.is_nil(rows[i].task.verify)
        end
        assert.is_true(rows[5].task.verify)
        assert.equal('cxone_bulk_state must be "failed", "outcome unknown", "not sent" or empty (got "maybe")',
            rows[6].error)
        local l = inp:failed_layout()
        assert.same({ 4, 5, 5, 5 }, { l.error, l.state, l.prior_state, l.width })
    end)

    it("knows a failed file by its state column alone, and by its BOM gives no encoding warning", function()
        local rows, warnings = rows_of("\239\187\191Kontakt;Kat;Sub;cxone_bulk_state\n'-1;C;S;failed\n",
            { encoding = "cp1252", columns = { "contact_id=Kontakt", "category=Kat", "subcategory=Sub" } })
        assert.same({}, warnings)
        assert.equal("-1", rows[1].task.contact_id) -- un-neutralised, as written
        -- Another file with a BOM and --encoding still gets the warning.
        local _, again = rows_of("\239\187\191contact_id,category,subcategory\n1,C,S\n", { encoding = "cp1252" })
        warnings = again
        assert.matches("UTF%-8 byte%-order mark: read as UTF%-8, not cp1252", warnings[1])
    end)

    it("derives the state from the result, keeping 'outcome unknown' until a result says otherwise", function()
        local FAILED, UNKNOWN, NOT_SENT = failed_file.FAILED, failed_file.OUTCOME_UNKNOWN, failed_file.NOT_SENT
        assert.equal(FAILED, failed_file.state_of({ status = 404, attempts = 1 }, {}))
        assert.equal(UNKNOWN, failed_file.state_of({ status = 0, attempts = 2, outcome_unknown = true }, {}))
        assert.equal(NOT_SENT, failed_file.state_of({ cancelled = true, attempts = 0 }, {}))
        assert.equal(FAILED, failed_file.state_of({ invalid = true, attempts = 0 }, {}))
        assert.equal(UNKNOWN, failed_file.state_of({ cancelled = true, attempts = 0 }, { verify = true }))
        assert.equal(FAILED, failed_file.state_of({ status = 400, attempts = 1 }, { verify = true }))
        assert.equal(UNKNOWN, failed_file.merge(NOT_SENT, "outcome unknown"))
        assert.equal(FAILED, failed_file.merge(nil, "outcome unknown"))
    end)
end)

describe("a CSV header without a needed column (item 4)", function()
    it("lists the cells found and suggests the --column for the closest one", function()
        local _, err = rows_of("Contact ID;Outcome Category;Outcome Sub-category\n1;C;S\n")
        assert.equal('line 1: category and subcategory are required: the CSV header has no column for category '
            .. 'and subcategory (found: "Contact ID", "Outcome Category", "Outcome Sub-category"); read them with '
            .. '--column category="Outcome Category" --column subcategory="Outcome Sub-category", or give '
            .. "--category and --subcategory", err)
        _, err = rows_of("Kunde,Ergebnis,Detail\n1,C,S\n")
        assert.matches('CSV header has no contact_id column %(got: Kunde,Ergebnis,Detail%); name it with '
            .. "%-%-column contact_id=NAME", err)
        _, err = rows_of("ContactNumber,category,subcategory\n1,C,S\n")
        assert.matches('name it with %-%-column contact_id="ContactNumber"', err)
        _, err = rows_of("contact_id,Skill ID,Disposition\n1,2,3\n", { api = "cxone" })
        assert.matches('skill and disposition_code are required with %-%-api cxone: .*read them with '
            .. '%-%-column skill="Skill ID" %-%-column disposition_code="Disposition"$', err)
    end)

    it("takes --column for every field of the active profile, and names the profile of another", function()
        local rows = rows_of("Contact,Skill ID,Code,Notiz,Rückruf\n1,1001,2,n,+49\n", { api = "cxone", columns = {
            "contact_id=Contact", "skill=Skill ID", "disposition_code=Code", "notes=Notiz", "callback_number=Rückruf" } })
        assert.same({ contact_id = "1", skill = "1001", disposition_code = "2", notes = "n", callback_number = "+49" },
            rows[1].task)
        local _, err = rows_of("a,b,c\n1,2,3\n", { columns = { "skill=b" } })
        assert.equal("--column skill=b: unknown field skill (the fields of --api tutorial: contact_id, category, "
            .. "subcategory, idempotency_key, outcome_code); skill is a field of --api cxone", err)
    end)
end)

describe("spreadsheet damage (item 6)", function()
    it("refuses an id in scientific notation, with the hint, and keeps real ids", function()
        local rows = rows_of('contact_id;category;subcategory\n"6,00123E+11";C;S\n6.00123E+11;C;S\n6E+11;C;S\n'
            .. "1e5;C;S\n600123000000;C;S\nE+11;C;S\n")
        for i = 1, 3 do
            assert.matches("is a number in scientific notation, rounded by a spreadsheet: the column was formatted "
                .. "as a number; format it as text", rows[i].error)
        end
        for i = 4, 6 do assert.is_nil(rows[i].error) end
        local ids = rows_of("6,00123E+11\n42\n", { format = "ids", category = "C", subcategory = "S" })
        assert.matches("format it as text", ids[1].error)
        assert.is_nil(ids[2].error)
    end)

    it("warns once when --encoding cp1252 or latin1 is given a valid UTF-8 file", function()
        local text = "contact_id,category,subcategory\n1,Contacted,Caf\195\169 cr\195\168me\n2,C,\226\128\147\n"
        local _, warnings = rows_of(text, { encoding = "cp1252" })
        assert.same({ '--encoding cp1252, but the input is valid UTF-8: "Café" is read as "CafÃ©". If the file was '
            .. 'saved as "CSV UTF-8", leave --encoding out' }, warnings)
        _, warnings = rows_of(text, { encoding = "latin1" })
        assert.equal(1, #warnings)
        _, warnings = rows_of("contact_id,category,subcategory\n1,Contact\233,Caf\233 cr\232me\n", { encoding = "cp1252" })
        assert.same({}, warnings)
        _, warnings = rows_of(text)
        assert.same({}, warnings)
    end)
end)

describe("rates against the limit (item 11)", function()
    it("the summary never shows an effective rate above the limit", function()
        local limit = { rate = 10, burst = 20 }
        local t = summary.new()
        for i = 1, 5 do t:add({ ok = true, status = 200, line = i }) end
        local text = t:render({ requests = 5 }, 5 / 1815.4, { limit = limit })
        assert.is_nil(text:find("effective rate [%d.]+"), text)
        assert.matches("effective rate: burst %(all 5 updates within the first burst of 20; limit 10/s%)", text)
        -- 2,000 at 45/s after a burst of 20: 43.9 s.
        t = summary.new()
        for i = 1, 2000 do t:add({ ok = true, status = 200, line = i }) end
        text = t:render({ requests = 2000 }, 20 / 1000 + 1980 / 45, { limit = { rate = 45, burst = 20 } })
        local figure = tonumber(text:match("effective rate ([%d.]+) updates/s after the first burst of 20 %(limit 45/s%)"))
        assert.is_true(figure > 44.9 and figure <= 45, text)
        t = summary.new()
        for i = 1, 5 do t:add({ ok = true, status = 200, line = i }) end
        local j = t:to_table({}, 0.01, { limit = limit })
        assert.same({ 0, true }, { j.rate, j.within_burst })
    end)

    it("the progress rate never reads above the limit while the first burst is in its window", function()
        local now = 0
        local out = { write = function() end, flush = function() end }
        local p = progress.new({ out = out, tty = false, now = function() return now end, total = 2000,
            limit = { rate = 45, burst = 20 } })
        local shown = 0
        for step = 1, 200 do
            now = step * 0.05
            local done = math.min(2000, 20 + math.floor(45 * now)) -- the burst at once, then the limit
            local line = p:render({ done = done, ok = done, failed = 0, skipped = 0, retries = 0 }, now)
            local r = tonumber(line:match("  ([%d.]+)/s  "))
            if r then
                shown = shown + 1
                assert.is_true(r <= 45, line)
            else
                assert.matches("  burst  ", line)
            end
        end
        assert.is_true(shown > 150) -- a figure, not "burst", once the burst is behind
    end)
end)

describe("the 404 watch (item 12)", function()
    it("warns once after the first 50 answered rows when most were 404", function()
        local w, said = watch.new(), {}
        for i = 1, 200 do
            said[#said + 1] = w:add({ status = (i % 10 == 0) and 200 or 404 })
            w:add({ status = 0 }) -- no answer: not counted
        end
        assert.equal(1, #said)
        assert.matches("^45 of the first 50 answered rows were 404", said[1])
        w = watch.new()
        for i = 1, 100 do assert.is_nil(w:add({ status = i % 2 == 0 and 404 or 200 })) end
    end)
end)

describe("row messages (item 5)", function()
    it("name the input line instead of the engine's task number", function()
        assert.equal('line 6: outcome "C" / "S" is not in the hierarchy', rows_mod.labelled('task 5: outcome "C" / "S" is not in the hierarchy', 6))
        assert.equal("HTTP 404: not found", rows_mod.labelled("HTTP 404: not found", 6))
        assert.equal("x", rows_mod.bare("task 5: x"))
        assert.equal("x", rows_mod.bare("line 6: x"))
        assert.equal("task iterator failed", rows_mod.bare("task iterator failed"))
        assert.is_nil(rows_mod.labelled(nil, 3))
    end)
end)
