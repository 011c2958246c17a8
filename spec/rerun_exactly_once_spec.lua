-- Exactly once across reruns without a server key (issue 19 §1): the journal holds an intent
-- record before a task's first request leaves; a rerun reads back every task whose last record
-- is an intent without a result or an unknown outcome, and writes only when the contact does not
-- already show the wanted value. Proven with the mock's server-side counts (set_dispositions,
-- mutations), for the cxone profile (no Idempotency-Key at all) and for the tutorial one (a
-- rerun under another batch id, whose keys differ).
local bulk = require "cxone.bulk"
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local H = require "spec.helpers.engine"

local ENV = { CXONE_ACCESS_KEY_ID = "demo-access-key", CXONE_ACCESS_KEY_SECRET = "demo-access-secret" }

local function cxone_args(m, list)
    local a = { "--api", "cxone", "--issuer", m.url, "--rate", "2000", "--burst", "100", "--backoff-base", "0.01",
        "--backoff-max", "0.05" }
    for _, v in ipairs(list) do a[#a + 1] = v end
    return a
end

local function cxone_csv(n)
    local out = { "contact_id,skill,disposition_code" }
    for i = 1, n do out[#out + 1] = ("cx-%03d,1001,Callback Requested"):format(i) end
    return table.concat(out, "\n") .. "\n"
end

-- Every contact of 1..n applied exactly once, server side.
local function applied_once(m, n)
    local st = m:stats()
    for i = 1, n do
        local id = ("cx-%03d"):format(i)
        local d = st.set_dispositions[id]
        assert.is_table(d, id .. " was never applied")
        assert.equal(1, d.count, id .. " applied " .. d.count .. " times")
    end
    return st
end

local function records(path, pred)
    local n = 0
    for line in io.lines(path) do
        if line:find(pred, 1, true) then n = n + 1 end
    end
    return n
end

describe("a rerun with the journal, cxone profile (no idempotency key)", function()
    local m, dir
    m = Mock.each({ "--api", "cxone", "--any-contact", "--rate", "0", "--quiet" })
    before_each(function()
        dir = C.tmpdir()
    end)
    after_each(function()
        C.rmdir(dir)
    end)

    it("after a 500 that may have been applied: reads back instead of posting again", function()
        m:config({ error_after_mutate = 1.0 })
        local input = C.write(dir .. "/in.csv", cxone_csv(2))
        local code, _, err = C.run(cxone_args(m, { "--max-retries", "0", "-o", dir .. "/r1.jsonl",
            "--journal", dir .. "/j", input }), { env = ENV })
        assert.equal(1, code, err)
        for _, r in ipairs(C.jsonl(dir .. "/r1.jsonl")) do assert.is_true(r.outcome_unknown, r.error) end
        m:config({ error_after_mutate = 0 })
        code, _, err = C.run(cxone_args(m, { "-o", dir .. "/r2.jsonl", "--journal", dir .. "/j", input }), { env = ENV })
        assert.equal(0, code, err)
        for _, r in ipairs(C.jsonl(dir .. "/r2.jsonl")) do
            assert.is_true(r.ok, r.error)
            assert.is_true(r.verified, "line " .. r.line .. " was not read back")
        end
        local st = applied_once(m, 2)
        assert.equal(2, st.requests.by_route["GET /incontactapi/contacts/disposition"])
    end)

    it("after kill -9 with requests in flight (only intents in the journal): nothing applied twice", function()
        m:config({ late_after_mutate = 1.0, late_seconds = 6 })
        local input = C.write(dir .. "/in.csv", cxone_csv(3))
        local h = C.spawn(cxone_args(m, { "--timeout", "30", "-o", dir .. "/r1.jsonl", "--journal", dir .. "/j", input }),
            { env = ENV })
        local deadline = os.time() + 10
        repeat os.execute("sleep 0.1") until m:stats().total_set_dispositions >= 3 or os.time() > deadline
        h.signal("KILL")
        h.wait(10)
        h.cleanup()
        assert.equal(3, records(dir .. "/j", '"intent":true'))
        assert.equal(0, records(dir .. "/j", '"ok":'))
        m:config({ late_after_mutate = 0 })
        local code, _, err = C.run(cxone_args(m, { "-o", dir .. "/r2.jsonl", "--journal", dir .. "/j", input }),
            { env = ENV })
        assert.equal(0, code, err)
        for _, r in ipairs(C.jsonl(dir .. "/r2.jsonl")) do assert.is_true(r.verified, r.error) end
        applied_once(m, 3)
    end)

    it("after Ctrl-C twice: the failed file's rows, fed back with the journal, are read back first", function()
        m:config({ late_after_mutate = 1.0, late_seconds = 6 })
        local input = C.write(dir .. "/in.csv", cxone_csv(2))
        local failed = dir .. "/f.csv"
        local h = C.spawn(cxone_args(m, { "--timeout", "30", "-o", dir .. "/r1.jsonl", "--journal", dir .. "/j",
            "--failed", failed, input }), { env = ENV })
        local deadline = os.time() + 10
        repeat os.execute("sleep 0.1") until m:stats().total_set_dispositions >= 2 or os.time() > deadline
        h.signal("INT")
        os.execute("sleep 0.3")
        h.signal("INT")
        assert.equal(130, h.wait(15))
        h.cleanup()
        for _, r in ipairs(C.jsonl(dir .. "/r1.jsonl")) do assert.is_true(r.outcome_unknown, r.error) end
        m:config({ late_after_mutate = 0 })
        local code, _, err = C.run(cxone_args(m, { "-o", dir .. "/r2.jsonl", "--journal", dir .. "/j", failed }),
            { env = ENV })
        assert.equal(0, code, err)
        applied_once(m, 2)
    end)

    it("without a journal: the failed file marks 'outcome unknown', and feeding it back reads those first", function()
        m:config({ error_after_mutate = 1.0 })
        local input = C.write(dir .. "/in.csv", cxone_csv(3))
        local failed = dir .. "/f.csv"
        local code, _, err = C.run(cxone_args(m, { "--max-retries", "0", "-o", dir .. "/r1.jsonl", "--failed", failed,
            input }), { env = ENV })
        assert.equal(1, code, err)
        assert.matches("outcome unknown", C.read(failed), 1, true)
        m:config({ error_after_mutate = 0 })
        code, _, err = C.run(cxone_args(m, { "-o", dir .. "/r2.jsonl", failed }), { env = ENV })
        assert.equal(0, code, err)
        for _, r in ipairs(C.jsonl(dir .. "/r2.jsonl")) do assert.is_true(r.verified, r.error) end
        applied_once(m, 3)
    end)

    it("the library's journal option does the same for a script", function()
        m:config({ error_after_mutate = 1.0 })
        local tasks = {}
        for i = 1, 4 do
            tasks[i] = { contact_id = ("cx-%03d"):format(i), skill = "1001", disposition_code = "Callback Requested" }
        end
        local o = { api = "cxone", issuer = m.url, client_id = "demo-client", client_secret = "demo-secret",
            access_key_id = "demo-access-key", access_key_secret = "demo-access-secret", max_retries = 0,
            rate = 2000, burst = 100, journal = dir .. "/lib.journal" }
        local s = bulk.batch_update(tasks, o)
        assert.equal(4, s.failed)
        m:config({ error_after_mutate = 0 })
        local verified = 0
        o.on_result = function(r) if r.verified then verified = verified + 1 end end
        s = bulk.batch_update(tasks, o)
        assert.equal(4, s.succeeded)
        assert.equal(4, verified)
        applied_once(m, 4)
        -- A third run sends nothing: the journal records them as applied.
        local before = m:stats().requests.total
        s = bulk.batch_update(tasks, o)
        assert.equal(4, s.skipped)
        assert.equal(before, m:stats().requests.total)
    end)
end)

describe("a rerun with the journal, tutorial profile", function()
    it("under another batch id (other keys) after kill -9: the read-back, not the key, prevents a second mutation", function()
        local m = Mock.start({ "--rate", "0", "--quiet" })
        local dir = C.tmpdir()
        finally(function()
            m:stop()
            C.rmdir(dir)
        end)
        m:config({ late_after_mutate = 1.0, late_seconds = 6 })
        local input = C.write(dir .. "/in.csv", C.csv(C.rows(3)))
        local h = C.spawn(C.fast(m, { "--timeout", "30", "--batch-id", "first", "--journal", dir .. "/j", "-o",
            dir .. "/r1.jsonl", input }))
        local deadline = os.time() + 10
        repeat os.execute("sleep 0.1") until m:stats().total_mutations >= 3 or os.time() > deadline
        h.signal("KILL")
        h.wait(10)
        h.cleanup()
        m:config({ late_after_mutate = 0 })
        local code, _, err = C.run(C.fast(m, { "--batch-id", "second", "--journal-mismatch", "ignore",
            "--journal", dir .. "/j", "-o", dir .. "/r2.jsonl", input }))
        assert.equal(0, code, err)
        for _, r in ipairs(C.jsonl(dir .. "/r2.jsonl")) do assert.is_true(r.verified, r.error) end
        local st = m:stats()
        assert.equal(3, st.total_mutations)
        assert.equal(1, st.max_mutations_per_contact)
    end)

    it("a run whose token request failed sent nothing and does not bind the journal", function()
        local m = Mock.start({ "--rate", "0", "--quiet" })
        local dir = C.tmpdir()
        finally(function()
            m:stop()
            C.rmdir(dir)
        end)
        local input = C.write(dir .. "/in.csv", C.csv(C.rows(2)))
        local code, _, err = C.run(C.fast(m, { "--token-url", m.url .. "/no/such/token", "--journal", dir .. "/j",
            "-o", dir .. "/r1.jsonl", input }))
        assert.equal(3, code, err)
        assert.equal(0, m:stats().total_mutations)
        -- The corrected rerun (another base URL) is not refused as "another batch".
        local other = m.url:gsub("127%.0%.0%.1", "localhost")
        local args = C.fast(m, { "--journal", dir .. "/j", "-o", dir .. "/r2.jsonl", input })
        args[2] = other
        code, _, err = C.run(args)
        assert.equal(0, code, err)
        assert.equal(2, m:stats().total_mutations)
    end)
end)

describe("every task taken gets exactly one result", function()
    it("an iterator that raises on call 60: the 59 taken each get their result before the error", function()
        local m = Mock.start({ "--rate", "0", "--quiet" })
        finally(function() m:stop() end)
        local calls, seen = 0, 0
        local function tasks()
            calls = calls + 1
            if calls == 60 then error("input went away") end
            return { contact_id = ("contact-%06d"):format(calls), category = "Contacted",
                     subcategory = "Information Provided" }
        end
        local s, err = bulk.try_batch_update(tasks, H.opts(m, { workers = 4, on_result = function() seen = seen + 1 end }))
        assert.is_nil(s)
        assert.equal("input", err.kind)
        assert.matches("task iterator failed: .*input went away", err.message)
        assert.equal(59, err.summary.total)
        assert.equal(59, seen)
        assert.equal(59, err.summary.succeeded)
        assert.equal(59, m:stats().total_mutations)
    end)
end)
