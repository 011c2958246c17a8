-- The engine's cxone profile (api = "cxone") end to end against the mock: discovery, the
-- password grant, set-disposition at the configured rate, exactly once through the read-back
-- before any resend, local validation of disposition codes, whole-batch auth errors without
-- secrets. Counts that prove exactly-once come from the mock (server side).
-- Run from the repo root: make spec SPEC_FILES=spec/cxone_profile_spec.lua
local bulk = require "cxone.bulk"
local Mock = require "spec.helpers.mock"

local CLIENT_SECRET = "demo-secret"
local ACCESS_SECRET = "demo-access-secret"

local function tasks(n, extra)
    local t = {}
    for i = 1, n do
        t[i] = { contact_id = ("cx-%06d"):format(i), skill = "1001", disposition_code = "2",
                 notes = "call back " .. i }
        for k, v in pairs(extra or {}) do t[i][k] = v end
    end
    return t
end

local function opts(m, extra)
    local o = { api = "cxone", issuer = m.url, client_id = "demo-client", client_secret = CLIENT_SECRET,
                access_key_id = "demo-access-key", access_key_secret = ACCESS_SECRET,
                rate = 5000, burst = 200, workers = 8, backoff_base = 0.01, backoff_max = 0.05, timeout = 5 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
end

-- Runs a batch; returns ok, summary-or-error, results by index, every event, every text seen.
local function run(list, o)
    local results, events, texts = {}, {}, {}
    o.on_result = function(r)
        assert(results[r.index] == nil, "two results for task " .. r.index)
        results[r.index] = r
        texts[#texts + 1] = tostring(r.error or "")
    end
    o.on_event = function(e)
        events[#events + 1] = e
        texts[#texts + 1] = tostring(e.error or "")
    end
    local ok, s = pcall(bulk.batch_update, list, o)
    texts[#texts + 1] = tostring(ok and (s.error or "") or s)
    return ok, s, results, events, table.concat(texts, "\n")
end

local function route(st, name) return st.requests.by_route[name] or 0 end

describe("api = cxone", function()
    local m = Mock.each({ "--api", "cxone", "--any-contact", "--rate", "0", "--quiet" })

    it("discovers, gets one token and sends 2,000 set-dispositions at the configured rate", function()
        -- The mock enforces 500/s (burst 30) server side: a client above its own 400/s would
        -- collect 429s there.
        m:config({ rate = 500, burst = 30 })
        local t0 = bulk.sys.monotime()
        local ok, s, results = run(tasks(2000), opts(m, { rate = 400, burst = 20, workers = 16 }))
        local elapsed = bulk.sys.monotime() - t0
        assert.is_true(ok, tostring(s))
        assert.equal(2000, s.succeeded)
        assert.equal(0, s.http_429)
        for i = 1, 2000 do assert.is_true(results[i].ok) end
        -- (2000 - burst) / rate seconds at the least; generous above for a loaded machine.
        assert.is_true(elapsed >= (2000 - 20) / 400 * 0.95, "too fast: " .. elapsed)
        assert.is_true(elapsed < 60, "too slow: " .. elapsed)
        local st = m:stats()
        assert.equal(0, st.requests.by_status and st.requests.by_status["429"] or 0)
        assert.equal(1, route(st, "GET /.well-known/openid-configuration"))
        assert.equal(1, route(st, "GET /.well-known/cxone-configuration"))
        assert.equal(1, route(st, "POST /auth/token"))
        assert.equal(2000, route(st, "POST /incontactapi/contacts/set-disposition"))
        assert.equal(2000, st.total_set_dispositions)
        assert.equal(2000, st.distinct_dispositioned)
        assert.equal(1, st.max_set_dispositions_per_contact)
    end)

    it("applies every contact exactly once under drop-after-mutate, late answers and 500-after-mutate", function()
        m:config({ drop_after_mutate = 0.15, late_after_mutate = 0.1, late_seconds = 1.5,
                   error_after_mutate = 0.15, error_rate = 0.05 })
        local n = 300
        local ok, s, results = run(tasks(n), opts(m, { timeout = 0.6, max_retries = 8 }))
        assert.is_true(ok, tostring(s))
        local verified = 0
        for i = 1, n do
            assert.is_true(results[i].ok, results[i].error)
            if results[i].verified then verified = verified + 1 end
        end
        local st = m:stats()
        assert.equal(n, st.distinct_dispositioned)
        assert.equal(n, st.total_set_dispositions)          -- server side: no second application
        assert.equal(1, st.max_set_dispositions_per_contact)
        assert.is_true(verified > 0, "no task was settled by a read-back")
        assert.is_true(route(st, "GET /incontactapi/contacts/disposition") >= verified)
    end)

    it("never resends an unknown POST without reading back; a read showing nothing resends", function()
        -- error_rate answers 5xx without applying: the read-back shows nothing, the POST goes again.
        m:config({ error_rate = 0.3 })
        -- An attempt after an unknown outcome is a read-back and a POST, each failing 30 % of the
        -- time: it fails about half the time. With 10 retries a task of 100 gave up in about 6 %
        -- of runs (0.51^11 x 100); with 40, about once in 10^10 runs.
        local ok, s, results = run(tasks(100), opts(m, { max_retries = 40 }))
        assert.is_true(ok, tostring(s))
        local st = m:stats()
        for i = 1, 100 do assert.is_true(results[i].ok, results[i].error) end
        assert.equal(100, st.total_set_dispositions)
        local posts = route(st, "POST /incontactapi/contacts/set-disposition")
        local reads = route(st, "GET /incontactapi/contacts/disposition")
        -- Every POST after the first of a contact followed a 5xx, and so a read-back.
        assert.is_true(posts > 100, "the fault injected nothing")
        assert.is_true(reads >= posts - 100, ("posts %d, reads %d"):format(posts, reads))
    end)

    it("refuses unknown disposition codes and skills locally, with a suggestion", function()
        local list = tasks(4)
        list[2].disposition_code = "Calback Requested"
        list[3].skill = "4242"
        local ok, s, results = run(list, opts(m, { validate_outcomes = true }))
        assert.is_true(ok, tostring(s))
        assert.is_true(results[1].ok and results[4].ok)
        assert.is_true(results[2].invalid)
        assert.matches('did you mean "Callback Requested"', results[2].error, 1, true)
        assert.is_true(results[3].invalid)
        assert.matches('skill "4242" does not exist', results[3].error, 1, true)
        local st = m:stats()
        assert.equal(2, st.total_set_dispositions)
        assert.is_nil(st.set_dispositions["cx-000002"])
        assert.equal(2, route(st, "GET /incontactapi/skills/dispositions")) -- once per distinct skill
    end)

    it("a wrong access key is a whole-batch error before any POST, naming the step, with no secret", function()
        local wrong = "Wr0ng-Access-Secret-9f3a"
        local ok, err, results, _, texts = run(tasks(50), opts(m, { access_key_secret = wrong }))
        assert.is_false(ok)
        assert.matches("token: POST " .. m.url .. "/auth/token", err, 1, true)
        assert.matches("HTTP 400", err, 1, true)
        assert.matches("CXONE_ACCESS_KEY_SECRET", err, 1, true)
        for i = 1, 50 do assert.is_false(results[i].ok) end
        assert.equal(0, route(m:stats(), "POST /incontactapi/contacts/set-disposition"))
        for _, secret in ipairs({ wrong, CLIENT_SECRET, ACCESS_SECRET }) do
            assert.is_nil(texts:find(secret, 1, true), "secret in output")
        end
    end)

    it("names the discovery step and URL when the issuer serves no openid-configuration", function()
        local ok, err = run(tasks(3), opts(m, { issuer = m.url .. "/nowhere" }))
        assert.is_false(ok)
        assert.matches("discovery: GET " .. m.url .. "/nowhere/.well-known/openid-configuration answered HTTP 404",
            err, 1, true)
    end)

    it("tenant_id, token_url and api_base override discovery", function()
        local ok, s = run(tasks(5), opts(m, { issuer = "http://127.0.0.1:9/unused", token_url = m.url .. "/auth/token",
            api_base = m.url .. "/", tenant_id = "ignored-with-api-base" }))
        assert.is_true(ok, tostring(s))
        local st = m:stats()
        assert.equal(0, route(st, "GET /.well-known/openid-configuration"))
        assert.equal(0, route(st, "GET /.well-known/cxone-configuration"))
        assert.equal(5, st.total_set_dispositions)
    end)

    it("a 403 (role without the permission) is a whole-batch error naming it", function()
        m:config({ deny_set_disposition = true })
        local ok, err = run(tasks(40), opts(m, { workers = 2 }))
        assert.is_false(ok)
        assert.matches("lacks the permission to set contact dispositions", err, 1, true)
        assert.is_true(route(m:stats(), "POST /incontactapi/contacts/set-disposition") <= 2)
    end)

    it("sends only the fields a task gives", function()
        local list = { { contact_id = "cx-1", skill = "1002", disposition_code = "Promise To Pay",
                         commitment_amount = "12.50", callback_time = "" } }
        local d = bulk.describe(list[1], opts(m, { api_base = m.url }))
        assert.equal('{"dispositionInfo":{"skill":"1002","dispositionCode":"Promise To Pay","commitmentAmount":"12.50"}}',
            d.body)
        assert.equal(m.url .. "/incontactapi/services/v33.0/contacts/cx-1/set-disposition", d.url)
        local ok, s = run(list, opts(m))
        assert.is_true(ok, tostring(s))
        assert.equal(1, m:stats().set_dispositions["cx-1"].count)
    end)
end)
