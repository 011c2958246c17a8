-- Nothing an operator does loses a row (issue 20, items 1 and 7): after any early stop every row
-- has a result, the unsent ones are in the failed file marked `not sent` and the run names the
-- exact command that finishes the batch; files removed while the run writes them stop it (exit
-- 4, naming the file); a Redis password on the command line is refused.
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"

local function lines_of(path)
    local n = 0
    for _ in io.lines(path) do n = n + 1 end
    return n
end

describe("cxone-bulk after an early stop", function()
    local m, dir
    m = Mock.each({ "--rate", "0", "--quiet" })
    before_each(function()
        dir = C.tmpdir()
    end)
    after_each(function()
        C.rmdir(dir)
    end)

    local function interrupted_run(extra, n)
        local input = C.write(dir .. "/in.csv", C.csv(C.rows(n)))
        local argv = { "--base-url", m.url, "--rate", "60", "--burst", "5" }
        for _, a in ipairs(extra) do argv[#argv + 1] = a end
        argv[#argv + 1] = input
        local h = C.spawn(argv)
        local deadline = os.time() + 10
        repeat os.execute("sleep 0.1") until m:stats().total_mutations >= 40 or os.time() > deadline
        h.signal("INT")
        local code = h.wait(20)
        local err = C.read(h.err)
        h.cleanup()
        return code, err, input
    end

    it("Ctrl-C: every row has a result; the unsent are in the failed file as 'not sent'; feeding it back finishes", function()
        local n = 300
        local code, err = interrupted_run({ "--journal", dir .. "/j", "--failed", dir .. "/f.csv", "-o",
            dir .. "/r.jsonl" }, n)
        assert.equal(130, code, err)
        local results = C.jsonl(dir .. "/r.jsonl")
        assert.equal(n, #results)
        local applied = m:stats().total_mutations
        assert.is_true(applied < n, "the run was not interrupted")
        local unsent = 0
        for _, r in ipairs(results) do
            if not r.ok then
                unsent = unsent + 1
                assert.matches("^not sent", r.error)
            end
        end
        assert.equal(n - applied, unsent)
        assert.equal(unsent + 1, lines_of(dir .. "/f.csv"))
        assert.matches(("not sent: %d rows; the ones read are in .*f%%.csv, marked 'not sent'"):format(unsent), err)
        assert.matches("rerun: cxone%-bulk %-%-base%-url ", err)
        local code2, _, err2 = C.run({ "--base-url", m.url, "--rate", "2000", "--journal", dir .. "/j", "-o",
            dir .. "/r2.jsonl", dir .. "/f.csv" })
        assert.equal(0, code2, err2)
        local st = m:stats()
        assert.equal(n, st.total_mutations)
        assert.equal(1, st.max_mutations_per_contact)
    end)

    it("Ctrl-C with only a journal: the rerun line is the exact command, and running it finishes exactly once", function()
        local n = 200
        local code, err = interrupted_run({ "--journal", dir .. "/j", "-o", dir .. "/r.jsonl" }, n)
        assert.equal(130, code, err)
        local cmd = err:match("rerun: cxone%-bulk ([^\n]+)")
        assert.is_string(cmd, err)
        local argv = {}
        for word in cmd:gmatch("%S+") do argv[#argv + 1] = word end
        local code2, _, err2 = C.run(argv)
        assert.equal(0, code2, err2)
        local st = m:stats()
        assert.equal(n, st.total_mutations)
        assert.equal(1, st.max_mutations_per_contact)
    end)

    it("a journal removed mid-run stops the run with exit 4 naming it", function()
        local input = C.write(dir .. "/in.csv", C.csv(C.rows(150)))
        local h = C.spawn({ "--base-url", m.url, "--rate", "50", "--journal", dir .. "/j", "-o", dir .. "/r.jsonl", input })
        os.execute("sleep 1")
        os.remove(dir .. "/j")
        local code = h.wait(20)
        local err = C.read(h.err)
        h.cleanup()
        assert.equal(4, code, err)
        assert.matches("journal .*/j: the file was removed while the run was writing it", err)
    end)

    it("an output directory removed mid-run stops the run with exit 4 naming the file", function()
        local input = C.write(dir .. "/in.csv", C.csv(C.rows(150)))
        os.execute("mkdir " .. C.quote(dir .. "/out"))
        local h = C.spawn({ "--base-url", m.url, "--rate", "50", "-o", dir .. "/out/r.jsonl", "--failed",
            dir .. "/out/f.csv", input })
        os.execute("sleep 1")
        os.execute("rm -rf " .. C.quote(dir .. "/out"))
        local code = h.wait(20)
        local err = C.read(h.err)
        h.cleanup()
        assert.equal(4, code, err)
        assert.matches("cannot write the %a+ file .*/out/%a+%.%a+: it was removed while the run was writing it", err)
        assert.is_true(m:stats().total_mutations < 150, "the run went on after its outputs were gone")
    end)

    it("creates a new journal 0640 whatever the umask", function()
        local input = C.write(dir .. "/in.csv", C.csv(C.rows(2)))
        local cmd = ("umask 0 && env CXONE_CLIENT_ID=demo-client CXONE_CLIENT_SECRET=demo-secret %s bin/cxone-bulk "
            .. "--base-url %s --journal %s -o /dev/null %s 2>/dev/null"):format(C.LUA, C.quote(m.url),
            C.quote(dir .. "/j"), C.quote(input))
        os.execute(cmd)
        local p = io.popen("stat -c %a " .. C.quote(dir .. "/j"))
        local mode = p:read("*l")
        p:close()
        assert.equal("640", mode)
    end)

    it("refuses a Redis password in --shared-limit, naming CXONE_REDIS_PASSWORD and never echoing it", function()
        local input = C.write(dir .. "/in.csv", C.csv(C.rows(1)))
        local code, out, err = C.run({ "--base-url", m.url, "--shared-limit",
            "redis://:Sup3rSecretPw@127.0.0.1:6379/0?key=k", input })
        assert.equal(2, code)
        assert.matches("CXONE_REDIS_PASSWORD", err)
        assert.is_nil((out .. err):find("Sup3rSecretPw", 1, true))
        assert.equal(0, m:stats().requests.total)
    end)
end)
