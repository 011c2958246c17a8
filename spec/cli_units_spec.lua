-- The CLI's building blocks that need neither the engine nor a server: the duplicate-safe
-- feeder, result and failed-file writers, the journal, progress and the summary.
local feeder_mod = require "cxone.bulk.feeder"
local output = require "cxone.bulk.output"
local journal = require "cxone.bulk.journal"
local progress = require "cxone.bulk.progress"
local summary = require "cxone.bulk.summary"
local input = require "cxone.bulk.input"
local cjson = require "cjson"

local function rows_from(ids)
    local i = 0
    return function()
        i = i + 1
        local id = ids[i]
        if id == nil then return nil end
        if id == "BAD" then return { line = i, error = "bad row", fields = {} } end
        return { line = i, task = { contact_id = id, category = "C", subcategory = "S" } }
    end
end

-- A fake engine with `slots` parallel places that finishes tasks in the order given by pick().
local function drive(f, slots, pick)
    local running, order, starts = {}, {}, {}
    while true do
        while #running < slots do
            local t = f:next_task()
            if not t then break end
            running[#running + 1] = f.fed
            starts[#starts + 1] = t.contact_id
        end
        if #running == 0 then
            if f:drained() then break end
            error("feeder stalled with nothing in flight")
        end
        local k = pick(#running)
        local index = table.remove(running, k)
        local row = f:finish(index)
        order[#order + 1] = row.line
    end
    return order, starts
end

describe("feeder", function()
    it("never has two rows of one contact in flight and keeps their input order", function()
        local ids = {}
        for i = 1, 300 do ids[i] = "c" .. (i * 7919 % 23) end
        local seed = 1
        local f = feeder_mod.new(rows_from(ids), function() return "send" end, function() end)
        local inflight, seen_line = {}, {}
        local running = {}
        while true do
            while #running < 8 do
                local t = f:next_task()
                if not t then break end
                assert.is_nil(inflight[t.contact_id], "two rows in flight for " .. t.contact_id)
                inflight[t.contact_id] = true
                running[#running + 1] = f.fed
            end
            if #running == 0 then break end
            seed = (seed * 1103515245 + 12345) % 2147483648
            local index = table.remove(running, seed % #running + 1)
            local row = f:finish(index)
            inflight[row.task.contact_id] = nil
            local last = seen_line[row.task.contact_id]
            assert.is_true(last == nil or last < row.line, "rows for a contact out of order")
            seen_line[row.task.contact_id] = row.line
        end
        assert.is_true(f:drained())
        assert.equal(300, f.fed)
    end)

    it("lets other contacts pass a held duplicate", function()
        local f = feeder_mod.new(rows_from({ "a", "a", "b", "c" }), function() return "send" end, function() end)
        local t1, t2, t3 = f:next_task(), f:next_task(), f:next_task()
        assert.same({ "a", "b", "c" }, { t1.contact_id, t2.contact_id, t3.contact_id })
        assert.equal(false, f:next_task()) -- the second "a" waits
        assert.equal(1, f:finish(1).line)
        local t4 = f:next_task()
        assert.equal("a", t4.contact_id)
        assert.equal(2, f.inflight[4].line)
        f:finish(2)
        f:finish(3)
        f:finish(4)
        assert.is_nil(f:next_task())
    end)

    it("stops reading when the holding area is full", function()
        local saved = feeder_mod.HOLD_LIMIT
        feeder_mod.HOLD_LIMIT = 3
        local reads = 0
        local ids = { "a", "a", "a", "a", "a", "b" }
        local src = rows_from(ids)
        local f = feeder_mod.new(function() reads = reads + 1 return src() end,
            function() return "send" end, function() end)
        assert.equal("a", f:next_task().contact_id)
        assert.equal(false, f:next_task())
        assert.equal(4, reads) -- one sent, three held, "b" not read yet
        feeder_mod.HOLD_LIMIT = saved
    end)

    it("hands invalid and skipped rows to on_local without sending them", function()
        local locals = {}
        local f = feeder_mod.new(rows_from({ "a", "BAD", "skip", "b" }),
            function(row) return (row.error or row.task.contact_id == "skip") and "local" or "send" end,
            function(row) locals[#locals + 1] = row.line end)
        local order = drive(f, 4, function() return 1 end)
        assert.same({ 2, 3 }, locals)
        assert.same({ 1, 4 }, order)
    end)

    it("hands out nothing after stop()", function()
        local f = feeder_mod.new(rows_from({ "a", "b" }), function() return "send" end, function() end)
        f:next_task()
        f:stop()
        assert.is_nil(f:next_task())
    end)
end)

describe("results writer", function()
    it("writes one JSON object per line with a stable key order", function()
        local line = output.encode_result({ ok = true, contact_id = "c1", line = 7, status = 200,
            elapsed = 0.123456789, replayed = false, attempts = 1, idempotency_key = "k", zeta = "z",
            nested = { ignored = true } })
        assert.equal('{"line":7,"contact_id":"c1","ok":true,"status":200,"attempts":1,"replayed":false,'
            .. '"idempotency_key":"k","elapsed":0.1235,"zeta":"z"}\n', line)
        local back = cjson.decode(line)
        assert.equal("c1", back.contact_id)
    end)

    it("writes slashes plainly, even next to escaped backslashes", function()
        local line = output.encode_result({ url = "https://x/a/b", error = "a\\/b \\\\/ c" })
        assert.equal('{"error":"a\\\\/b \\\\\\\\/ c","url":"https://x/a/b"}\n', line)
        local back = cjson.decode(line)
        assert.equal("https://x/a/b", back.url)
        assert.equal("a\\/b \\\\/ c", back.error)
    end)

    it("escapes what JSON needs escaped", function()
        local back = cjson.decode(output.encode_result({ error = 'quote " and \n newline', contact_id = "é" }))
        assert.equal('quote " and \n newline', back.error)
        assert.equal("é", back.contact_id)
    end)
end)

describe("failed file", function()
    local function tmp() return os.tmpname() end
    local function slurp(path)
        local f = assert(io.open(path, "rb"))
        local text = f:read("*a")
        f:close()
        os.remove(path)
        return text
    end
    local function layout(header, width, extra)
        local l = { header = header, width = width, error = width + 1, state = width + 2, delimiter = "," }
        for k, v in pairs(extra or {}) do l[k] = v end
        return l
    end

    it("keeps the input's columns plus error and state, and reads straight back in", function()
        local path = tmp()
        local fh = assert(io.open(path, "wb"))
        local w = output.failed(fh, layout({ "contact_id", "note", "category", "subcategory", "error",
            "cxone_bulk_state" }, 4))
        w:write({ "1", "a, b", "C", "S" }, 'HTTP 404: "not found"')
        w:write({ "2" }, "expected 4 fields, got 1")
        w:write({ "3", "n", "C", "S", "extra" }, "too many")
        fh:close()
        local inp = assert(input.open(path, { warn = function() end }))
        local r1, r2, r3 = inp:next(), inp:next(), inp:next()
        inp:close()
        os.remove(path)
        assert.same({ contact_id = "1", category = "C", subcategory = "S" }, r1.task)
        assert.same({ "1", "a, b", "C", "S", 'HTTP 404: "not found"', "failed" }, r1.fields)
        assert.equal("category is empty", r2.error)          -- padded, so it reads as a row
        assert.equal("expected 6 fields (as in the header), got 7", r3.error) -- still visibly ragged
    end)

    it("overwrites the error column of an input that already had one", function()
        local path = tmp()
        local fh = assert(io.open(path, "wb"))
        local w = output.failed(fh, { header = { "contact_id", "error", "category", "subcategory", "cxone_bulk_state" },
            width = 4, error = 2, state = 5, delimiter = "," })
        w:write({ "1", "old error", "C", "S" }, "new error")
        fh:close()
        assert.equal("contact_id,error,category,subcategory,cxone_bulk_state\n1,new error,C,S,failed\n", slurp(path))
    end)

    it("writes the input's delimiter, a BOM for an input that was not plain UTF-8, and the state", function()
        local path = tmp()
        local fh = assert(io.open(path, "wb"))
        local w = output.failed(fh, layout({ "Contact ID", "Outcome", "error", "cxone_bulk_state" }, 2,
            { delimiter = ";", bom = true }))
        w:write({ "1", "Caf\195\169; au lait" }, "HTTP 503, twice", "outcome unknown")
        w:write({ "2", "x,y" }, "cancelled before it was sent", "not sent")
        w:write({ "3", "-1" }, "bad")
        fh:close()
        assert.equal("\239\187\191Contact ID;Outcome;error;cxone_bulk_state\n"
            .. '1;"Caf\195\169; au lait";"HTTP 503, twice";outcome unknown\n'
            .. '2;"x,y";cancelled before it was sent;not sent\n'
            .. "3;'-1;bad;failed\n", slurp(path))
        assert.has_error(function() output.failed(nil, layout({ "a" }, 1)):write({ "1" }, "e", "maybe") end)
    end)

    it("never lets 'not sent' hide an earlier 'outcome unknown' of a re-fed row", function()
        local path = tmp()
        local fh = assert(io.open(path, "wb"))
        local w = output.failed(fh, { header = { "contact_id", "error", "cxone_bulk_state" }, width = 3, error = 2,
            state = 3, prior_state = 3, delimiter = "," })
        w:write({ "1", "old", "outcome unknown" }, "cancelled before it was sent", "not sent")
        w:write({ "2", "old", "failed" }, "cancelled before it was sent", "not sent")
        w:write({ "3", "old", "outcome unknown" }, "HTTP 400: bad outcome") -- a definitive answer
        fh:close()
        assert.equal("contact_id,error,cxone_bulk_state\n1,cancelled before it was sent,outcome unknown\n"
            .. "2,cancelled before it was sent,not sent\n3,HTTP 400: bad outcome,failed\n", slurp(path))
    end)
end)

describe("journal", function()
    -- The sys functions the journal uses, with a clock the spec moves and a counted fsync.
    local function fake_sys()
        local t, sys = 0, { syncs = 0 }
        sys.monotime = function() return t end
        sys.advance = function(dt) t = t + dt end
        sys.fsync = function(fh) fh:flush() sys.syncs = sys.syncs + 1 return true end
        sys.lock = function() return true end
        sys.file_id = function() return "1:1", "file" end
        return sys
    end

    it("skips identical updates that succeeded, whatever the batch id", function()
        local path = os.tmpname()
        local j = assert(journal.open(path, fake_sys(), "in.csv"))
        j:append({ contact_id = "a", category = "C", subcategory = "S", ok = true, batch_id = "", line = 2 })
        j:append({ contact_id = "b", category = "C", subcategory = "S", ok = false, batch_id = "", line = 3 })
        j:append({ contact_id = "k", category = "C", subcategory = "S", ok = true, batch_id = "", given_key = "key-1", line = 4 })
        j:close()
        local st = assert(journal.load(path, "in.csv"))
        os.remove(path)
        assert.equal(3, st.entries)
        assert.equal(2, st.succeeded)
        local function skip(task) return st:skip_reason(task, 99, "other.csv") end
        assert.equal("journal", skip({ contact_id = "a", category = "C", subcategory = "S" }))
        assert.is_nil(skip({ contact_id = "a", category = "C", subcategory = "Other" }))
        assert.is_nil(skip({ contact_id = "b", category = "C", subcategory = "S" }))
        assert.equal("journal", skip({ contact_id = "zz", category = "X", subcategory = "Y", idempotency_key = "key-1" }))
    end)

    it("skips a row that a later applied row of the same input superseded", function()
        local path = os.tmpname()
        local j = assert(journal.open(path, fake_sys(), "/in.csv"))
        j:begin({ batch_id = "", input = "/in.csv" })
        j:append({ contact_id = "a", category = "X", subcategory = "x", ok = false, line = 2 })
        j:append({ contact_id = "a", category = "Y", subcategory = "y", ok = true, line = 3 })
        j:close()
        local st = assert(journal.load(path, "/in.csv"))
        os.remove(path)
        local x = { contact_id = "a", category = "X", subcategory = "x" }
        assert.equal("superseded", st:skip_reason(x, 2, "/in.csv"))
        -- the same row re-fed from another file (a failed file) is still known to be older
        assert.equal("superseded", st:skip_reason(x, 2, "/failed.csv"))
        -- a row after the applied one is a newer update: sent
        assert.is_nil(st:skip_reason(x, 4, "/in.csv"))
    end)

    it("fsyncs every SYNC_EVERY results or SYNC_SECONDS, and on close", function()
        local path = os.tmpname()
        local sys = fake_sys()
        local j = assert(journal.open(path, sys, "in.csv"))
        for i = 1, journal.SYNC_EVERY - 1 do j:append({ contact_id = "c" .. i, ok = false }) end
        j:tick()
        assert.equal(0, sys.syncs)
        j:append({ contact_id = "last", ok = false })
        assert.equal(1, sys.syncs)
        j:append({ contact_id = "x", ok = false })
        sys.advance(journal.SYNC_SECONDS / 2)
        j:tick()
        assert.equal(1, sys.syncs)
        sys.advance(journal.SYNC_SECONDS)
        j:tick()
        assert.equal(2, sys.syncs)
        j:append({ contact_id = "y", ok = false })
        j:close()
        assert.equal(3, sys.syncs)
        os.remove(path)
    end)

    it("calls pause while it reads a long journal; finish keeps the caller's fields beside requests", function()
        local path = os.tmpname()
        local f = assert(io.open(path, "wb"))
        for i = 1, 2000 do
            f:write(output.encode_result({ contact_id = "c" .. i, category = "C", subcategory = "S", ok = true, line = i }))
        end
        f:close()
        local pauses = 0
        local j, st = journal.open(path, fake_sys(), nil, function() pauses = pauses + 1 end)
        assert.is_truthy(j, st)
        assert.equal(2000, st.succeeded)
        assert.is_true(pauses >= 2, "pauses: " .. pauses) -- about 140 KB: read in 64 KB steps
        j:finish(7, { job = { state = "done" }, requests = "not this" })
        j:close()
        local last
        for line in io.lines(path) do last = line end
        os.remove(path)
        assert.same({ run_end = { requests = 7, job = { state = "done" } } }, require("cjson").decode(last))
    end)

    it("tolerates a torn last line and starts the next record on a fresh line", function()
        local path = os.tmpname()
        local f = assert(io.open(path, "wb"))
        f:write(output.encode_result({ contact_id = "a", category = "C", subcategory = "S", ok = true, batch_id = "" }))
        f:write('{"contact_id":"b","categ')
        f:close()
        local st = assert(journal.load(path, "in.csv"))
        assert.is_true(st.torn)
        assert.equal(1, st.entries)
        local j = assert(journal.open(path, fake_sys(), "in.csv"))
        j:append({ contact_id = "b", category = "C", subcategory = "S", ok = true, batch_id = "" })
        j:close()
        -- the torn line is now in the middle: a journal this version cannot trust is refused
        local bad, err = journal.load(path, "in.csv")
        os.remove(path)
        assert.is_nil(bad)
        assert.matches("line 2 is not a JSON object", err)
    end)

    it("refuses a record with missing fields, naming the line", function()
        local path = os.tmpname()
        local f = assert(io.open(path, "wb"))
        f:write(output.encode_result({ contact_id = "a", category = "C", subcategory = "S", ok = true }))
        f:write('{"contact_id":"x","ok":true}\n')
        f:close()
        local st, err = journal.load(path, "in.csv")
        os.remove(path)
        assert.is_nil(st)
        assert.matches("journal .* line 2 is not a result record this version wrote %(a success without category%)", err)
    end)

    it("treats a missing journal as empty without creating it, and refuses an unusable path", function()
        local path = os.tmpname()
        os.remove(path)
        local st = assert(journal.load(path, "in.csv"))
        assert.equal(0, st.entries)
        assert.is_nil(io.open(path, "rb"))
        local _, err = journal.load("/nonexistent-dir/j.jsonl")
        assert.matches("cannot open journal /nonexistent%-dir/j%.jsonl", err)
        _, err = journal.open("/nonexistent-dir/j.jsonl", fake_sys(), "in.csv")
        assert.matches("cannot open journal", err)
    end)
end)

describe("progress", function()
    local function sink()
        local buf = {}
        return { write = function(self, ...) for _, s in ipairs({ ... }) do buf[#buf + 1] = s end return self end,
            flush = function() end }, buf
    end

    it("draws a bar on a terminal at most every TTY_INTERVAL", function()
        local t = 0
        local out, buf = sink()
        local p = progress.new({ out = out, tty = true, now = function() return t end, total = 100, width = 120 })
        local st = { done = 0, ok = 0, failed = 0, skipped = 0, retries = 0 }
        p:update(st)
        local n = #buf
        assert.is_true(n > 0)
        t = 0.05
        p:update(st)
        assert.equal(n, #buf)
        t = 2
        st = { done = 50, ok = 45, failed = 5, skipped = 0, retries = 3, paused = 4 }
        p:update(st)
        local text = table.concat(buf)
        assert.matches("%[#+%.+%]  50%% 50/100  25%.0/s  ok 45  failed 5  retries 3  paused 4s %(429%)  ETA 0:02", text)
    end)

    it("keeps the bar line within the terminal width", function()
        local st = { done = 123456, ok = 123000, failed = 456, skipped = 7, retries = 89, paused = 12 }
        for _, width in ipairs({ 40, 60, 80, 100, 200 }) do
            local out, buf = sink()
            local p = progress.new({ out = out, tty = true, now = function() return 3 end, total = 999999,
                width = width })
            p:update(st, true)
            local line = table.concat(buf):gsub("^\r", "")
            assert.is_true(#line <= width - 1, width .. ": " .. line)
            if width >= 200 then assert.matches("^%[[#.]+%]", line) end
        end
    end)

    it("prints a plain line every PLAIN_INTERVAL when not a terminal, and nothing when quiet", function()
        local t = 0
        local out, buf = sink()
        local p = progress.new({ out = out, tty = false, now = function() return t end })
        local st = { done = 10, ok = 10, failed = 0, skipped = 2, retries = 0 }
        p:update(st)
        assert.equal(0, #buf)
        t = progress.PLAIN_INTERVAL
        p:update(st)
        assert.matches("^cxone%-bulk: 10  2%.0/s  ok 10  failed 0  skipped 2  retries 0  ETA %-%-:%-%-  elapsed 0:05\n$",
            table.concat(buf))
        local qout, qbuf = sink()
        local q = progress.new({ out = qout, tty = true, quiet = true, now = function() return t end })
        q:update(st, true)
        q:finish(st)
        assert.equal(0, #qbuf)
    end)

    it("formats durations", function()
        assert.equal("0:05", progress.duration(5))
        assert.equal("1:01:01", progress.duration(3661))
        assert.equal("--:--", progress.duration(nil))
        assert.equal("--:--", progress.duration(math.huge))
    end)
end)

describe("summary", function()
    it("counts outcomes and groups failures by status with one example each", function()
        local s = summary.new()
        s:add({ ok = true, line = 2 })
        s:add({ ok = true, replayed = true, line = 3 })
        s:add({ ok = true, skipped = true, line = 4 })
        s:add({ ok = false, status = 404, error = "HTTP 404: not found", line = 5, contact_id = "x" })
        s:add({ ok = false, status = 404, error = "HTTP 404: other", line = 6 })
        s:add({ ok = false, status = 0, error = "timeout", line = 7 })
        s:add({ ok = false, invalid = true, status = 0, error = "contact_id is empty", line = 8 })
        s:add({ ok = false, cancelled = true, status = 0, error = "cancelled", line = 9 })
        assert.equal(8, s.done)
        assert.equal(5, s:not_ok())
        local text = s:render({ requests = 6, retried = 2, http_429 = 1, http_5xx = 0, transport_errors = 1,
            pauses = 1, pause_seconds = 2 }, 2)
        assert.matches("cxone%-bulk done: 8 rows in 2%.0 s", text)
        assert.matches("succeeded%s+2   %(1 replayed by the server%)", text)
        assert.matches("failed%s+3", text)
        assert.matches("invalid%s+1", text)
        assert.matches("skipped%s+1   %(already succeeded per the journal%)", text)
        assert.matches("cancelled%s+1", text)
        assert.matches("requests%s+6   retries 2   429s 1", text)
        assert.matches("pauses%s+1   %(2%.0 s paused%)", text)
        assert.matches("effective rate 2%.5 updates/s", text)
        assert.matches("404%s+2   e%.g%. line 5 contact x: HTTP 404: not found", text)
        assert.matches("no response%s+1   e%.g%. line 7: timeout", text)
        assert.matches("invalid%s+1   e%.g%. line 8: contact_id is empty", text)
    end)
end)
