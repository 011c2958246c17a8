-- The mock's cxone profile (discovery, /auth/token password grant, set-disposition, the
-- disposition read-back, skill dispositions), checked over real HTTP on 127.0.0.1.
-- Run from the repo root: make spec SPEC_FILES=spec/mock_cxone_spec.lua
local cjson = require "cjson"
local Mock = require "spec.helpers.mock"

local TENANT = "11ee0000-0000-4000-8000-000000000001"
local API = "/incontactapi/services/v33.0"

local function b64(s)
    local p = io.popen("printf %s " .. Mock.quote(s) .. " | base64 -w0")
    local out = p:read("*a")
    p:close()
    return out
end

local function b64url_decode(s)
    s = s:gsub("-", "+"):gsub("_", "/")
    s = s .. string.rep("=", (4 - #s % 4) % 4)
    local p = io.popen("printf %s " .. Mock.quote(s) .. " | base64 -d")
    local out = p:read("*a")
    p:close()
    return out
end

local function decode(body)
    local ok, v = pcall(cjson.decode, body)
    return ok and v or body
end

local function now()
    local p = io.popen("date +%s.%N")
    local t = tonumber(p:read("*l"))
    p:close()
    return t
end

-- POST /auth/token. o: client, secret (Basic), body (form), content_type.
local function auth(m, o)
    o = o or {}
    local headers = { ["Content-Type"] = o.content_type or "application/x-www-form-urlencoded" }
    if o.client ~= false then
        headers.Authorization = "Basic " .. b64((o.client or "demo-client") .. ":" .. (o.secret or "demo-secret"))
    end
    local body = o.body or ("grant_type=password&username=" .. (o.username or "demo-access-key") ..
        "&password=" .. (o.password or "demo-access-secret"))
    local st, b, h = m:request("POST", "/auth/token", { headers = headers, body = body })
    return st, decode(b), h, b
end

local function token(m, o)
    local st, body = auth(m, o)
    assert.equal(200, st, cjson.encode(body))
    return body.access_token, body
end

local function call(m, method, path, tok, body, timeout)
    local headers = { ["Content-Type"] = "application/json" }
    if tok then headers.Authorization = "Bearer " .. tok end
    local st, b, h, err = m:request(method, path, { headers = headers, body = body, timeout = timeout })
    return st, decode(b), h, err
end

local function info(t) return cjson.encode { dispositionInfo = t } end

local function set(m, tok, id, t, timeout)
    return call(m, "POST", API .. "/contacts/" .. id .. "/set-disposition", tok,
        type(t) == "string" and t or info(t), timeout)
end

local function disposition(m, tok, id)
    return call(m, "GET", API .. "/contacts/" .. id .. "/disposition", tok)
end

local function applied(m, id)
    local rec = m:stats().set_dispositions[id]
    return rec and rec.count or 0
end

describe("cxone-mock cxone profile: command line", function()
    it("--help lists the profile's flags", function()
        local rc, out = Mock.run { "--help" }
        assert.equal(0, rc)
        for _, flag in ipairs { "--api", "--skills", "--access-key-id", "--access-key-secret", "--tenant-id",
            "--area", "--deny-set-disposition", "--error-after-mutate", "--discovery-error-rate" } do
            assert.truthy(out:find(flag, 1, true), "usage lacks " .. flag)
        end
    end)

    it("rejects a bad --api value and a bad --skills file, naming them", function()
        local rc, _, err = Mock.run { "--api", "real" }
        assert.equal(2, rc)
        assert.matches("%-%-api", err)
        local f = os.tmpname()
        local fh = io.open(f, "w")
        fh:write('{"skills":[{"skillId":7,"skillName":"S","dispositions":[{"dispositionId":"x","dispositionName":"A"}]}]}')
        fh:close()
        local ok, e = pcall(Mock.start, { "--skills", f })
        os.remove(f)
        assert.is_false(ok)
        assert.matches("%-%-skills", e)
        assert.matches("skills%[0%]%.dispositions%[0%]: \"dispositionId\" must be a positive integer", e)
    end)

    it("--api tutorial serves only the tutorial routes, --api cxone only the cxone ones", function()
        local t = Mock.start { "--api", "tutorial" }
        finally(function() t:stop() end)
        assert.equal(404, (auth(t)))
        assert.equal(404, (t:request("GET", "/.well-known/openid-configuration")))
        assert.is_string(t:token())
        t:stop()
        local c = Mock.start { "--api", "cxone" }
        finally(function() c:stop() end)
        assert.equal(404, (c:request("POST", "/oauth2/token", { body = "grant_type=client_credentials" })))
        local tok = token(c)
        assert.equal(404, (call(c, "GET", "/api/v2/contacts/contact-000001", tok)))
        assert.equal(200, (disposition(c, tok, "contact-000001")))
        c:stop()
    end)
end)

describe("cxone-mock cxone profile: discovery and tokens", function()
    local m = Mock.shared { "--rate", "0" }

    it("publishes an openid-configuration whose token_endpoint is its own /auth/token", function()
        local st, doc = call(m, "GET", "/.well-known/openid-configuration")
        assert.equal(200, st)
        assert.equal(m.url, doc.issuer)
        assert.equal(m.url .. "/auth/token", doc.token_endpoint)
        assert.same({ "password" }, doc.grant_types_supported)
    end)

    it("publishes the tenant's cxone-configuration; 404 for an unknown tenant, 400 without one", function()
        local st, doc = call(m, "GET", "/.well-known/cxone-configuration?tenantId=" .. TENANT)
        assert.equal(200, st)
        assert.same({ tenantId = TENANT, area = "na1", api_endpoint = m.url }, doc)
        st, doc = call(m, "GET", "/.well-known/cxone-configuration?tenantId=someone-else")
        assert.equal(404, st)
        assert.matches("unknown tenantId", doc.message)
        assert.equal(400, (call(m, "GET", "/.well-known/cxone-configuration")))
        local enc = TENANT:gsub("%-", "%%2D")
        assert.equal(200, (call(m, "GET", "/.well-known/cxone-configuration?tenantId=" .. enc)))
    end)

    it("issues a token and an id_token (JWT with tenantId, iss, exp) to the password grant", function()
        local t0 = os.time()
        local st, body, h = auth(m)
        assert.equal(200, st)
        assert.equal("Bearer", body.token_type)
        assert.equal(3600, body.expires_in)
        assert.matches("^[%w_%-]+$", body.access_token)
        assert.equal("no-store", h["cache-control"])
        local hdr, payload, sig = body.id_token:match("^([%w_%-]+)%.([%w_%-]+)%.([%w_%-]+)$")
        assert.truthy(hdr, body.id_token)
        assert.equal("JWT", cjson.decode(b64url_decode(hdr)).typ)
        local claims = cjson.decode(b64url_decode(payload))
        assert.equal(TENANT, claims.tenantId)
        assert.equal(m.url, claims.iss)
        assert.equal("demo-client", claims.aud)
        assert.truthy(claims.exp >= t0 + 3599 and claims.exp <= os.time() + 3601, claims.exp)
        assert.equal("cxone-mock: not a signature", b64url_decode(sig))
    end)

    it("refuses a wrong client with 401 invalid_client and a wrong access key with 400 invalid_grant", function()
        local st, body, h = auth(m, { secret = "wrong-client-secret" })
        assert.equal(401, st)
        assert.equal("invalid_client", body.error)
        assert.matches("^Basic", h["www-authenticate"])
        st = auth(m, { client = "someone" })
        assert.equal(401, st)
        st, body = auth(m, { password = "wrong-key-secret" })
        assert.equal(400, st)
        assert.equal("invalid_grant", body.error)
        st, body = auth(m, { username = "wrong-key-id" })
        assert.equal(400, st)
        assert.equal("invalid_grant", body.error)
        -- Client credentials in the form instead of HTTP Basic are not how NICE documents it.
        st, body = auth(m, { client = false, body = "grant_type=password&client_id=demo-client" ..
            "&client_secret=demo-secret&username=demo-access-key&password=demo-access-secret" })
        assert.equal(401, st)
        assert.equal("invalid_client", body.error)
    end)

    it("refuses other grants, missing fields and non-form bodies with 400", function()
        local st, body = auth(m, { body = "grant_type=client_credentials" })
        assert.equal(400, st)
        assert.equal("unsupported_grant_type", body.error)
        st, body = auth(m, { body = "grant_type=password&username=demo-access-key" })
        assert.equal(400, st)
        assert.equal("invalid_request", body.error)
        assert.matches("username and password", body.message)
        st, body = auth(m, { body = "username=demo-access-key&password=demo-access-secret" })
        assert.equal(400, st)
        assert.matches("grant_type", body.message)
        st = auth(m, { content_type = "application/json" })
        assert.equal(400, st)
        assert.equal(405, (m:request("GET", "/auth/token")))
    end)

    it("takes the access key and tenant from flags and never echoes a secret", function()
        local o = Mock.start { "--access-key-id", "AK-1", "--access-key-secret", "ak-s3cret-value",
            "--tenant-id", "tenant-x", "--area", "eu1", "--client-secret", "cl-s3cret-value" }
        finally(function() o:stop() end)
        assert.equal(401, (auth(o)))
        local st, body, _, raw = auth(o, { secret = "cl-s3cret-value", username = "AK-1", password = "ak-s3cret-value" })
        assert.equal(200, st)
        assert.equal("tenant-x", cjson.decode(b64url_decode(body.id_token:match("%.([%w_%-]+)%."))).tenantId)
        local _, doc = call(o, "GET", "/.well-known/cxone-configuration?tenantId=tenant-x")
        assert.equal("eu1", doc.area)
        local c = o:config {}
        assert.equal("AK-1", c.access_key_id)
        assert.is_nil(c.access_key_secret)
        local _, bad = auth(o, { secret = "cl-s3cret-value", username = "AK-1", password = "ak-s3cret-valuX" })
        local all = raw .. cjson.encode(bad) .. cjson.encode(c) .. cjson.encode(o:stats())
        o:stop()
        all = all .. o:stderr()
        assert.is_nil(all:find("s3cret", 1, true))
    end)

    it("answers 503 to a token_error_rate fraction and counts it", function()
        m:config { token_error_rate = 1 }
        local st, body = auth(m)
        m:config { token_error_rate = 0 }
        assert.equal(503, st)
        assert.equal("temporarily_unavailable", body.error)
        assert.equal(1, m:stats("mutations=0").token_injected_errors)
    end)
end)

describe("cxone-mock cxone profile: bearer tokens", function()
    it("refuse missing, tutorial, unknown, expired and revoked tokens with 401", function()
        local m = Mock.start { "--expires-in", "1", "--rate", "0" }
        finally(function() m:stop() end)
        assert.equal(401, (disposition(m, nil, "contact-000001")))
        local st, body = disposition(m, m:token(), "contact-000001")
        assert.equal(401, st)
        assert.matches("unknown", body.message)
        -- ...and a cxone token is no good on the tutorial's routes.
        local tok = token(m)
        assert.equal(403, (call(m, "GET", "/api/v2/contacts/contact-000001", tok)))
        assert.equal(200, (disposition(m, tok, "contact-000001")))
        Mock.sleep(1.3)
        st, body = disposition(m, tok, "contact-000001")
        assert.equal(401, st)
        assert.matches("expired", body.message)
        m:config { expires_in = 3600 }
        tok = token(m)
        m:config { revoke_tokens = true }
        st, body = set(m, tok, "contact-000001", { skill = "1001", dispositionCode = "1" })
        assert.equal(401, st)
        assert.matches("revoked", body.message)
        assert.equal(202, (set(m, token(m), "contact-000001", { skill = "1001", dispositionCode = "1" })))
        assert.equal(1, applied(m, "contact-000001"))
        m:stop()
    end)
end)

describe("cxone-mock cxone profile: dispositions", function()
    local m, tok
    -- no initial values: a contact shows {} until it is dispositioned
    m = Mock.shared { "--rate", "0", "--contacts", "50", "--initial-values", "none" }
    lazy_setup(function()
        tok = token(m)
    end)
    before_each(function() m:reset() end)

    it("set-disposition applies every field; the read-back shows it", function()
        assert.same({}, select(2, disposition(m, tok, "contact-000001")))
        local st, body = set(m, tok, "contact-000001", { skill = "1001", dispositionCode = "2", notes = "call at 5",
            callbackNumber = "+15551234567", callbackTime = "2026-12-02T17:00:00Z", commitmentAmount = "12.50" })
        assert.equal(202, st)
        assert.same({}, body)
        local _, rb = disposition(m, tok, "contact-000001")
        assert.equal(2, rb.dispositionId)
        assert.equal("Callback Requested", rb.dispositionName)
        assert.equal("call at 5", rb.notes)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", rb.lastUpdated)
        local rec = m:stats().set_dispositions["contact-000001"]
        assert.same({ count = 1, skill = 1001, dispositionId = 2, dispositionName = "Callback Requested",
            notes = "call at 5", callbackNumber = "+15551234567", callbackTime = "2026-12-02T17:00:00Z",
            commitmentAmount = "12.50", lastUpdated = rb.lastUpdated }, rec)
        -- The code may be the name too; a new call replaces the disposition (and its notes).
        assert.equal(202, (set(m, tok, "contact-000001", { skill = "1001", dispositionCode = "Sale" })))
        _, rb = disposition(m, tok, "contact-000001")
        assert.equal(1, rb.dispositionId)
        assert.is_nil(rb.notes)
        assert.equal(2, applied(m, "contact-000001"))
    end)

    it("every call is applied: there is no Idempotency-Key", function()
        local t = { skill = "1002", dispositionCode = "11" }
        for _ = 1, 3 do assert.equal(202, (set(m, tok, "contact-000009", t))) end
        local s = m:stats()
        assert.equal(3, applied(m, "contact-000009"))
        assert.equal(3, s.total_set_dispositions)
        assert.equal(1, s.distinct_dispositioned)
        assert.equal(3, s.max_set_dispositions_per_contact)
    end)

    it("refuses unknown codes and skills with 400 and a message; nothing is applied", function()
        local st, body = set(m, tok, "contact-000001", { skill = "1001", dispositionCode = "12" })
        assert.equal(400, st)
        assert.equal("invalid_disposition", body.error)
        assert.matches("\"12\" is not a disposition of skill 1001", body.message)
        st = set(m, tok, "contact-000001", { skill = "1001", dispositionCode = "sale" })
        assert.equal(400, st)
        st, body = set(m, tok, "contact-000001", { skill = "4242", dispositionCode = "1" })
        assert.equal(400, st)
        assert.equal("invalid_skill", body.error)
        assert.matches("4242", body.message)
        assert.equal(0, m:stats().total_set_dispositions)
    end)

    it("refuses malformed bodies with 400 naming the field", function()
        local cases = {
            { "{", "malformed JSON" },
            { "[]", "dispositionInfo" },
            { '{"dispositionInfo":"x"}', "dispositionInfo" },
            { info { dispositionCode = "1" }, "dispositionInfo.skill: missing" },
            { info { skill = 1001, dispositionCode = "1" }, "dispositionInfo.skill: not a string" },
            { info { skill = "1001" }, "dispositionInfo.dispositionCode: missing" },
            { info { skill = "1001", dispositionCode = "1", notes = 5 }, "dispositionInfo.notes: not a string" },
            { info { skill = "1001", dispositionCode = "1", commitmentAmount = 12.5 }, "commitmentAmount" },
        }
        for _, c in ipairs(cases) do
            local st, body = set(m, tok, "contact-000001", c[1])
            assert.equal(400, st, c[1])
            assert.truthy(body.message:find(c[2], 1, true), body.message)
        end
        assert.equal(0, m:stats().total_set_dispositions)
    end)

    it("answers 404 for unknown contacts and skills, 405 for other methods, 404 for bad versions", function()
        local st, body = set(m, tok, "contact-999999", { skill = "1001", dispositionCode = "1" })
        assert.equal(404, st)
        assert.matches("contact%-999999", body.message)
        assert.equal(404, (disposition(m, tok, "contact-999999")))
        assert.equal(404, (call(m, "GET", API .. "/skills/9/dispositions", tok)))
        assert.equal(400, (call(m, "GET", API .. "/skills/x%0Ay/dispositions", tok)))
        local st2, _, h = call(m, "GET", API .. "/contacts/contact-000001/set-disposition", tok)
        assert.equal(405, st2)
        assert.equal("POST", h["allow"])
        assert.equal(405, (call(m, "POST", API .. "/contacts/contact-000001/disposition", tok, "{}")))
        assert.equal(200, (call(m, "GET", "/inContactAPI/services/v13.0/contacts/contact-000001/disposition", tok)))
        assert.equal(404, (call(m, "GET", "/incontactapi/services/33.0/contacts/contact-000001/disposition", tok)))
        assert.equal(404, (call(m, "GET", "/incontactapi/services/v33/contacts/contact-000001/disposition", tok)))
        assert.equal(0, m:stats().total_set_dispositions)
    end)

    it("answers 403 naming the permission when the API user's role lacks it", function()
        m:config { deny_set_disposition = true }
        local st, body = set(m, tok, "contact-000001", { skill = "1001", dispositionCode = "1" })
        m:config { deny_set_disposition = false }
        assert.equal(403, st)
        assert.matches("permission to set contact dispositions", body.message)
        assert.equal(0, m:stats().total_set_dispositions)
        assert.equal(202, (set(m, tok, "contact-000001", { skill = "1001", dispositionCode = "1" })))
    end)

    it("lists a skill's dispositions in the Admin API's shape", function()
        local st, body = call(m, "GET", API .. "/skills/1002/dispositions", tok)
        assert.equal(200, st)
        assert.equal(3, body.totalRecords)
        assert.equal(1002, body.skillId)
        assert.equal("Collections", body.skillName)
        assert.same({ dispositionId = 11, dispositionName = "Promise To Pay", displayOrder = 1,
            classification = "Positive" }, body.dispositions[1])
    end)

    it("loads skills from --skills FILE", function()
        local f = os.tmpname()
        local fh = io.open(f, "w")
        fh:write('{"skills":[{"skillId":77,"skillName":"Renewals","dispositions":[' ..
            '{"dispositionId":700,"dispositionName":"Renewed","systemOutcome":"Success"}]}]}')
        fh:close()
        local o = Mock.start { "--skills", f }
        finally(function() o:stop() end)
        os.remove(f)
        local t = token(o)
        local _, body = call(o, "GET", API .. "/skills/77/dispositions", t)
        assert.same({ totalRecords = 1, skillId = 77, skillName = "Renewals", dispositions = {
            { dispositionId = 700, dispositionName = "Renewed", displayOrder = 1, systemOutcome = "Success" } } }, body)
        assert.equal(400, (set(o, t, "contact-000001", { skill = "1001", dispositionCode = "1" })))
        assert.equal(202, (set(o, t, "contact-000001", { skill = "77", dispositionCode = "Renewed" })))
        o:stop()
    end)
end)

describe("cxone-mock cxone profile: faults and stats", function()
    local m, tok
    local T = { skill = "1001", dispositionCode = "3" }
    -- no initial values: a contact shows {} until it is dispositioned
    m = Mock.shared { "--rate", "0", "--contacts", "50", "--initial-values", "none" }
    lazy_setup(function()
        tok = token(m)
    end)
    before_each(function()
        m:config { error_rate = 0, drop_after_mutate = 0, late_after_mutate = 0, error_after_mutate = 0,
            latency_ms = 0, rate = 0 }
        m:reset()
    end)

    it("drop_after_mutate applies the disposition, then closes the connection unanswered", function()
        m:config { drop_after_mutate = 1 }
        local st, _, _, err = set(m, tok, "contact-000003", T)
        m:config { drop_after_mutate = 0 }
        assert.equal(0, st)
        assert.is_string(err)
        local s = m:stats()
        assert.equal(1, s.dropped)
        -- applied once server side; libcurl may resend once on a reused connection, but curl's
        -- CLI used here opens a fresh one, so exactly one application.
        assert.equal(1, applied(m, "contact-000003"))
        assert.equal(3, select(2, disposition(m, tok, "contact-000003")).dispositionId)
    end)

    it("late_after_mutate applies it and answers late_seconds later", function()
        m:config { late_after_mutate = 1, late_seconds = 1 }
        local t0 = now()
        local st = set(m, tok, "contact-000004", T)
        local took = now() - t0
        m:config { late_after_mutate = 0 }
        assert.equal(202, st)
        assert.truthy(took >= 0.95, took)
        assert.equal(1, m:stats().late)
        assert.equal(1, applied(m, "contact-000004"))
    end)

    it("error_after_mutate applies it and answers 500; error_rate answers 5xx without applying", function()
        m:config { error_after_mutate = 1 }
        local st, body = set(m, tok, "contact-000005", T)
        assert.equal(500, st)
        assert.matches("error_after_mutate", body.message)
        assert.equal(1, applied(m, "contact-000005"))
        assert.equal(1, m:stats().errors_after_mutate)
        m:config { error_after_mutate = 0, error_rate = 1, error_statuses = { 503 } }
        st = set(m, tok, "contact-000006", T)
        m:config { error_rate = 0 }
        assert.equal(503, st)
        assert.equal(0, applied(m, "contact-000006"))
        assert.equal(1, m:stats().injected_errors)
    end)

    it("the tenant rate limit and one-off 429s apply, with Retry-After, before anything is applied", function()
        m:config { once_429_retry_after = 7 }
        local st, _, h = set(m, tok, "contact-000007", T)
        assert.equal(429, st)
        assert.equal("7", h["retry-after"])
        m:config { rate = 0.01, burst = 1 }
        m:reset() -- refills the bucket
        assert.equal(202, (set(m, tok, "contact-000007", T)))
        st, _, h = disposition(m, tok, "contact-000007")
        assert.equal(429, st)
        assert.truthy(tonumber(h["retry-after"]) >= 1)
        m:config { rate = 0 }
        assert.equal(1, applied(m, "contact-000007"))
        assert.equal(1, m:stats().rate_limited) -- the bucket's 429 (the reset cleared the one-off's count)
    end)

    it("latency_ms delays the answers", function()
        m:config { latency_ms = 400 }
        local t0 = now()
        assert.equal(200, (disposition(m, tok, "contact-000008")))
        local took = now() - t0
        m:config { latency_ms = 0 }
        assert.truthy(took >= 0.38, took)
    end)

    it("discovery_error_rate answers /.well-known/* 503 with Retry-After: 1, and nothing else", function()
        m:config { discovery_error_rate = 1 }
        local st, body, h = call(m, "GET", "/.well-known/openid-configuration")
        local st2, body2 = call(m, "GET", "/.well-known/cxone-configuration?tenantId=" .. TENANT)
        local tst = auth(m)
        local dst = disposition(m, tok, "contact-000001")
        m:config { discovery_error_rate = 0 }
        assert.equal(503, st)
        assert.equal("temporarily_unavailable", body.error)
        assert.matches("discovery_error_rate", body.message)
        assert.equal("1", h["retry-after"])
        assert.equal(503, st2)
        assert.equal("temporarily_unavailable", body2.error)
        assert.equal(200, tst)
        assert.equal(200, dst)
        local s = m:stats()
        assert.equal(2, s.discovery_injected_errors)
        assert.equal(0, s.injected_errors)
        assert.equal(0, s.token_injected_errors)
        assert.equal(200, (call(m, "GET", "/.well-known/openid-configuration")))
        local o = Mock.start { "--discovery-error-rate", "1" }
        assert.equal(503, (call(o, "GET", "/.well-known/openid-configuration")))
        assert.equal(1, o:config {}.discovery_error_rate)
        o:stop()
    end)

    it("counts requests per route, applications per contact and logs set-disposition arrivals", function()
        set(m, tok, "contact-000010", T)
        set(m, tok, "contact-000010", T)
        set(m, tok, "contact-000011", { skill = "1001", dispositionCode = "99" })
        disposition(m, tok, "contact-000010")
        call(m, "GET", API .. "/skills/1001/dispositions", tok)
        call(m, "GET", "/.well-known/openid-configuration")
        call(m, "GET", "/.well-known/cxone-configuration?tenantId=" .. TENANT)
        auth(m)
        local s = m:stats()
        local r = s.requests.by_route
        assert.equal(3, r["POST /incontactapi/contacts/set-disposition"])
        assert.equal(1, r["GET /incontactapi/contacts/disposition"])
        assert.equal(1, r["GET /incontactapi/skills/dispositions"])
        assert.equal(1, r["GET /.well-known/openid-configuration"])
        assert.equal(1, r["GET /.well-known/cxone-configuration"])
        assert.equal(1, r["POST /auth/token"])
        assert.equal(0, r["PUT /api/v2/contacts"])
        assert.equal(2, applied(m, "contact-000010"))
        assert.is_nil(s.set_dispositions["contact-000011"])
        assert.equal(3, #s.set_disposition_request_ms)
        assert.equal(0, #s.put_request_ms)
        assert.equal(5, #s.api_request_ms) -- discovery and token requests are not API requests
        assert.equal(1, #s.token_request_ms) -- they have logs of their own
        assert.equal(1, s.token_requests_logged)
        assert.equal(2, #s.discovery_request_ms)
        assert.is_false(s.token_request_ms_truncated)
        assert.is_false(s.discovery_request_ms_truncated)
        local light = m:stats("mutations=0")
        assert.is_nil(light.set_dispositions)
        assert.is_nil(light.set_disposition_request_ms)
        assert.equal(2, light.total_set_dispositions)
        m:reset()
        s = m:stats()
        assert.equal(0, s.total_set_dispositions)
        assert.same({}, s.set_dispositions)
        assert.same({}, select(2, disposition(m, tok, "contact-000010")))
    end)
end)
