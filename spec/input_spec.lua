-- Input formats of the CLI (lua/cxone/bulk/input.lua): detection, rows, malformed rows.
local input = require "cxone.bulk.input"

local function write_tmp(text, ext)
    local path = os.tmpname() .. (ext or "")
    local f = assert(io.open(path, "wb"))
    f:write(text)
    f:close()
    return path
end

-- Opens text as an input file; returns rows, warnings, the Input (closed) and the path.
local function rows_of(text, ext, opts)
    local path = write_tmp(text, ext)
    local warnings = {}
    opts = opts or {}
    opts.warn = function(m) warnings[#warnings + 1] = m end
    local inp, err = input.open(path, opts)
    if not inp then
        os.remove(path)
        return nil, err
    end
    local rows = {}
    while true do
        local row = inp:next()
        if not row then break end
        rows[#rows + 1] = row
    end
    inp:close()
    os.remove(path)
    return rows, warnings, inp
end

describe("input format detection", function()
    it("goes by the extension first", function()
        assert.equal("csv", input.format_from_name("x/Y.CSV"))
        assert.equal("jsonl", input.format_from_name("a.jsonl"))
        assert.equal("jsonl", input.format_from_name("a.ndjson"))
        assert.is_nil(input.format_from_name("a.txt"))
        assert.is_nil(input.format_from_name("noext"))
    end)

    it("then by the first bytes", function()
        assert.equal("jsonl", input.sniff('  \n{"contact_id":"1"}'))
        assert.equal("jsonl", input.sniff('\239\187\191{"a":1}'))
        assert.equal("csv", input.sniff("contact_id,category,subcategory\n"))
        assert.equal("csv", input.sniff("Contact_ID\r\n1\n"))
        assert.equal("csv", input.sniff('"contact_id"\n'))
        assert.equal("ids", input.sniff("12345\n67890\n"))
        assert.equal("ids", input.sniff(""))
    end)

    it("is overridden by --format", function()
        local rows, _, inp = rows_of("a,b\n", ".csv", { format = "ids", category = "C", subcategory = "S" })
        assert.equal("ids", inp.format)
        assert.equal("a,b", rows[1].task.contact_id)
    end)
end)

describe("CSV input", function()
    it("maps header columns case-insensitively and keeps the rows' own fields", function()
        local rows, warnings, inp = rows_of("\239\187\191Contact_ID, Category ,subcategory,idempotency_key\r\n"
            .. '1,Sale,"Up, sell",k-1\r\n2,"Sale","x",\r\n', ".csv")
        assert.same({}, warnings)
        assert.equal("csv", inp.format)
        assert.same({ contact_id = "1", category = "Sale", subcategory = "Up, sell", idempotency_key = "k-1" },
            rows[1].task)
        assert.equal(2, rows[1].line)
        assert.is_nil(rows[2].task.idempotency_key)
        assert.equal(3, rows[2].line)
        assert.same({ "1", "Sale", "Up, sell", "k-1" }, rows[1].fields)
    end)

    it("warns once about unknown columns and ignores them", function()
        local rows, warnings = rows_of("contact_id,note,category,subcategory,owner\n1,n,C,S,o\n2,n,C,S,o\n", ".csv")
        assert.equal(1, #warnings)
        assert.matches("line 1: ignoring unknown CSV column%(s%): note, owner", warnings[1])
        assert.same({ contact_id = "1", category = "C", subcategory = "S" }, rows[1].task)
    end)

    it("ignores the error column of a failed file without a warning", function()
        local rows, warnings, inp = rows_of("contact_id,category,subcategory,error\n1,C,S,HTTP 404\n", ".csv")
        assert.same({}, warnings)
        assert.is_nil(rows[1].error)
        local l = inp:failed_layout()
        assert.same({ "contact_id", "category", "subcategory", "error", "cxone_bulk_state" }, l.header)
        assert.same({ 4, 5, 4, "," }, { l.error, l.state, l.width, l.delimiter })
        assert.is_nil(l.prior_state)
    end)

    it("uses --category/--subcategory for rows of a file without those columns", function()
        local rows = rows_of("contact_id\n1\n2\n", ".csv", { category = "C", subcategory = "S" })
        assert.same({ contact_id = "2", category = "C", subcategory = "S" }, rows[2].task)
    end)

    it("turns bad rows into rows with an error and their line number, and goes on", function()
        local text = table.concat({
            "contact_id,category,subcategory",
            "1,C,S",
            "2,C",            -- missing column
            ",C,S",           -- empty id
            "3\1x,C,S",       -- control character
            "4,C,S,extra",    -- too many fields
            '"5"x,C,S',       -- broken quoting
            " 6,C,S",         -- white space around the id
            "7,,S",           -- empty category
            "8,C,S",
        }, "\n") .. "\n"
        local rows = rows_of(text, ".csv")
        assert.equal(9, #rows)
        local errs = {}
        for _, r in ipairs(rows) do errs[#errs + 1] = r.line .. ":" .. tostring(r.error) end
        assert.equal("2:nil", errs[1])
        assert.equal("3:expected 3 fields (as in the header), got 2", errs[2])
        assert.equal("4:contact_id is empty", errs[3])
        assert.equal("5:contact_id contains control character 0x01", errs[4])
        assert.equal("6:expected 3 fields (as in the header), got 4", errs[5])
        assert.matches('^7:unexpected "x" after the closing quote', errs[6])
        assert.equal("8:contact_id has leading or trailing white space", errs[7])
        assert.equal("9:category is empty", errs[8])
        assert.equal("10:nil", errs[9])
        assert.equal("2", rows[2].contact_id) -- seen even though the row is short
    end)

    it("counts lines through quoted line breaks", function()
        local rows = rows_of('contact_id,category,subcategory\n1,"multi\nline",S\n2,C,S\n', ".csv")
        assert.equal(2, rows[1].line)
        assert.equal(4, rows[2].line)
        assert.equal("multi\nline", rows[1].fields[2]) -- as read, for the failed file
        -- The row is invalid (a line break in category); what reaches results and the terminal
        -- is escaped.
        assert.equal("category contains control character 0x0A", rows[1].error)
        assert.equal("multi\\nline", rows[1].task.category)
    end)

    it("refuses an input without a usable header", function()
        local _, err = rows_of("id,category,subcategory\n1,C,S\n", ".csv")
        assert.matches("line 1: CSV header has no contact_id column %(got: id,category,subcategory%)", err)
        _, err = rows_of("contact_id,category\n1,C\n", ".csv")
        assert.matches('line 1: subcategory is required: the CSV header has no subcategory column %(found: "contact_id", '
            .. '"category"%); read it with %-%-column subcategory=NAME, or give %-%-subcategory', err)
        _, err = rows_of("contact_id,Contact_ID,category,subcategory\n", ".csv")
        assert.matches('names column "contact_id" twice', err)
        _, err = rows_of("", ".csv")
        assert.matches("input is empty", err)
        _, err = rows_of('"contact_id,category\n', ".csv")
        assert.matches("line 1: bad CSV header: unterminated quoted field", err)
    end)

    it("says which file cannot be opened", function()
        local inp, err = input.open("/nonexistent/dir/x.csv", {})
        assert.is_nil(inp)
        assert.matches("cannot open input: /nonexistent/dir/x.csv", err)
    end)
end)

describe("JSON Lines input", function()
    it("reads objects, numeric ids, defaults and CRLF", function()
        local rows, warnings = rows_of(table.concat({
            '{"contact_id":"a1","category":"C","subcategory":"S"}',
            '{"contact_id":12345,"idempotency_key":"k"}',
            "",
            '{"contact_id":"a3","category":"C2","subcategory":"S2","note":"x"}',
        }, "\r\n") .. "\r\n", ".jsonl", { category = "DC", subcategory = "DS" })
        assert.equal(3, #rows)
        assert.same({ contact_id = "a1", category = "C", subcategory = "S" }, rows[1].task)
        assert.same({ contact_id = "12345", category = "DC", subcategory = "DS", idempotency_key = "k" }, rows[2].task)
        assert.equal(4, rows[3].line)
        assert.equal(1, #warnings)
        assert.matches("line 4: ignoring unknown JSON field%(s%): note", warnings[1])
        assert.same({ "a1", "C", "S", "" }, rows[1].fields)
    end)

    it("reports bad lines with their line numbers", function()
        local rows = rows_of(table.concat({
            '{"contact_id":"ok","category":"C","subcategory":"S"}',
            '{"contact_id":"broken"',
            '["an","array"]',
            '"just a string"',
            '{"contact_id":1.5,"category":"C","subcategory":"S"}',
            '{"contact_id":"x","category":{"a":1},"subcategory":"S"}',
            '{"category":"C","subcategory":"S"}',
            '{"contact_id":12345678901234567890,"category":"C","subcategory":"S"}',
            '{"contact_id":"y","outcome_code":7}',
        }, "\n"), ".jsonl")
        local errs = {}
        for _, r in ipairs(rows) do errs[r.line] = r.error end
        assert.is_nil(errs[1])
        assert.matches("^invalid JSON: ", errs[2])
        assert.equal("not a JSON object", errs[3])
        assert.equal("not a JSON object", errs[4])
        assert.equal("contact_id must be a string (this number cannot be kept exactly)", errs[5])
        assert.equal("category must be a string, got an object or array", errs[6])
        assert.equal("contact_id is empty", errs[7])
        assert.equal("contact_id must be a string (this number cannot be kept exactly)", errs[8])
        assert.equal("outcome_code must be a string, got number", errs[9])
    end)

    it("needs outcome defaults only when rows lack them", function()
        local rows = rows_of('{"contact_id":"1"}\n', ".jsonl")
        assert.equal("category is empty", rows[1].error)
    end)
end)

describe("ids input", function()
    it("reads one id per line, trimming spaces and skipping blank lines and a header", function()
        local rows, _, inp = rows_of("\239\187\191contact_id\n 11 \n\n22\r\n33", ".txt",
            { format = "ids", category = "C", subcategory = "S" })
        assert.equal("ids", inp.format)
        assert.equal(3, #rows)
        assert.same({ contact_id = "11", category = "C", subcategory = "S" }, rows[1].task)
        assert.same({ 2, 4, 5 }, { rows[1].line, rows[2].line, rows[3].line })
        assert.same({ "11", "C", "S" }, rows[1].fields)
        local header = inp:failed_layout().header
        assert.same({ "contact_id", "category", "subcategory", "error", "cxone_bulk_state" }, header)
    end)

    it("needs --category and --subcategory", function()
        local _, err = rows_of("1\n2\n", ".txt")
        assert.matches("category is required", err)
    end)

    it("reports a line longer than the limit and goes on", function()
        local saved = input.MAX_LINE
        input.MAX_LINE = 100
        local ok, rows = pcall(rows_of, "1\n" .. ("9"):rep(300000) .. "\n3\n", ".txt", { category = "C", subcategory = "S" })
        input.MAX_LINE = saved
        assert.is_true(ok, rows)
        assert.equal(3, #rows)
        assert.equal(2, rows[2].line)
        assert.matches("longer than 100 bytes", rows[2].error)
        assert.equal("3", rows[3].task.contact_id)
        assert.equal(3, rows[3].line)
    end)
end)

describe("row estimate", function()
    it("counts line ends of a regular file, less the CSV header", function()
        local path = write_tmp("contact_id\n1\n2\n3")
        assert.equal(3, input.estimate_rows(path, "csv"))
        assert.equal(4, input.estimate_rows(path, "ids"))
        os.remove(path)
        assert.is_nil(input.estimate_rows("-", "csv"))
    end)
end)

-- Files as spreadsheets write them (real files in spec/fixtures/).
describe("spreadsheet exports", function()
    local FIX = "spec/fixtures/"

    -- Every row of a fixture (path as is), with warnings and the Input.
    local function read_fixture(name, opts)
        local warnings = {}
        opts = opts or {}
        opts.warn = function(m) warnings[#warnings + 1] = m end
        local inp, err = input.open(FIX .. name, opts)
        if not inp then return nil, err end
        local rows = {}
        while true do
            local row = inp:next()
            if not row then break end
            rows[#rows + 1] = row
        end
        inp:close()
        return rows, warnings, inp
    end

    it("reads a ;-separated export with a BOM, 'Contact ID'/'Sub-category' headers and trailing ;;; rows", function()
        local rows, warnings, inp = read_fixture("excel-semicolon-bom.csv")
        assert.equal(5, #rows)
        assert.same({ contact_id = "contact-000001", category = "Contacted", subcategory = "Information Provided" },
            rows[1].task)
        assert.equal("rang twice; left a message", rows[1].fields[4])
        assert.equal('said "yes"', rows[5].fields[4])
        for _, r in ipairs(rows) do assert.is_nil(r.error) end
        assert.same({ 2, 3, 4, 5, 6 }, { rows[1].line, rows[2].line, rows[3].line, rows[4].line, rows[5].line })
        assert.equal(2, inp:skipped_empty())
        assert.same({ "line 1: ignoring unknown CSV column(s): Notes",
            "skipped 2 empty row(s) with no values (the first on line 7)" }, warnings)
        local l = inp:failed_layout()
        assert.same({ "Contact ID", "Category", "Sub-category", "Notes", "error", "cxone_bulk_state" }, l.header)
        assert.equal(";", l.delimiter) -- written back as it came
        assert.is_true(l.bom)
    end)

    it("skips ,, rows and counts them instead of reporting an empty contact_id", function()
        local rows, warnings, inp = read_fixture("trailing-empty-rows.csv")
        assert.equal(3, #rows)
        for _, r in ipairs(rows) do assert.is_nil(r.error) end
        assert.equal(3, inp:skipped_empty())
        assert.matches("skipped 3 empty row%(s%)", warnings[1])
    end)

    it("reads CR-only line ends (old Mac exports) as line ends", function()
        local rows = read_fixture("mac-cr-only.csv")
        assert.equal(6, #rows)
        assert.equal("contact-000011", rows[6].task.contact_id)
        assert.equal("No Answer", rows[6].task.subcategory)
        assert.equal(7, rows[6].line)
        assert.equal(6, input.estimate_rows(FIX .. "mac-cr-only.csv", "csv"))
    end)

    it("refuses cp1252 bytes locally, per row, with the line and the hint", function()
        local rows = read_fixture("cp1252.csv")
        assert.equal(5, #rows)
        assert.is_nil(rows[1].error)
        assert.equal(3, rows[2].line)
        assert.equal('category is not valid UTF-8 (byte 0xE9): save the file as "CSV UTF-8", '
            .. "or give --encoding cp1252 (or latin1)", rows[2].error)
        assert.is_nil(rows[3].error)
        assert.matches("not valid UTF%-8", rows[4].error)
        -- What reaches results and the terminal is escaped UTF-8; the failed file keeps the bytes.
        assert.equal("Contact\\xE9", rows[2].task.category)
        assert.equal("Contact\233", rows[2].fields[2])
    end)

    it("transcodes cp1252 and latin1 with --encoding", function()
        local rows = read_fixture("cp1252.csv", { encoding = "cp1252" })
        for _, r in ipairs(rows) do assert.is_nil(r.error) end
        assert.equal("Contacté", rows[2].task.category)
        assert.equal("Rappel demandé", rows[2].task.subcategory)
        assert.equal("Rendez-vous fixé – 9h", rows[4].task.subcategory) -- 0x96 is an en dash in cp1252
        rows = read_fixture("cp1252.csv", { encoding = "latin1" })
        assert.equal("Contacté", rows[2].task.category)
        -- 0x96 is a C1 control in latin1: refused, not sent.
        assert.equal("subcategory contains control character U+0096", rows[4].error)
        assert.equal("Rendez-vous fixé \194\150 9h", rows[4].fields[3])
        local _, err = read_fixture("cp1252.csv", { encoding = "ebcdic" })
        assert.equal("--encoding must be utf-8, cp1252 or latin1 (got ebcdic)", err)
    end)

    it("reads UTF-16LE with a BOM (Excel's Unicode Text: tab-separated)", function()
        local rows, _, inp = read_fixture("excel-unicode-text.txt")
        assert.equal("csv", inp.format)
        assert.equal(3, #rows)
        assert.same({ contact_id = "contact-000021", category = "Contacted", subcategory = "Information Provided" },
            rows[1].task)
        assert.equal("Müller 📞", rows[1].fields[4])
        assert.equal("tab\tinside", rows[3].fields[4])
        assert.equal("Escalated to Supervisor", rows[3].task.subcategory)
    end)

    it("decodes UTF-16 the same whatever the chunk boundaries (surrogate pairs split)", function()
        local encoding = require "cxone.bulk.encoding"
        local f = assert(io.open(FIX .. "excel-unicode-text.txt", "rb"))
        local raw = f:read("*a"):sub(3)
        f:close()
        local whole = encoding.decoder("utf-16le")(raw)
        for size = 1, 7 do
            local d, parts = encoding.decoder("utf-16le"), {}
            for i = 1, #raw, size do parts[#parts + 1] = d(raw:sub(i, i + size - 1)) end
            parts[#parts + 1] = d(nil)
            assert.equal(whole, table.concat(parts), "chunks of " .. size)
        end
        local d = encoding.decoder("utf-16le")
        assert.equal("a", d("a\0\0\216")) -- a high surrogate waits for its pair
        assert.equal("\255", d(nil)) -- none came: not UTF-8, so the row is refused
        local be = encoding.decoder("utf-16be")
        assert.equal("\255", be("\220\0")) -- a lone low surrogate
        assert.equal("", be("\0"))
        assert.equal("\255", be(nil)) -- an odd last byte
    end)

    it("refuses UTF-16 without a byte-order mark with the hint", function()
        local _, err = rows_of("c\0o\0n\0t\0a\0c\0t\0_\0i\0d\0\n\0", ".csv")
        assert.equal('the input looks like UTF-16 without a byte-order mark (NUL bytes): save it as "CSV UTF-8"', err)
    end)

    it("charges an unterminated quote to its own row and keeps its text for the failed file", function()
        local rows = read_fixture("unterminated-quote.csv")
        assert.equal(10, #rows)
        assert.equal(3, rows[2].line)
        assert.matches("unterminated quoted field", rows[2].error)
        assert.same({ "contact-000032", '"Contacted', "Information Provided" }, rows[2].fields)
        assert.equal("contact-000032", rows[2].contact_id)
        for i = 3, 10 do
            assert.is_nil(rows[i].error, i)
            assert.equal(i + 1, rows[i].line)
            assert.equal(("contact-%06d"):format(30 + i), rows[i].task.contact_id)
        end
    end)
end)

describe("CSV header names and options", function()
    it("matches names case, space, _ and - insensitively", function()
        for _, h in ipairs({ "ContactId,CATEGORY,Sub_Category", "contact id,Category,sub-category",
            " Contact-ID ,category,SubCategory" }) do
            local rows, warnings = rows_of(h .. "\n1,C,S\n", ".csv")
            assert.same({ contact_id = "1", category = "C", subcategory = "S" }, rows[1].task, h)
            assert.same({}, warnings, h)
        end
        local _, err = rows_of("Contact ID,contact_id,category,subcategory\n", ".csv")
        assert.equal('line 1: CSV header names column "contact_id" twice ("Contact ID" and "contact_id")', err)
    end)

    it("takes --column FIELD=NAME for any other name, repeatable", function()
        local text = "Kontakt;Kategorie;Unterkategorie;contact_id\n1;C;S;x\n"
        local rows, warnings = rows_of(text, ".csv", { columns = { "contact_id=Kontakt", "category=Kategorie",
            'subcategory="Unterkategorie"' } })
        assert.same({ contact_id = "1", category = "C", subcategory = "S" }, rows[1].task)
        assert.same({ "line 1: ignoring unknown CSV column(s): contact_id" }, warnings)
        local _, err = rows_of(text, ".csv", { columns = { "contact_id=Kunde" } })
        assert.equal("line 1: --column contact_id=Kunde: the CSV header has no such column "
            .. '(got: "Kontakt", "Kategorie", "Unterkategorie", "contact_id")', err)
        _, err = rows_of(text, ".csv", { columns = { "phone=Kontakt" } })
        assert.matches("^%-%-column phone=Kontakt: unknown field phone", err)
        _, err = rows_of(text, ".csv", { columns = { "Kontakt" } })
        assert.equal("--column must be FIELD=NAME (got Kontakt)", err)
    end)

    it("takes --delimiter to force one", function()
        local rows = rows_of("contact_id,x;category;subcategory\n1,2;C;S\n", ".csv",
            { delimiter = ";", columns = { "contact_id=contact_id,x" } })
        assert.same({ contact_id = "1,2", category = "C", subcategory = "S" }, rows[1].task)
        rows = rows_of("contact_id\tcategory\tsubcategory\n1\tC\tS\n", ".csv", { delimiter = "tab" })
        assert.equal("S", rows[1].task.subcategory)
        local _, err = rows_of("a\n", ".csv", { delimiter = "::" })
        assert.equal("--delimiter must be one of , ; | tab (got ::)", err)
    end)

    it("detects a ;- or tab-separated file without a .csv extension", function()
        assert.equal("csv", input.sniff("Contact ID;Category;Sub-category\r\n"))
        assert.equal("csv", input.sniff("Contact ID\tCategory\r\n"))
        assert.equal("csv", input.sniff("Contact ID\r\n1\r\n"))
    end)

    it("undoes the failed file's formula neutralisation, only in a file with an error column", function()
        local rows = rows_of("contact_id,category,subcategory,error\n'=1+2,'-C,''@S,x\n'x,C,S,y\n", ".csv")
        assert.same({ contact_id = "=1+2", category = "-C", subcategory = "'@S" }, rows[1].task)
        assert.equal("'x", rows[2].task.contact_id)
        rows = rows_of("contact_id,category,subcategory\n'=1+2,C,S\n", ".csv")
        assert.equal("'=1+2", rows[1].task.contact_id)
    end)

    it("never echoes terminal escapes or NULs from the input", function()
        local rows, warnings = rows_of("contact_id,category,subcategory,\27[31mred\0\n\27]0;x\7,C,S,1\n", ".csv")
        assert.same({ "line 1: ignoring unknown CSV column(s): \\x1B[31mred\\0" }, warnings)
        assert.equal("contact_id contains control character 0x1B", rows[1].error)
        assert.equal("\\x1B]0;x\\x07", rows[1].task.contact_id)
        local _, err = rows_of("id\27[2J;x\n", ".csv", { delimiter = ";" })
        assert.matches("got: id\\x1B%[2J,x%)", err)
        rows = rows_of("contact_id,category,subcategory\n\"a\"\27[2J,C,S\n", ".csv")
        assert.matches('^unexpected "\\x1B" after the closing quote', rows[1].error)
        assert.is_nil(rows[1].error:find("\27", 1, true))
    end)
end)
