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
        local header, idx, width = inp:failed_columns()
        assert.same({ "contact_id", "category", "subcategory", "error" }, header)
        assert.equal(4, idx)
        assert.equal(4, width)
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
        assert.equal("multi\nline", rows[1].task.category)
    end)

    it("passes rows through the validate hook", function()
        local rows = rows_of("contact_id,category,subcategory\nok,C,S\nbad,C,S\n", ".csv", {
            validate = function(t) if t.contact_id == "bad" then return nil, "rejected by hook" end return true end,
        })
        assert.is_nil(rows[1].error)
        assert.equal("rejected by hook", rows[2].error)
    end)

    it("refuses an input without a usable header", function()
        local _, err = rows_of("id,category,subcategory\n1,C,S\n", ".csv")
        assert.matches("line 1: CSV header has no contact_id column %(got: id,category,subcategory%)", err)
        _, err = rows_of("contact_id,category\n1,C\n", ".csv")
        assert.matches("subcategory is required: give a subcategory column or %-%-subcategory", err)
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
        local header = inp:failed_columns()
        assert.same({ "contact_id", "category", "subcategory", "error" }, header)
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
