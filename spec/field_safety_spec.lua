-- Field safety (issue 11): what a tired operator with a messy file, a second terminal and a
-- flaky network does to the product must not break exactly-once, the rate limit or their data.
-- Every claim about the server is checked with the mock's own counts.
local bulk = require "cxone.bulk"
local cjson = require "cjson"
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local H = require "spec.helpers.engine"

-- Registers a mock (argv) and a temporary directory for the enclosing describe; env.m, env.dir.
local function with_mock(argv)
    local env = { m = Mock.shared(argv) }
    lazy_setup(function() env.dir = C.tmpdir() end)
    lazy_teardown(function() C.rmdir(env.dir) end)
    return env
end

local function puts(m)
    return m:stats().requests.by_route["PUT /api/v2/contacts"]
end

-- The outcome the mock holds for a contact (GET with a fresh token).
local function outcome_of(m, token, id)
    local status, body = m:request("GET", "/api/v2/contacts/" .. id,
        { headers = { Authorization = "Bearer " .. token } })
    assert.equal(200, status, body)
    local doc = cjson.decode(body)
    local o = doc.outcome or (doc.contact and doc.contact.outcome) or {}
    return o.category, o.subcategory
end

describe("contact ids", function()
    local m = Mock.shared({ "--rate", "0", "--any-contact" })

    it("never address anything but one contact: dot segments are refused, other dots stay in their segment", function()
        local ids = { ".", "..", "%2e%2e", "%2E", "..%2f", "a/../b", "...", "./x", ".hidden" }
        local tasks = {}
        for i, id in ipairs(ids) do
            tasks[i] = { contact_id = id, category = "Contacted", subcategory = "Information Provided" }
        end
        local _, results = H.run(tasks, H.opts(m))
        assert.is_true(results[1].invalid)
        assert.matches('contact_id "%." is not a contact id', results[1].error)
        assert.is_true(results[2].invalid)
        assert.matches('contact_id "%.%." is not a contact id', results[2].error)
        for i = 3, #ids do assert.is_true(results[i].ok, ids[i] .. ": " .. tostring(results[i].error)) end
        local s = m:stats()
        assert.equal(0, s.requests.by_route.other)
        assert.equal(#ids - 2, s.requests.by_route["PUT /api/v2/contacts"])
        assert.equal(#ids - 2, s.distinct_mutated)
    end)
end)

describe("options", function()
    it("refuse every number out of its range, naming the option", function()
        local base = { base_url = "http://127.0.0.1:1", client_id = "c", client_secret = "s" }
        local cases = {
            { "max_retries", 2 ^ 31, "option 'max_retries' must be an integer >= 0 and <= 100" },
            { "timeout", 0.0001, "option 'timeout' must be a number >= 0.001" },
            { "connect_timeout", 0, "option 'connect_timeout' must be a number >= 0.001" },
            { "workers", 100000, "option 'workers' must be an integer >= 1 and <= 256" },
            { "rate", math.huge, "option 'rate' must be a number >= 1e-06" },
            { "burst", 0 / 0, "option 'burst' must be a number >= 1" },
            { "queue_size", 0, "option 'queue_size' must be an integer >= 1" },
            { "deadline", -1, "option 'deadline' must be a number > 0" },
            { "pause_threshold", 1e12, "option 'pause_threshold' must be a number >= 0 and <= 86400" },
        }
        for _, c in ipairs(cases) do
            local o = {}
            for k, v in pairs(base) do o[k] = v end
            o[c[1]] = c[2]
            local ok, err = pcall(bulk.start, {}, o)
            assert.is_false(ok, c[1])
            assert.matches(c[3], err, 1, true)
        end
    end)
end)

describe("validate_outcomes that cannot fetch the hierarchy", function()
    local m = Mock.shared({ "--rate", "0", "--contacts", "50" })

    it("gives every task its one result, then raises the batch error", function()
        m:config({ error_rate = 1, error_statuses = { 500 } })
        local results, count = {}, 0
        local opts = H.opts(m, { validate_outcomes = true, max_retries = 1 })
        opts.on_result = function(r)
            assert.is_nil(results[r.index], "two results for task " .. r.index)
            results[r.index] = r
            count = count + 1
        end
        local ok, err = pcall(bulk.batch_update, H.tasks(5), opts)
        m:config({ error_rate = 0 })
        assert.is_false(ok)
        assert.matches("could not fetch the outcome hierarchy", err)
        assert.equal(5, count)
        for i = 1, 5 do
            assert.is_false(results[i].ok)
            assert.matches("could not fetch the outcome hierarchy", results[i].error)
        end
        assert.equal(0, puts(m))
    end)
end)

describe("cxone-bulk journal", function()
    local env = with_mock({ "--rate", "0", "--contacts", "2000" })
    local m, dir
    before_each(function()
        m, dir = env.m, env.dir
        m:reset()
    end)

    it("written for another batch id stops the rerun before anything is sent; ignore never re-applies", function()
        local input = C.write(dir .. "/b.csv", C.csv(C.rows(20)))
        local journal = dir .. "/b.journal"
        assert.equal(0, (C.run(C.args(m, { "--journal", journal, "--batch-id", "A", "-o", "/dev/null", input }))))
        assert.equal(20, m:stats().total_mutations)
        local code, _, err = C.run(C.args(m, { "--journal", journal, "--batch-id", "B", "-o", "/dev/null", input }))
        assert.equal(2, code, err)
        assert.matches('batch id "A" %(this run: "B"%)', err)
        assert.equal(20, m:stats().total_mutations)
        assert.equal(20, puts(m))
        local out = dir .. "/b2.jsonl"
        code, _, err = C.run(C.args(m, { "--journal", journal, "--batch-id", "B", "--journal-mismatch=ignore",
            "-o", out, input }))
        assert.equal(0, code, err)
        assert.equal(20, m:stats().total_mutations)
        assert.equal(20, puts(m))
        local skipped = 0
        for _, r in ipairs(C.jsonl(out)) do if r.skipped == "journal" then skipped = skipped + 1 end end
        assert.equal(20, skipped)
    end)

    it("is locked: a second run on the same journal refuses while the first runs", function()
        local input = C.write(dir .. "/l.csv", C.csv(C.rows(60)))
        local journal = dir .. "/l.journal"
        local h = C.spawn(C.args(m, { "--rate", "20", "--burst", "1", "--journal", journal, "-o", "/dev/null", input }))
        local deadline = os.time() + 10
        repeat os.execute("sleep 0.05") until m:stats().total_mutations >= 2 or os.time() > deadline
        local code, _, err = C.run(C.args(m, { "--journal", journal, "-o", "/dev/null", input }))
        local first = h.wait(30)
        h.cleanup()
        assert.equal(2, code, err)
        assert.matches("journal .* is in use by another cxone%-bulk run", err)
        assert.equal(0, first)
        local s = m:stats()
        assert.equal(60, s.total_mutations)
        assert.equal(1, s.max_mutations_per_contact)
    end)

    it("with a record missing its fields is refused naming the line, exit 2", function()
        local input = C.write(dir .. "/c.csv", C.csv(C.rows(3)))
        local journal = C.write(dir .. "/c.journal",
            '{"contact_id":"contact-000001","category":"Contacted","subcategory":"Information Provided","ok":true}\n'
            .. '{"contact_id":"x","ok":true}\n')
        local code, _, err = C.run(C.args(m, { "--journal", journal, "-o", "/dev/null", input }))
        assert.equal(2, code, err)
        assert.matches("journal .* line 2 is not a result record", err)
        assert.is_nil(err:find("traceback", 1, true))
        assert.equal(0, puts(m))
    end)

    it("keeps the later row's outcome on a resume when the earlier row failed", function()
        -- Each contact gets X, then Y. With half the PUTs failing and no retries, some contacts
        -- see X fail and Y succeed; a resume must not then apply X over Y.
        local rows = {}
        for i = 1, 60 do rows[#rows + 1] = { ("contact-%06d"):format(i), "Not Contacted", "Busy" } end
        for i = 1, 60 do rows[#rows + 1] = { ("contact-%06d"):format(i), "Contacted", "Information Provided" } end
        local input = C.write(dir .. "/s.csv", C.csv(rows))
        local journal = dir .. "/s.journal"
        m:config({ error_rate = 0.5, error_statuses = { 503 } })
        C.run(C.args(m, { "--max-retries", "0", "--journal", journal, "-o", "/dev/null", input }))
        m:config({ error_rate = 0 })
        local code, _, err = C.run(C.args(m, { "--journal", journal, "-o", "/dev/null", input }))
        assert.equal(0, code, err)
        local token = m:token()
        for i = 1, 60 do
            local _, sub = outcome_of(m, token, ("contact-%06d"):format(i))
            assert.equal("Information Provided", sub, "contact " .. i .. " ended at the earlier row")
        end
    end)
end)

describe("cxone-bulk rate with repeated contacts", function()
    local env = with_mock({ "--rate", "0", "--contacts", "100" })
    local m, dir
    before_each(function() m, dir = env.m, env.dir end)

    it("never exceeds burst + rate in any second and takes one token for the run", function()
        local rows = {}
        for i = 1, 40 do rows[i] = { ("contact-%06d"):format(i % 2 + 1), "Not Contacted", "Busy" } end
        local input = C.write(dir .. "/a.csv", C.csv(rows))
        local code, _, err = C.run({ "--base-url", m.url, "--rate", "10", "--burst", "5", "-o", "/dev/null", input })
        assert.equal(0, code, err)
        local s = m:stats()
        local times = s.api_request_ms
        assert.equal(40, #times)
        local busiest = H.max_in_window(times, 1000)
        assert.is_true(busiest <= 15, "busiest second: " .. busiest .. " requests (bound 15)")
        assert.equal(1, s.requests.by_route["POST /oauth2/token"])
    end)
end)

describe("cxone-bulk output paths", function()
    local env = with_mock({ "--rate", "0", "--contacts", "100" })
    local m, dir
    before_each(function() m, dir = env.m, env.dir end)

    it("that name the input (or each other) are refused before anything is written", function()
        local text = C.csv(C.rows(30))
        local input = C.write(dir .. "/in.csv", text)
        os.execute("ln " .. C.quote(input) .. " " .. C.quote(dir .. "/hard.csv"))
        os.execute("ln -s in.csv " .. C.quote(dir .. "/soft.csv"))
        local cases = {
            { { "--failed", input }, "%-%-failed .* is the same file as the input" },
            { { "-o", dir .. "/./in.csv" }, "%-%-output .* is the same file as the input" },
            { { "--journal", dir .. "/hard.csv" }, "%-%-journal .* is the same file as the input" },
            { { "--failed", dir .. "/soft.csv" }, "%-%-failed .* is the same file as the input" },
            { { "--failed", dir .. "/x.csv", "--journal", dir .. "/../" .. dir:match("[^/]+$") .. "/x.csv" },
              "%-%-failed .* and %-%-journal .* are the same file" },
        }
        for _, c in ipairs(cases) do
            local a = C.args(m, c[1])
            a[#a + 1] = input
            local code, _, err = C.run(a)
            assert.equal(2, code, err)
            assert.matches(c[2], err)
            assert.equal(text, C.read(input))
        end
        assert.equal(0, puts(m))
        -- stdout appended to the input by the shell
        local cmd = ("env CXONE_CLIENT_ID=demo-client CXONE_CLIENT_SECRET=demo-secret %s bin/cxone-bulk "
            .. "--base-url %s %s >> %s 2> %s"):format(C.LUA, C.quote(m.url), C.quote(input), C.quote(input),
            C.quote(dir .. "/err"))
        local ok, _, code = os.execute(cmd)
        if type(ok) == "number" then code = ok / 256 end
        assert.equal(2, code)
        assert.matches("stdout %(results%) is the same file as the input", C.read(dir .. "/err"))
        assert.equal(text, C.read(input))
        assert.equal(0, puts(m))
    end)
end)

describe("cxone-bulk signals, pipes and write errors", function()
    local env = with_mock({ "--rate", "0", "--contacts", "2000" })
    local m, dir
    before_each(function()
        m, dir = env.m, env.dir
        m:reset()
    end)

    it("on SIGHUP (the terminal or ssh session went away) stops like SIGTERM: in-flight finished, exit 130", function()
        local input = C.write(dir .. "/hup.csv", C.csv(C.rows(400)))
        local journal = dir .. "/hup.journal"
        local h = C.spawn(C.args(m, { "--rate", "50", "--burst", "5", "--journal", journal, "-o", "/dev/null", input }))
        local deadline = os.time() + 10
        repeat os.execute("sleep 0.05") until m:stats().total_mutations >= 20 or os.time() > deadline
        h.signal("HUP")
        local code = h.wait(30)
        local err = C.read(h.err)
        h.cleanup()
        assert.equal(130, code, err)
        assert.matches("HUP: no new rows", err)
        local ok = 0
        for _, r in ipairs(C.jsonl(journal)) do if r.ok then ok = ok + 1 end end
        local s = m:stats()
        assert.is_true(s.total_mutations < 400)
        assert.equal(s.total_mutations, ok) -- everything applied is journaled
    end)

    it("after SIGINT sends no row, even one behind a long stretch of rows that need no request", function()
        local path = dir .. "/stretch.csv"
        local f = assert(io.open(path, "wb"))
        f:write("contact_id,category,subcategory\n")
        local bad = string.rep("contact-000001,Contacted,\n", 10000)
        for _ = 1, 100 do f:write(bad) end -- 1,000,000 invalid rows (no subcategory)
        f:write("contact-000002,Not Contacted,Busy\n")
        f:close()
        local h = C.spawn(C.args(m, { "-o", "/dev/null", "-q", path }))
        os.execute("sleep 0.5")
        local t0 = os.time()
        h.signal("INT")
        local code = h.wait(30)
        local err = C.read(h.err)
        h.cleanup()
        assert.equal(130, code, err)
        assert.is_true(os.time() - t0 <= 3, "exit took " .. (os.time() - t0) .. " s after SIGINT")
        assert.equal(0, puts(m))
    end)

    it("SIGINT during the --strict pass over stdin exits 130 and removes the copy of stdin", function()
        local marker = "strict-marker-" .. os.time() .. "-" .. math.random(1e9)
        local path = dir .. "/strict.csv"
        local f = assert(io.open(path, "wb"))
        f:write("contact_id,category,subcategory\n", marker, ",Not Contacted,Busy\n")
        local row = string.rep("contact-000001,Not Contacted,Busy\n", 10000)
        for _ = 1, 150 do f:write(row) end
        f:close()
        local h = C.spawn(C.args(m, { "--strict", "-o", "/dev/null", "-" }), { stdin = path })
        os.execute("sleep 0.4")
        h.signal("INT")
        local code = h.wait(30)
        local err = C.read(h.err)
        h.cleanup()
        assert.equal(130, code, err)
        assert.is_nil(err:find("traceback", 1, true), err)
        local p = io.popen("grep -l " .. C.quote(marker) .. " /tmp/lua_* 2>/dev/null")
        local left = p:read("*a")
        p:close()
        assert.equal("", left)
        assert.equal(0, puts(m))
    end)

    it("with stdout closed early (| head -1) still writes the failed file, the journal and the summary", function()
        local rows = {}
        for i = 1, 33 do rows[#rows + 1] = { "missing-" .. i, "Not Contacted", "Busy" } end
        for _, r in ipairs(C.rows(400)) do rows[#rows + 1] = r end
        local input = C.write(dir .. "/p.csv", C.csv(rows))
        local failed, journal, errf = dir .. "/p-failed.csv", dir .. "/p.journal", dir .. "/p.err"
        -- The auto-halt is off: 33 404s would otherwise race the closed pipe for the exit code.
        local a = C.args(m, { "--failed", failed, "--journal", journal, "--rate", "200", "--workers", "2",
            "--max-failure-rate", "0", input })
        local quoted = {}
        for i, v in ipairs(a) do quoted[i] = C.quote(v) end
        local cmd = ("bash -c %s"):format(C.quote(("env CXONE_CLIENT_ID=demo-client CXONE_CLIENT_SECRET=demo-secret "
            .. "%s bin/cxone-bulk %s 2> %s | head -c 1 > /dev/null; exit ${PIPESTATUS[0]}"):format(
            C.LUA, table.concat(quoted, " "), C.quote(errf))))
        local ok, _, code = os.execute(cmd)
        if type(ok) == "number" then code = ok / 256 end
        local err = C.read(errf) or ""
        assert.are_not.equal(141, code, err)
        assert.equal(4, code, err)
        assert.matches("cannot write results to stdout", err)
        assert.matches("rows", err) -- the summary
        local jfailed, jok = 0, 0
        for _, r in ipairs(C.jsonl(journal)) do
            if r.ok == false and not r.cancelled then jfailed = jfailed + 1 end
            if r.ok == true then jok = jok + 1 end
        end
        assert.is_true(jfailed >= 1, "no failed row was journaled")
        local lines, unsent = 0, 0
        for line in (C.read(failed) or ""):gmatch("[^\n]+") do
            lines = lines + 1
            if line:match(",not sent$") then unsent = unsent + 1 end
        end
        -- header + every failed row the journal recorded + every row never sent (issue 20 item 1)
        assert.equal(jfailed + unsent + 1, lines)
        assert.equal(433, jok + jfailed + unsent)
    end)

    it("a write error on any output is an error exit naming the file", function()
        local input = C.write(dir .. "/w.csv", C.csv({ { "missing-1", "Not Contacted", "Busy" },
            { "contact-000001", "Not Contacted", "Busy" } }))
        for _, flag in ipairs({ "-o", "--failed" }) do
            local a = C.args(m, { flag, "/dev/full" })
            if flag ~= "-o" then a[#a + 1] = "-o"; a[#a + 1] = "/dev/null" end
            a[#a + 1] = input
            local code, _, err = C.run(a)
            assert.equal(4, code, flag .. ": " .. err)
            assert.matches("/dev/full", err)
        end
        -- A journal is a regular file: a device is refused before anything is read from it.
        local code, _, err = C.run(C.args(m, { "--journal", "/dev/full", "-o", "/dev/null", input }))
        assert.equal(2, code, err)
        assert.matches("journal /dev/full is not a regular file", err)
        -- A full disk under the journal (a 4 KiB file-size limit): exit 4 naming it.
        local big = C.write(dir .. "/big.csv", C.csv(C.rows(200)))
        local journal = dir .. "/full.journal"
        local quoted = {}
        for i, v in ipairs(C.args(m, { "--journal", journal, "-o", "/dev/null", big })) do quoted[i] = C.quote(v) end
        local cmd = ("bash -c %s"):format(C.quote(("ulimit -f 4; env CXONE_CLIENT_ID=demo-client "
            .. "CXONE_CLIENT_SECRET=demo-secret %s bin/cxone-bulk %s 2> %s"):format(C.LUA,
            table.concat(quoted, " "), C.quote(dir .. "/full.err"))))
        local ok, _, rc = os.execute(cmd)
        if type(ok) == "number" then rc = ok / 256 end
        err = C.read(dir .. "/full.err") or ""
        assert.equal(4, rc, err)
        assert.matches("cannot write the journal " .. dir:gsub("%p", "%%%0") .. "/full%.journal", err)
    end)
end)
