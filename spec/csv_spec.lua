-- The streaming RFC 4180 reader and the writer of lua/cxone/bulk/csv.lua.
local csv = require "cxone.bulk.csv"

-- A source that hands out `s` in pieces of the given sizes (cycled), to put every byte on a
-- chunk boundary somewhere.
local function chunked(s, sizes)
    local pos, k = 1, 0
    return function()
        if pos > #s then return nil end
        k = k % #sizes + 1
        local piece = s:sub(pos, pos + sizes[k] - 1)
        pos = pos + sizes[k]
        return piece
    end
end

-- Every record of src as {fields=, line=} or {err=, line=}.
local function read_all(src, opts)
    local out = {}
    for fields, a, b, raw in csv.records(src, opts) do
        if fields then
            out[#out + 1] = { fields = fields, line = a }
        else
            out[#out + 1] = { err = b, line = a, raw = raw }
        end
    end
    return out
end

-- Line breaks as the reader counts them: LF, CRLF and a lone CR one each.
local function breaks(s)
    local _, lf = s:gsub("\n", "")
    local _, cr = s:gsub("\r", "")
    local _, crlf = s:gsub("\r\n", "")
    return lf + cr - crlf
end

local function fields_of(text, sizes)
    local rows = {}
    for _, r in ipairs(read_all(sizes and chunked(text, sizes) or text)) do
        rows[#rows + 1] = r.fields or ("ERR@" .. r.line .. ":" .. r.err)
    end
    return rows
end

describe("csv reader", function()
    it("reads plain records with LF and CRLF line ends", function()
        assert.same({ { "a", "b" }, { "1", "2" }, { "3", "4" } }, fields_of("a,b\n1,2\r\n3,4\n"))
    end)

    it("reads a last record without a line end", function()
        assert.same({ { "a", "b" }, { "1", "2" } }, fields_of("a,b\n1,2"))
    end)

    it("keeps empty fields, including trailing ones", function()
        assert.same({ { "", "", "" }, { "x", "" } }, fields_of(",,\nx,\n"))
    end)

    it("unquotes fields with commas, doubled quotes and line breaks", function()
        local rows = fields_of('id,note\n1,"a, b"\n2,"say ""hi"""\n3,"two\nlines"\n4,"crlf\r\ninside"\n')
        assert.same({ "1", "a, b" }, rows[2])
        assert.same({ "2", 'say "hi"' }, rows[3])
        assert.same({ "3", "two\nlines" }, rows[4])
        assert.same({ "4", "crlf\r\ninside" }, rows[5])
    end)

    it("strips a UTF-8 byte-order mark, even when it arrives one byte at a time", function()
        local text = "\239\187\191contact_id,x\n1,2\n"
        assert.same({ { "contact_id", "x" }, { "1", "2" } }, fields_of(text))
        assert.same({ { "contact_id", "x" }, { "1", "2" } }, fields_of(text, { 1 }))
    end)

    it("returns a blank line as a record with no fields, and a lone \"\" as one empty field", function()
        assert.same({ { "a" }, {}, {}, { "" }, { "b" } }, fields_of('a\n\n\r\n""\nb\n'))
    end)

    it("numbers records by the line they start on, counting line breaks inside quotes", function()
        local got = read_all('h\n"x\ny\nz"\nnext\n\nlast\n')
        assert.same({ 1, 2, 5, 6, 7 }, { got[1].line, got[2].line, got[3].line, got[4].line, got[5].line })
    end)

    it("keeps a bare quote inside an unquoted field as data", function()
        assert.same({ { 'a"b', 'c' } }, fields_of('a"b,c\n'))
    end)

    it("reports text after a closing quote with its line and resumes at the next line", function()
        local got = read_all('a,b\n"x"y,z\nok,1\n')
        assert.same({ "a", "b" }, got[1].fields)
        assert.equal(2, got[2].line)
        assert.matches('unexpected "y" after the closing quote of field 1', got[2].err)
        assert.same({ "ok", "1" }, got[3].fields)
        assert.equal(3, got[3].line)
    end)

    it("charges an unterminated quote to its own line and reads every later line", function()
        local got = read_all('a\nb\n"never closed\nmore\nlast,1\n')
        assert.equal(5, #got)
        assert.equal(3, got[3].line)
        assert.matches("unterminated quoted field", got[3].err)
        assert.equal('"never closed', got[3].raw)
        assert.same({ "more" }, got[4].fields)
        assert.equal(4, got[4].line)
        assert.same({ "last", "1" }, got[5].fields)
    end)

    it("resyncs at the next line when a stray quote pairs with a later line's quote", function()
        -- Before: the quote opened on line 2 closed on line 4, and lines 2-4 came back as one
        -- error ("unexpected") that cost the two good lines in between.
        local text = 'id,c,s\n1,"Smith, J,S\n2,C,S\n3,"ok",S\n4,C,S\n'
        local got = read_all(text)
        assert.equal(5, #got)
        assert.equal(2, got[2].line)
        assert.equal('1,"Smith, J,S', got[2].raw)
        assert.same({ "2", "C", "S" }, got[3].fields)
        assert.same({ "3", "ok", "S" }, got[4].fields)
        assert.same({ "4", "C", "S" }, got[5].fields)
        assert.same({ 3, 4, 5 }, { got[3].line, got[4].line, got[5].line })
        for _, sizes in ipairs({ { 1 }, { 3 }, { 2, 7 } }) do
            assert.same(got, read_all(chunked(text, sizes)))
        end
    end)

    it("ends records at a lone CR (old Mac line ends), in any chunking", function()
        local text = 'contact_id,category\r1,"a\rb"\r2,x\r\r3,y'
        local want = { { "contact_id", "category" }, { "1", "a\rb" }, { "2", "x" }, {}, { "3", "y" } }
        assert.same(want, fields_of(text))
        for _, sizes in ipairs({ { 1 }, { 2 }, { 5, 1 } }) do assert.same(want, fields_of(text, sizes)) end
        local got = read_all(text)
        assert.same({ 1, 2, 4, 5, 6 }, { got[1].line, got[2].line, got[3].line, got[4].line, got[5].line })
        -- Mixed line ends in a CR file: CRLF stays one break.
        assert.same({ { "a" }, { "b" }, { "c" } }, fields_of("a\rb\r\nc\n"))
        -- A file whose first line ends in LF or CRLF keeps a lone CR as data (it is then refused
        -- as a control character), and never looks for CRs on its fast path.
        assert.same({ { "a" }, { "b\rc" } }, fields_of("a\r\nb\rc\n"))
        assert.same({ { "h" }, { "b\rc" } }, fields_of('h\n"b\rc"\n', { 1 }))
        assert.same({ { "x\ry", "z" } }, fields_of('"x\ry",z\r\n')) -- a quoted CR is not the first line end
    end)

    it("splits on a given delimiter, or on the one the first line uses", function()
        local out = {}
        for f in csv.records('a;b,c\n1;"x;y"\n', { delimiter = ";" }) do out[#out + 1] = f end
        assert.same({ { "a", "b,c" }, { "1", "x;y" } }, out)
        for _, case in ipairs({ { "contact_id;category;sub\n1;2;3\n", ";" }, { "a\tb\tc\n1\t2\t3\n", "\t" },
            { "a,b\n", "," }, { "only\n", "," }, { '"x;y",b,c\n', "," }, { "a;b\r1;2\r", ";" } }) do
            local r = csv.reader(case[1], { delimiter = "auto" })
            assert.is_table(r:next())
            assert.equal(case[2], r.delimiter, case[1])
        end
        assert.same({ "x", "y", "z" }, csv.reader("\239\187\191x;y;z\n", { delimiter = "auto" }):next())
    end)

    it("gives up on a record longer than max_record and goes on with the next line", function()
        local long = ("x"):rep(5000)
        local got = read_all(chunked("a,b\n" .. long .. "\nc,d\n", { 700 }), { max_record = 1000 })
        assert.same({ "a", "b" }, got[1].fields)
        assert.equal(2, got[2].line)
        assert.matches("longer than 1000 bytes", got[2].err)
        assert.same({ "c", "d" }, got[3].fields)
        assert.equal(3, got[3].line)
    end)

    it("gives the same records whatever the chunk boundaries", function()
        local text = '\239\187\191id,"q"\r\n1,"a""b"\r\n"2\r\n",x\r\n\r\n3,""\r\n"4"'
        local whole = fields_of(text)
        for _, sizes in ipairs({ { 1 }, { 2 }, { 3 }, { 1, 5 }, { 7, 1, 2 } }) do
            assert.same(whole, fields_of(text, sizes))
        end
    end)

    it("reads from a file handle", function()
        local path = os.tmpname()
        local f = assert(io.open(path, "wb"))
        f:write("a,b\n1,\"2\n3\"\n")
        f:close()
        f = assert(io.open(path, "rb"))
        assert.same({ { "a", "b" }, { "1", "2\n3" } }, fields_of(function() return f:read(3) end))
        f:close()
        os.remove(path)
    end)
end)

describe("csv writer", function()
    it("neutralises formula cells so that unneutralise gives back the original", function()
        local cases = {
            { "=1+2", "'=1+2" }, { "+49 30 1234", "'+49 30 1234" }, { "-5", "'-5" }, { "@SUM(A1)", "'@SUM(A1)" },
            { "\tx", "'\tx" }, { "\rx", "'\rx" }, { "'=x", "''=x" }, { "''-1", "'''-1" },
            { "plain", "plain" }, { "'quoted", "'quoted" }, { "a=b", "a=b" }, { "", "" }, { "'", "'" },
        }
        for _, c in ipairs(cases) do
            assert.equal(c[2], csv.neutralise(c[1]), c[1])
            assert.equal(c[1], csv.unneutralise(csv.neutralise(c[1])), c[1])
        end
        assert.equal("'x", csv.unneutralise("'x")) -- only the apostrophe neutralise adds is removed
    end)

    it("quotes only when needed", function()
        assert.equal("plain", csv.quote("plain"))
        assert.equal('"a,b"', csv.quote("a,b"))
        assert.equal('"say ""hi"""', csv.quote('say "hi"'))
        assert.equal('"x\ny"', csv.quote("x\ny"))
        assert.equal('"cr\r"', csv.quote("cr\r"))
        assert.equal(" spaced ", csv.quote(" spaced "))
    end)

    it("writes a record of one empty field so that it does not read back as a blank line", function()
        assert.equal('""\n', csv.format_row({ "" }))
        assert.same({ { "" } }, fields_of(csv.format_row({ "" })))
    end)
end)

-- Property checks with a fixed seed so a failure can be replayed.
describe("csv properties", function()
    local ALPHABET = { "a", "b", "Z", "0", ",", '"', "\n", "\r", " ", "\t", "é", "\239\187\191", ";", "'" }

    local function random_field(rng)
        local n = rng(0, 8)
        local t = {}
        for i = 1, n do t[i] = ALPHABET[rng(1, #ALPHABET)] end
        return table.concat(t)
    end

    local function lcg(seed)
        local state = seed
        return function(lo, hi)
            state = (state * 1103515245 + 12345) % 2147483648
            return lo + state % (hi - lo + 1)
        end
    end

    it("round-trips random records through writer then reader, in random chunks", function()
        local rng = lcg(20240601)
        for _ = 1, 200 do
            local rows, parts = {}, {}
            for r = 1, rng(1, 12) do
                local row = {}
                for c = 1, rng(1, 5) do row[c] = random_field(rng) end
                -- A leading BOM in the very first field would be taken as the file's mark.
                if r == 1 and row[1]:sub(1, 3) == "\239\187\191" then row[1] = "x" .. row[1] end
                rows[r] = row
                parts[r] = csv.format_row(row)
            end
            local text = table.concat(parts)
            local got = read_all(chunked(text, { rng(1, 9), rng(1, 30) }))
            assert.equal(#rows, #got)
            local line = 1
            for r = 1, #rows do
                assert.same(rows[r], got[r].fields)
                assert.equal(line, got[r].line)
                local _, lfs = parts[r]:gsub("\n", "") -- written with LF: a CR is data
                line = line + lfs
            end
        end
    end)

    it("never raises on random malformed input and always makes progress", function()
        local rng = lcg(777)
        local NOISE = { '"', '"', ",", "\n", "\r", "x", '""', '"x"y', "\r\n", "\0", "\255" }
        for _ = 1, 300 do
            local t = {}
            for i = 1, rng(0, 60) do t[i] = NOISE[rng(1, #NOISE)] end
            local text = table.concat(t)
            local ok, got = pcall(read_all, chunked(text, { rng(1, 4) }), { max_record = 16 })
            assert.is_true(ok, got)
            local lfs = breaks(text)
            -- Each record or error consumes at least one byte, and starts on a real line.
            assert.is_true(#got <= #text + 1)
            for _, r in ipairs(got) do
                assert.is_true(r.line >= 1 and r.line <= lfs + 1)
            end
        end
    end)
end)
