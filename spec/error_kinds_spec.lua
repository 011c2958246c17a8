-- Failures carry their kind from where they are detected (issue 19 §3): the token endpoint, the
-- discovery step, an HTTP answer, the transport, the limiter. The CLI's exit code comes from the
-- kind (docs/cli.md "Exit codes"), the library's err.kind / error_kind too; no message is read.
local bulk = require "cxone.bulk"
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local H = require "spec.helpers.engine"
local cjson = require "cjson"

local ENV = { CXONE_ACCESS_KEY_ID = "demo-access-key", CXONE_ACCESS_KEY_SECRET = "demo-access-secret" }

local function cxone_csv(n)
    local out = { "contact_id,skill,disposition_code" }
    for i = 1, n do out[#out + 1] = ("cx-%03d,1001,Callback Requested"):format(i) end
    return table.concat(out, "\n") .. "\n"
end

-- Runs the CLI with --summary-json; returns exit code, stderr, the summary, seconds taken.
local function run(dir, argv, env)
    argv[#argv + 1] = "--summary-json"
    argv[#argv + 1] = dir .. "/s.json"
    argv[#argv + 1] = "--output"
    argv[#argv + 1] = dir .. "/r.jsonl"
    argv[#argv + 1] = dir .. "/in.csv"
    local t0 = bulk.sys.monotime()
    local code, _, err = C.run(argv, { env = env })
    local took = bulk.sys.monotime() - t0
    local text = C.read(dir .. "/s.json")
    return code, err, text and cjson.decode(text), took
end

local function closed_port()
    local m = Mock.start { "--quiet" }
    local port = m.port
    m:stop()
    return port
end

describe("error kinds: cxone profile", function()
    local m, dir
    m = Mock.each({ "--api", "cxone", "--any-contact", "--rate", "0", "--quiet" })
    before_each(function()
        dir = C.tmpdir()
        C.write(dir .. "/in.csv", cxone_csv(30))
    end)
    after_each(function()
        C.rmdir(dir)
    end)

    local function cx(list)
        local a = { "--api", "cxone", "--backoff-base", "0.01", "--backoff-max", "0.05", "--max-unreachable", "3" }
        for _, v in ipairs(list) do a[#a + 1] = v end
        return a
    end

    it("an issuer nobody answers at: max_unreachable trips, exit 3, kind network", function()
        local code, err, s, took = run(dir, cx({ "--issuer", "http://127.0.0.1:" .. closed_port() }), ENV)
        assert.equal(3, code, err)
        assert.equal("network", s.error_kind)
        assert.matches("could not reach the API: 3 consecutive attempts", s.error)
        assert.equal(30, s.cancelled)
        assert.is_true(took < 10, "took " .. took .. " s")
    end)

    it("a token endpoint answering 503 to everything: exit 3, kind network, nothing sent", function()
        m:config({ token_error_rate = 1.0 })
        local code, err, s = run(dir, cx({ "--issuer", m.url }), ENV)
        assert.equal(3, code, err)
        assert.equal("network", s.error_kind)
        assert.equal(0, m:stats().total_set_dispositions)
    end)

    it("a wrong access key secret or a wrong client secret: exit 3, kind auth", function()
        local env = { CXONE_ACCESS_KEY_ID = "demo-access-key", CXONE_ACCESS_KEY_SECRET = "wrong-access-secret" }
        local code, err, s = run(dir, cx({ "--issuer", m.url }), env)
        assert.equal(3, code, err)
        assert.equal("auth", s.error_kind)
        assert.is_nil(err:find("wrong-access-secret", 1, true))
        env = { CXONE_ACCESS_KEY_ID = "demo-access-key", CXONE_ACCESS_KEY_SECRET = "demo-access-secret",
                CXONE_CLIENT_SECRET = "wrong-client-secret" }
        code, err, s = run(dir, cx({ "--issuer", m.url }), env)
        assert.equal(3, code, err)
        assert.equal("auth", s.error_kind)
    end)

    it("the API user lacks the permission: exit 3, kind permission", function()
        m:config({ deny_set_disposition = true })
        local code, err, s = run(dir, cx({ "--issuer", m.url }), ENV)
        assert.equal(3, code, err)
        assert.equal("permission", s.error_kind)
    end)

    it("try_batch_update returns nil, err with the kind, and the summary so far", function()
        local tasks = {}
        for i = 1, 5 do tasks[i] = { contact_id = "cx-" .. i, skill = "1001", disposition_code = "2" } end
        local s, err = bulk.try_batch_update(tasks, { api = "cxone", issuer = "http://127.0.0.1:" .. closed_port(),
            client_id = "demo-client", client_secret = "demo-secret", access_key_id = "demo-access-key",
            access_key_secret = "demo-access-secret", max_unreachable = 3, backoff_base = 0.01, backoff_max = 0.05 })
        assert.is_nil(s)
        assert.equal("network", err.kind)
        assert.equal(5, err.summary.cancelled)
    end)
end)

describe("error kinds: tutorial profile", function()
    it("a host name that does not resolve: exit 3, kind network", function()
        local dir = C.tmpdir()
        finally(function() C.rmdir(dir) end)
        C.write(dir .. "/in.csv", C.csv(C.rows(5)))
        local code, err, s = run(dir, { "--base-url", "http://no-such-host.invalid", "--allow-http",
            "--max-unreachable", "2", "--backoff-base", "0.01", "--backoff-max", "0.05", "--connect-timeout", "2" })
        assert.equal(3, code, err)
        assert.equal("network", s.error_kind)
    end)

    it("--validate-outcomes with a wrong client secret, real or dry run: exit 3, kind auth", function()
        local m = Mock.start { "--rate", "0", "--quiet" }
        local dir = C.tmpdir()
        finally(function()
            m:stop()
            C.rmdir(dir)
        end)
        C.write(dir .. "/in.csv", C.csv(C.rows(3)))
        for _, extra in ipairs({ {}, { "--dry-run" } }) do
            local argv = { "--base-url", m.url, "--validate-outcomes" }
            for _, a in ipairs(extra) do argv[#argv + 1] = a end
            local code, err, s = run(dir, argv, { CXONE_CLIENT_SECRET = "not-the-secret" })
            assert.equal(3, code, err)
            assert.equal("auth", s.error_kind)
        end
    end)

    it("each failed result names its kind: not_found, rejected", function()
        local m = Mock.start { "--rate", "0", "--quiet" }
        finally(function() m:stop() end)
        local kinds = {}
        bulk.batch_update({
            { contact_id = "no-such-contact", category = "Contacted", subcategory = "Information Provided" },
            { contact_id = "contact-000001", category = "Contacted", subcategory = "No Such Outcome" },
            { contact_id = "contact-000002", category = "Contacted", subcategory = "Information Provided" },
        }, H.opts(m, { on_result = function(r) kinds[r.index] = r.error_kind or "ok" end }))
        assert.same({ "not_found", "rejected", "ok" }, kinds)
    end)
end)
