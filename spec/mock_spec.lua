-- Behaviour of the mock CXone server (build/cxone-mock), checked over real HTTP on 127.0.0.1.
-- Run from the repo root: lua5.4 /usr/bin/busted spec/mock_spec.lua
local cjson = require "cjson"
local Mock = require "spec.helpers.mock"

local BODY = '{"outcome":{"category":"Contacted","subcategory":"Information Provided"}}'
local BODY2 = '{"outcome":{"category":"Not Contacted","subcategory":"Voicemail"}}'

local function now()
    -- Wall time with sub-second resolution without extra Lua modules.
    local p = io.popen("date +%s.%N")
    local t = tonumber(p:read("*l"))
    p:close()
    return t
end

local function b64(s)
    local p = io.popen("printf %s " .. Mock.quote(s) .. " | base64 -w0")
    local out = p:read("*a")
    p:close()
    return out
end

local function urlenc(s)
    return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
end

local function json(body)
    local ok, v = pcall(cjson.decode, body)
    assert(ok, "not JSON: " .. tostring(body))
    return v
end

-- PUT helper: returns status, decoded body (or raw), headers.
local function put(m, token, id, body, key, extra)
    local headers = { ["Content-Type"] = "application/json" }
    if token then headers.Authorization = "Bearer " .. token end
    if key then headers["Idempotency-Key"] = key end
    for k, v in pairs(extra or {}) do headers[k] = v end
    local st, b, h, err = m:request("PUT", "/api/v2/contacts/" .. id, { headers = headers, body = body or BODY })
    local ok, v = pcall(cjson.decode, b)
    return st, ok and v or b, h, err
end

local function get(m, token, path)
    local st, b, h = m:request("GET", path, { headers = token and { Authorization = "Bearer " .. token } or {} })
    local ok, v = pcall(cjson.decode, b)
    return st, ok and v or b, h
end

local function token_request(m, opts)
    opts = opts or {}
    local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
    if opts.basic then headers.Authorization = "Basic " .. opts.basic end
    local st, b, h = m:request(opts.method or "POST", "/oauth2/token", { headers = headers, body = opts.body or "" })
    local ok, v = pcall(cjson.decode, b)
    return st, ok and v or b, h
end

describe("cxone-mock command line", function()
    it("--help prints usage with every flag and exits 0", function()
        local rc, out = Mock.run { "--help" }
        assert.equal(0, rc)
        assert.matches("Usage: cxone%-mock", out)
        for _, flag in ipairs { "--port", "--contacts", "--contacts-file", "--any-contact", "--outcomes",
            "--config", "--max-body", "--quiet", "--error-rate", "--error-statuses", "--latency-ms",
            "--latency-jitter-ms", "--drop-after-mutate", "--late-after-mutate", "--late-seconds",
            "--once-429-retry-after", "--rate", "--burst", "--expires-in", "--scope", "--client-id",
            "--client-secret", "--retention", "--retry-after-date", "--token-error-rate" } do
            assert.truthy(out:find(flag, 1, true), "usage lacks " .. flag)
        end
    end)

    it("rejects bad flags with exit 2 and a message naming the flag", function()
        local cases = {
            { { "--bogus" }, "%-%-bogus" },
            { { "--error-rate", "1.5" }, "%-%-error%-rate" },
            { { "--port", "http" }, "%-%-port" },
            { { "--error-statuses", "500,abc" }, "%-%-error%-statuses" },
            { { "--late-seconds" }, "%-%-late%-seconds needs a value" },
            { { "--any-contact=yes" }, "%-%-any%-contact" },
        }
        for _, c in ipairs(cases) do
            local rc, out, err = Mock.run(c[1])
            assert.equal(2, rc, table.concat(c[1], " "))
            assert.equal("", out)
            assert.matches(c[2], err)
        end
    end)

    it("prints only the bound port on stdout and exits 0 on SIGTERM", function()
        local m = Mock.start { "--contacts", "3" }
        assert.is_number(m.port)
        assert.truthy(m.port > 0)
        assert.equal(m.port .. "\n", m:stdout())
        assert.equal(200, (get(m, m:token(), "/api/v2/contacts/contact-000003")))
        assert.equal(0, m:stop())
        assert.matches("SIGTERM", m:stderr() or "")
    end)

    it("fails to start with a clear message on a bad --outcomes or --config file", function()
        local f = os.tmpname()
        local fh = io.open(f, "w")
        fh:write('{"categories":[{"name":"X","subcategories":[]}]}')
        fh:close()
        local ok, err = pcall(Mock.start, { "--outcomes", f })
        assert.is_false(ok)
        assert.matches("subcategories", err)
        fh = io.open(f, "w")
        fh:write('{"error_rate": 0.1, "colour": "red"}')
        fh:close()
        local rc, _, stderr = Mock.run { "--config", f }
        assert.equal(2, rc)
        assert.matches("colour", stderr)
        os.remove(f)
    end)

    it("--config FILE and later flags set the run-time keys", function()
        local f = os.tmpname()
        local fh = io.open(f, "w")
        fh:write('{"latency_ms": 7, "error_statuses": [503], "scope": "contact:read"}')
        fh:close()
        local m = Mock.start { "--config", f, "--scope", "contact:read contact:update", "--retry-after-date" }
        local c = m:config {}
        m:stop()
        os.remove(f)
        assert.equal(7, c.latency_ms)
        assert.same({ 503 }, c.error_statuses)
        assert.equal("contact:read contact:update", c.scope)
        assert.is_true(c.retry_after_date)
    end)

    it("--verbose logs each request to stderr, never the token", function()
        local m = Mock.start { "--verbose" }
        local tok = m:token()
        get(m, tok, "/api/v2/contacts/contact-000001")
        local err = m:stderr()
        m:stop()
        assert.matches("GET /api/v2/contacts/contact%-000001 %-> 200", err)
        assert.is_nil(err:find(tok, 1, true))
        assert.is_nil(err:find("demo-secret", 1, true))
    end)
end)

describe("cxone-mock token endpoint", function()
    local m = Mock.shared { "--client-id", "my:client id", "--client-secret", "p@ss w+rd/ü" }

    local function basic(id, secret) return b64(urlenc(id) .. ":" .. urlenc(secret)) end

    it("issues a token to HTTP Basic credentials (form-urlencoded before base64)", function()
        local st, body, h = token_request(m, { basic = basic("my:client id", "p@ss w+rd/ü"),
            body = "grant_type=client_credentials" })
        assert.equal(200, st)
        assert.equal("bearer", body.token_type)
        assert.equal(3600, body.expires_in)
        assert.equal("contact:read contact:update", body.scope)
        assert.is_string(body.access_token)
        assert.truthy(#body.access_token >= 32)
        assert.equal("no-store", h["cache-control"])
    end)

    it("issues a token to form-field credentials ('+' is a space)", function()
        local st, body = token_request(m, { body = "grant_type=client_credentials&client_id=my%3Aclient+id" ..
            "&client_secret=" .. urlenc("p@ss w+rd/ü") })
        assert.equal(200, st)
        assert.is_string(body.access_token)
    end)

    it("gives random opaque tokens", function()
        local a = m:token { id = "my:client id", secret = "p@ss w+rd/ü" }
        local b = m:token { id = "my:client id", secret = "p@ss w+rd/ü" }
        assert.are_not.equal(a, b)
        assert.matches("^[%w_%-]+$", a)
    end)

    it("answers 401 invalid_client to wrong or missing credentials", function()
        local st, body, h = token_request(m, { basic = basic("my:client id", "nope"),
            body = "grant_type=client_credentials" })
        assert.equal(401, st)
        assert.equal("invalid_client", body.error)
        assert.matches("^Basic", h["www-authenticate"])
        st, body = token_request(m, { body = "grant_type=client_credentials&client_id=x&client_secret=y" })
        assert.equal(401, st)
        assert.equal("invalid_client", body.error)
        st, body = token_request(m, { body = "grant_type=client_credentials" })
        assert.equal(401, st)
        assert.equal("invalid_client", body.error)
        st = token_request(m, { basic = "!!!not-base64", body = "grant_type=client_credentials" })
        assert.equal(401, st)
    end)

    it("answers 400 unsupported_grant_type to other grants and invalid_request without one", function()
        local st, body = token_request(m, { basic = basic("my:client id", "p@ss w+rd/ü"), body = "grant_type=password" })
        assert.equal(400, st)
        assert.equal("unsupported_grant_type", body.error)
        st, body = token_request(m, { basic = basic("my:client id", "p@ss w+rd/ü"), body = "" })
        assert.equal(400, st)
        assert.equal("invalid_request", body.error)
    end)

    it("refuses two authentication methods and repeated parameters", function()
        local st, body = token_request(m, { basic = basic("my:client id", "p@ss w+rd/ü"),
            body = "grant_type=client_credentials&client_secret=x" })
        assert.equal(400, st)
        assert.equal("invalid_request", body.error)
        st, body = token_request(m, { basic = basic("my:client id", "p@ss w+rd/ü"),
            body = "grant_type=client_credentials&grant_type=client_credentials" })
        assert.equal(400, st)
        assert.matches("grant_type", body.message)
    end)

    it("answers 405 with Allow: POST to other methods", function()
        local st, _, h = token_request(m, { method = "GET" })
        assert.equal(405, st)
        assert.equal("POST", h["allow"])
    end)

    it("answers 503 to a token_error_rate fraction of requests", function()
        m:config { token_error_rate = 1 }
        local st, body = token_request(m, { basic = basic("my:client id", "p@ss w+rd/ü"),
            body = "grant_type=client_credentials" })
        m:config { token_error_rate = 0 }
        assert.equal(503, st)
        assert.equal("temporarily_unavailable", body.error)
        assert.equal(1, m:stats("mutations=0").token_injected_errors)
    end)

    it("accepts new credentials set at run time; the secret is never echoed", function()
        local c = m:config { client_id = "other", client_secret = "s3cret" }
        assert.equal("other", c.client_id)
        assert.is_nil(c.client_secret)
        assert.equal(401, (token_request(m, { basic = basic("my:client id", "p@ss w+rd/ü"),
            body = "grant_type=client_credentials" })))
        assert.equal(200, (token_request(m, { basic = basic("other", "s3cret"), body = "grant_type=client_credentials" })))
        m:config { client_id = "my:client id", client_secret = "p@ss w+rd/ü" }
    end)
end)

describe("cxone-mock bearer tokens", function()
    it("refuse missing, unknown, expired and revoked tokens with 401", function()
        local m = Mock.start { "--expires-in", "1" }
        local st, _, h = get(m, nil, "/api/v2/contacts/contact-000001")
        assert.equal(401, st)
        assert.matches("^Bearer", h["www-authenticate"])
        local body
        st, body = get(m, "not-a-token", "/api/v2/contacts/contact-000001")
        assert.equal(401, st)
        assert.matches("unknown", body.message)

        local tok = m:token()
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-000001")))
        Mock.sleep(1.2)
        st, body = get(m, tok, "/api/v2/contacts/contact-000001")
        assert.equal(401, st)
        assert.equal("invalid_token", body.error)
        assert.matches("expired", body.message)

        m:config { expires_in = 3600 }
        local t1 = m:token()
        assert.equal(200, (get(m, t1, "/api/v2/contacts/contact-000001")))
        m:config { revoke_tokens = true }
        st, body = put(m, t1, "contact-000001")
        assert.equal(401, st)
        assert.matches("revoked", body.message)
        local t2 = m:token()
        assert.equal(200, (put(m, t2, "contact-000001")))
        m:stop()
    end)

    it("refuse a PUT without contact:update with 403 naming the scope; GET still works", function()
        local m = Mock.start { "--scope", "contact:read" }
        local tok = m:token()
        local st, body, h = put(m, tok, "contact-000001", nil, "k-scope")
        assert.equal(403, st)
        assert.equal("insufficient_scope", body.error)
        assert.matches("contact:update", body.message)
        assert.matches("contact:update", h["www-authenticate"])
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-000001")))
        assert.equal(0, m:stats().total_mutations)
        -- The refused key was not stored: once the scope is granted the same key mutates.
        m:config { scope = "contact:read contact:update" }
        assert.equal(200, (put(m, m:token(), "contact-000001", nil, "k-scope")))
        m:stop()
    end)
end)

describe("cxone-mock contacts API", function()
    local m, tok
    -- no initial values: a contact's outcome is null until it is written
    m = Mock.shared { "--rate", "0", "--contacts", "1000", "--initial-values", "none" }
    lazy_setup(function()
        tok = m:token()
    end)
    before_each(function() m:reset() end)

    it("GET returns a known contact and 404 for an unknown one", function()
        local st, body = get(m, tok, "/api/v2/contacts/contact-000001")
        assert.equal(200, st)
        assert.equal("contact-000001", body.id)
        assert.equal(cjson.null, body.outcome)
        assert.equal(404, (get(m, tok, "/api/v2/contacts/contact-001001")))
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-001000")))
    end)

    it("PUT applies the outcome and returns the contact", function()
        local st, body, h = put(m, tok, "contact-000042", BODY2, "k-put-1")
        assert.equal(200, st)
        assert.matches("application/json", h["content-type"])
        assert.equal("contact-000042", body.id)
        assert.equal("Not Contacted", body.outcome.category)
        assert.equal("Voicemail", body.outcome.subcategory)
        assert.is_string(body.outcome.description)
        assert.matches("^%d%d%d%d%-%d%d%-%d%dT%d%d:%d%d:%d%d%.%d%d%dZ$", body.updatedDate)
        local _, after = get(m, tok, "/api/v2/contacts/contact-000042")
        assert.same(body, after)
        local s = m:stats()
        assert.same({ count = 1, category = "Not Contacted", subcategory = "Voicemail" }, s.mutations["contact-000042"])
    end)

    it("PUT without Idempotency-Key mutates every time", function()
        assert.equal(200, (put(m, tok, "contact-000007")))
        assert.equal(200, (put(m, tok, "contact-000007")))
        local s = m:stats()
        assert.equal(2, s.mutations["contact-000007"].count)
        assert.equal(2, s.max_mutations_per_contact)
    end)

    it("answers 404 to a PUT on an unknown contact", function()
        local st, body = put(m, tok, "contact-999999")
        assert.equal(404, st)
        assert.equal("not_found", body.error)
        assert.is_string(body.message)
    end)

    it("answers 400 with a message to outcomes outside the hierarchy, bad JSON and missing fields", function()
        local cases = {
            { '{"outcome":{"category":"Contacted","subcategory":"Voicemail"}}', "unknown outcome" },
            { '{"outcome":{"category":"Nope","subcategory":"Busy"}}', "unknown outcome" },
            { '{"outcome":{"category":"Contacted"', "JSON" },
            { 'not json', "JSON" },
            { '{"outcome":{"category":"Contacted"}}', "outcome.subcategory" },
            { '{"outcome":{"subcategory":"Busy"}}', "outcome.category" },
            { '{"outcome":{"category":1,"subcategory":"Busy"}}', "outcome.category" },
            { '{"result":{}}', "outcome" },
            { '[1,2]', "object" },
            { '', "JSON" },
        }
        for _, c in ipairs(cases) do
            local st, body = put(m, tok, "contact-000001", c[1])
            assert.equal(400, st, c[1])
            assert.is_string(body.error)
            assert.matches(c[2], body.message, 1, true)
        end
        assert.equal(0, m:stats().total_mutations)
    end)

    it("answers 413 to an oversized body and keeps serving", function()
        local big = '{"outcome":{"category":"Contacted","subcategory":"' .. string.rep("x", 70000) .. '"}}'
        local st, body = put(m, tok, "contact-000001", big)
        assert.equal(413, st)
        assert.equal("payload_too_large", body.error)
        assert.equal(200, (put(m, tok, "contact-000001")))
    end)

    it("answers 405 with an Allow header to wrong methods and 404 to unknown routes", function()
        local st, _, h = m:request("DELETE", "/api/v2/contacts/contact-000001")
        assert.equal(405, st)
        assert.equal("GET, HEAD, PUT", h["allow"])
        st, _, h = m:request("POST", "/api/v2/contact/outcomes")
        assert.equal(405, st)
        assert.equal("GET, HEAD", h["allow"])
        for _, p in ipairs { "/", "/api/v2/contacts", "/api/v2/contacts/", "/api/v2/contacts/a/b",
            "/api/v3/contacts/contact-000001", "/_mock/nope" } do
            local s, body = get(m, tok, p)
            assert.equal(404, s, p)
            assert.equal("not_found", body.error)
        end
    end)

    it("treats %2F and '..' in ids as opaque ids, never as paths", function()
        local st, body = get(m, tok, "/api/v2/contacts/contact-000001%2F..%2Fcontact-000002")
        assert.equal(404, st)
        assert.matches("contact%-000001/%.%./contact%-000002", body.message)
        st = get(m, tok, "/api/v2/contacts/..")
        assert.equal(404, st)
        st = get(m, tok, "/api/v2/contacts/%2E%2E")
        assert.equal(404, st)
        st = get(m, tok, "/api/v2/contacts/../contacts/contact-000001")
        assert.equal(404, st)
        -- percent-encoded ordinary characters still name the contact
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact%2D000001")))
    end)

    it("answers 400 to ids with control characters or malformed escapes", function()
        for _, id in ipairs { "a%0Ab", "a%00b", "%01", "a%7Fb", "bad%zz", "bad%4", "%FF%FE" } do
            local st, body = get(m, tok, "/api/v2/contacts/" .. id)
            assert.equal(400, st, id)
            assert.equal("invalid_contact_id", body.error)
            st = put(m, tok, id)
            assert.equal(400, st, id)
        end
    end)

    it("serves the outcome hierarchy", function()
        local st, body = get(m, tok, "/api/v2/contact/outcomes")
        assert.equal(200, st)
        local found = {}
        for _, c in ipairs(body.categories) do
            for _, s in ipairs(c.subcategories) do found[c.name .. "/" .. s.name] = true end
        end
        for _, want in ipairs { "Contacted/Information Provided", "Contacted/Callback Requested",
            "Not Contacted/No Answer", "Not Contacted/Busy", "Not Contacted/Voicemail" } do
            assert.is_true(found[want], want)
        end
        assert.equal(401, (get(m, nil, "/api/v2/contact/outcomes")))
    end)
end)

describe("cxone-mock contact sets", function()
    it("--any-contact makes every id exist, including ones with '/' and '..'", function()
        local m = Mock.start { "--any-contact" }
        local tok = m:token()
        local st, body = put(m, tok, "a%2Fb")
        assert.equal(200, st)
        assert.equal("a/b", body.id)
        st, body = get(m, tok, "/api/v2/contacts/..")
        assert.equal(200, st)
        assert.equal("..", body.id)
        st, body = put(m, tok, "quote%22and%5Cslash")
        assert.equal(200, st)
        assert.equal('quote"and\\slash', body.id)
        assert.equal(1, m:stats().mutations["a/b"].count)
        m:stop()
    end)

    it("--contacts-file defines the ids; --outcomes replaces the hierarchy", function()
        local ids, outcomes = os.tmpname(), os.tmpname()
        local f = io.open(ids, "w")
        f:write("alpha\r\n\nbeta gamma\n")
        f:close()
        f = io.open(outcomes, "w")
        f:write('{"categories":[{"name":"Reached","subcategories":[{"name":"Yes","description":"ok"}]}]}')
        f:close()
        local m = Mock.start { "--contacts-file", ids, "--outcomes", outcomes }
        local tok = m:token()
        assert.equal(200, (put(m, tok, "alpha", '{"outcome":{"category":"Reached","subcategory":"Yes"}}')))
        assert.equal(200, (get(m, tok, "/api/v2/contacts/beta%20gamma")))
        assert.equal(404, (get(m, tok, "/api/v2/contacts/contact-000001")))
        assert.equal(400, (put(m, tok, "alpha", BODY)))
        local _, body = get(m, tok, "/api/v2/contact/outcomes")
        assert.equal("Reached", body.categories[1].name)
        m:stop()
        os.remove(ids)
        os.remove(outcomes)
    end)

    it("--contacts N pads to 6 digits and widens past 999999", function()
        local m = Mock.start { "--contacts", "1000001" }
        local tok = m:token()
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-000001")))
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-999999")))
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-1000001")))
        assert.equal(404, (get(m, tok, "/api/v2/contacts/contact-1000002")))
        m:stop()
    end)
end)

describe("cxone-mock idempotency", function()
    local m, tok
    m = Mock.shared { "--rate", "0" }
    lazy_setup(function()
        tok = m:token()
    end)
    before_each(function()
        m:config { error_rate = 0, late_after_mutate = 0, drop_after_mutate = 0, latency_ms = 0, retention = 86400 }
        m:reset()
    end)

    it("replays the stored response with Idempotent-Replayed and does not mutate again", function()
        local st, first, h = put(m, tok, "contact-000010", BODY, "key-1")
        assert.equal(200, st)
        assert.is_nil(h["idempotent-replayed"])
        local st2, again, h2 = put(m, tok, "contact-000010", BODY, "key-1")
        assert.equal(200, st2)
        assert.equal("true", h2["idempotent-replayed"])
        assert.same(first, again)
        local s = m:stats()
        assert.equal(1, s.mutations["contact-000010"].count)
        assert.equal(1, s.replays)
    end)

    it("answers 422 when a key comes back with a different request", function()
        assert.equal(200, (put(m, tok, "contact-000011", BODY, "key-2")))
        local st, body = put(m, tok, "contact-000011", BODY2, "key-2")
        assert.equal(422, st)
        assert.is_string(body.message)
        assert.equal(422, (put(m, tok, "contact-000012", BODY, "key-2")))
        local s = m:stats()
        assert.equal(1, s.total_mutations)
        assert.equal(2, s.mismatch_422)
    end)

    it("answers 409 with Retry-After: 1 while the first request is still in progress", function()
        m:config { late_after_mutate = 1, late_seconds = 1 }
        local t0 = now()
        local slow = m:spawn("PUT", "/api/v2/contacts/contact-000013", {
            headers = { Authorization = "Bearer " .. tok, ["Idempotency-Key"] = "key-3" }, body = BODY })
        Mock.sleep(0.3)
        local st, body, h = put(m, tok, "contact-000013", BODY, "key-3")
        assert.equal(409, st)
        assert.equal("1", h["retry-after"])
        assert.equal("idempotency_conflict", body.error)
        assert.matches("still being processed", body.message)
        local sst, sbody = slow:wait()
        assert.equal(200, sst)
        assert.truthy(now() - t0 >= 0.95)
        assert.equal("contact-000013", json(sbody).id)
        m:config { late_after_mutate = 0 }
        local st3, _, h3 = put(m, tok, "contact-000013", BODY, "key-3")
        assert.equal(200, st3)
        assert.equal("true", h3["idempotent-replayed"])
        local s = m:stats()
        assert.equal(1, s.mutations["contact-000013"].count)
        assert.equal(1, s.conflicts_409)
        assert.equal(1, s.late)
    end)

    it("does not store injected faults: a retry after an injected 503 mutates once", function()
        m:config { error_rate = 1, error_statuses = { 503 } }
        local st, _, h = put(m, tok, "contact-000014", BODY, "key-4")
        assert.equal(503, st)
        assert.equal("1", h["retry-after"])
        m:config { error_rate = 0 }
        local st2, _, h2 = put(m, tok, "contact-000014", BODY, "key-4")
        assert.equal(200, st2)
        assert.is_nil(h2["idempotent-replayed"])
        assert.equal(1, m:stats().mutations["contact-000014"].count)
    end)

    it("stores 4xx decisions: a replayed 404 carries the header too", function()
        assert.equal(404, (put(m, tok, "nobody", BODY, "key-5")))
        local st, _, h = put(m, tok, "nobody", BODY, "key-5")
        assert.equal(404, st)
        assert.equal("true", h["idempotent-replayed"])
    end)

    it("forgets keys after the retention time", function()
        m:config { retention = 1 }
        assert.equal(200, (put(m, tok, "contact-000015", BODY, "key-6")))
        Mock.sleep(1.3)
        local st, _, h = put(m, tok, "contact-000015", BODY, "key-6")
        assert.equal(200, st)
        assert.is_nil(h["idempotent-replayed"])
        assert.equal(2, m:stats().mutations["contact-000015"].count)
    end)

    it("rejects empty or over-long keys with 400", function()
        assert.equal(400, (put(m, tok, "contact-000016", BODY, "")))
        assert.equal(400, (put(m, tok, "contact-000016", BODY, string.rep("k", 256))))
        assert.equal(200, (put(m, tok, "contact-000016", BODY, string.rep("k", 255))))
    end)
end)

describe("cxone-mock tenant rate limit", function()
    it("answers 429 with delta-seconds Retry-After above rate/burst, not on tokens or /_mock/", function()
        -- one token per 5 s, so a slow machine cannot refill the bucket during the test
        local m = Mock.start { "--rate", "0.2", "--burst", "2" }
        local tok = m:token()
        local statuses, retry = {}, nil
        for i = 1, 4 do
            local st, _, h = get(m, tok, "/api/v2/contacts/contact-00000" .. i)
            statuses[i] = st
            if st == 429 then retry = h["retry-after"] end
        end
        assert.same({ 200, 200, 429, 429 }, statuses)
        assert.matches("^%d+$", retry)
        assert.truthy(tonumber(retry) >= 1 and tonumber(retry) <= 5, retry)
        m:token()
        m:token()
        m:token()
        local s = m:stats("mutations=0")
        assert.equal(2, s.rate_limited)
        assert.equal(4, s.tokens_issued)
        -- 2 GETs + 4 token requests answered 200; the admin call is not counted
        assert.equal(6, s.requests.by_status["200"])
        -- a faster rate refills the bucket
        m:config { rate = 50 }
        Mock.sleep(0.1)
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-000005")))
        m:stop()
    end)

    it("takes a lower limit set mid-run at once: the bucket is cut to the new burst", function()
        local m = Mock.start { "--rate", "1000", "--burst", "100" }
        local tok = m:token()
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-000001")))
        m:config { rate = 0.2, burst = 2 } -- one token per 5 s: nothing refills during the test
        local statuses = {}
        for i = 1, 4 do statuses[i] = (get(m, tok, "/api/v2/contacts/contact-00000" .. i)) end
        assert.same({ 200, 200, 429, 429 }, statuses)
        m:stop()
    end)

    it("uses an HTTP-date with --retry-after-date", function()
        local m = Mock.start { "--rate", "0.2", "--burst", "1", "--retry-after-date" }
        local tok = m:token()
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-000001")))
        local st, body, h = get(m, tok, "/api/v2/contacts/contact-000001")
        assert.equal(429, st)
        assert.equal("rate_limited", body.error)
        assert.matches("^%a%a%a, %d%d %a%a%a %d%d%d%d %d%d:%d%d:%d%d GMT$", h["retry-after"])
        m:stop()
    end)

    it("is off with --rate 0", function()
        local m = Mock.start { "--rate", "0", "--burst", "1" }
        local tok = m:token()
        for i = 1, 20 do
            assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-0000" .. string.format("%02d", i))))
        end
        assert.equal(0, m:stats("mutations=0").rate_limited)
        m:stop()
    end)
end)

describe("cxone-mock faults", function()
    local m, tok
    m = Mock.shared { "--rate", "0" }
    lazy_setup(function()
        tok = m:token()
    end)
    before_each(function()
        m:config { error_rate = 0, late_after_mutate = 0, drop_after_mutate = 0, latency_ms = 0,
            latency_jitter_ms = 0, error_statuses = { 500, 502, 503 } }
        m:reset()
    end)

    it("error_rate answers /api/ requests with a status from error_statuses", function()
        m:config { error_rate = 1, error_statuses = { 502 } }
        local st, body = get(m, tok, "/api/v2/contacts/contact-000001")
        assert.equal(502, st)
        assert.equal("injected_fault", body.error)
        assert.equal(502, (put(m, tok, "contact-000001", BODY, "f-1")))
        assert.equal(200, (m:request("GET", "/_mock/stats")))
        local s = m:stats("mutations=0")
        assert.equal(2, s.injected_errors)
        assert.equal(0, s.total_mutations)
    end)

    it("error_rate 0.5 hits roughly half of the requests", function()
        m:config { error_rate = 0.5, error_statuses = { 500, 503 } }
        local bad = 0
        for _ = 1, 40 do
            local st = get(m, tok, "/api/v2/contacts/contact-000001")
            assert.truthy(st == 200 or st == 500 or st == 503, tostring(st))
            if st ~= 200 then bad = bad + 1 end
        end
        assert.truthy(bad >= 6 and bad <= 34, "injected " .. bad .. " of 40")
    end)

    it("latency delays answers without blocking other connections", function()
        m:config { latency_ms = 500 }
        local t0 = now()
        local hs = {}
        for i = 1, 5 do
            hs[i] = m:spawn("GET", "/api/v2/contacts/contact-00000" .. i,
                { headers = { Authorization = "Bearer " .. tok } })
        end
        for i = 1, 5 do assert.equal(200, (hs[i]:wait())) end
        local took = now() - t0
        assert.truthy(took >= 0.5, "took " .. took)
        -- one after the other they would need 2.5 s
        assert.truthy(took < 2.0, "requests were serialised: " .. took)
        assert.truthy(m:stats("mutations=0").peak_concurrency >= 3)
    end)

    it("latency_jitter_ms adds at most the jitter", function()
        m:config { latency_ms = 0, latency_jitter_ms = 150 }
        local t0 = now()
        for _ = 1, 3 do assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-000001"))) end
        assert.truthy(now() - t0 < 0.45 + 0.5)
    end)

    it("drop_after_mutate applies the mutation, drops the connection; the retry replays", function()
        m:config { drop_after_mutate = 1 }
        local st, _, _, err = put(m, tok, "contact-000020", BODY, "d-1")
        assert.equal(0, st)
        assert.is_string(err)
        m:config { drop_after_mutate = 0 }
        local st2, _, h = put(m, tok, "contact-000020", BODY, "d-1")
        assert.equal(200, st2)
        assert.equal("true", h["idempotent-replayed"])
        local s = m:stats()
        assert.equal(1, s.mutations["contact-000020"].count)
        assert.equal(1, s.dropped)
    end)

    it("late_after_mutate answers after late_seconds, only on fresh mutations", function()
        assert.equal(200, (put(m, tok, "contact-000021", BODY, "l-1")))
        m:config { late_after_mutate = 1, late_seconds = 0.6 }
        local t0 = now()
        local st, _, h = put(m, tok, "contact-000021", BODY, "l-1") -- replay: not late
        assert.equal(200, st)
        assert.equal("true", h["idempotent-replayed"])
        assert.truthy(now() - t0 < 0.5)
        t0 = now()
        assert.equal(200, (put(m, tok, "contact-000022", BODY, "l-2")))
        assert.truthy(now() - t0 >= 0.55)
        assert.equal(1, m:stats("mutations=0").late)
    end)

    it("once_429_retry_after answers the next /api/ request 429 once", function()
        local c = m:config { once_429_retry_after = 45 }
        assert.equal(45, c.once_429_retry_after)
        local st, _, h = get(m, tok, "/api/v2/contacts/contact-000001")
        assert.equal(429, st)
        assert.equal("45", h["retry-after"])
        assert.equal(200, (get(m, tok, "/api/v2/contacts/contact-000001")))
        assert.equal(0, m:config({}).once_429_retry_after)
    end)

    it("POST /_mock/config rejects unknown keys and bad values by name and changes nothing", function()
        local st, body = m:request("POST", "/_mock/config", { body = '{"error_rate":0.2,"colour":"red"}' })
        assert.equal(400, st)
        assert.matches("colour", json(body).message)
        st, body = m:request("POST", "/_mock/config", { body = '{"latency_ms":-1}' })
        assert.equal(400, st)
        assert.matches("latency_ms", json(body).message)
        st, body = m:request("POST", "/_mock/config", { body = '{"error_statuses":[]}' })
        assert.equal(400, st)
        assert.matches("error_statuses", json(body).message)
        st = m:request("POST", "/_mock/config", { body = '{"error_rate":' })
        assert.equal(400, st)
        assert.equal(0, m:config({}).error_rate)
    end)

    it("GET /_mock/config returns the full configuration", function()
        local st, body = m:request("GET", "/_mock/config")
        assert.equal(200, st)
        local c = json(body)
        for _, k in ipairs { "error_rate", "error_statuses", "latency_ms", "latency_jitter_ms", "drop_after_mutate",
            "late_after_mutate", "late_seconds", "once_429_retry_after", "rate", "burst", "expires_in", "scope",
            "client_id", "retry_after_date", "retention", "token_error_rate" } do
            assert.is_not_nil(c[k], k)
        end
        assert.is_nil(c.client_secret)
    end)
end)

describe("cxone-mock stats and reset", function()
    local m, tok
    m = Mock.shared { "--rate", "0" }
    lazy_setup(function()
        tok = m:token()
    end)

    it("reports every documented field", function()
        m:reset()
        put(m, tok, "contact-000001", BODY, "s-1")
        put(m, tok, "contact-000001", BODY, "s-1")
        put(m, tok, "contact-000002", BODY2)
        get(m, tok, "/api/v2/contacts/contact-000001")
        get(m, tok, "/api/v2/contact/outcomes")
        m:request("GET", "/nowhere")
        local s = m:stats()
        assert.same({ count = 1, category = "Contacted", subcategory = "Information Provided" },
            s.mutations["contact-000001"])
        assert.equal(2, s.total_mutations)
        assert.equal(2, s.distinct_mutated)
        assert.equal(1, s.max_mutations_per_contact)
        assert.equal(6, s.requests.total)
        assert.equal(5, s.requests.by_status["200"])
        assert.equal(1, s.requests.by_status["404"])
        assert.equal(3, s.requests.by_route["PUT /api/v2/contacts"])
        assert.equal(1, s.requests.by_route["GET /api/v2/contacts"])
        assert.equal(1, s.requests.by_route["GET /api/v2/contact/outcomes"])
        assert.equal(0, s.requests.by_route["POST /oauth2/token"])
        assert.equal(1, s.replays)
        for _, k in ipairs { "conflicts_409", "mismatch_422", "rate_limited", "injected_errors", "dropped",
            "late", "tokens_issued", "peak_concurrency", "max_api_requests_in_1s" } do
            assert.is_number(s[k], k)
        end
        assert.equal(5, #s.api_request_ms)
        assert.equal(3, #s.put_request_ms)
        for i = 2, #s.api_request_ms do assert.truthy(s.api_request_ms[i] >= s.api_request_ms[i - 1]) end
        assert.is_false(s.api_request_ms_truncated)
        local best, lo = 0, 1
        for hi = 1, #s.api_request_ms do
            while s.api_request_ms[hi] - s.api_request_ms[lo] >= 1000 do lo = lo + 1 end
            if hi - lo + 1 > best then best = hi - lo + 1 end
        end
        assert.equal(best, s.max_api_requests_in_1s)
        assert.equal(1, s.requests.by_route["other"])
        assert.equal(0, s.discovery_injected_errors)
        assert.same({}, s.token_request_ms) -- the token was taken before the reset
        assert.same({}, s.discovery_request_ms)
        assert.is_false(s.token_request_ms_truncated)
        assert.is_nil(s.max_api_requests_in_window) -- only with ?window_ms=
    end)

    it("logs token requests apart and gives the busiest window of ?window_ms=W", function()
        m:reset()
        m:token()
        m:token()
        get(m, tok, "/api/v2/contacts/contact-000001")
        Mock.sleep(1.2)
        for i = 1, 3 do get(m, tok, "/api/v2/contacts/contact-00000" .. i) end
        m:request("GET", "/oauth2/token") -- a 405 reached the token endpoint too
        local s = m:stats("window_ms=1000")
        assert.equal(3, #s.token_request_ms)
        assert.equal(3, s.token_requests_logged)
        assert.equal(4, #s.api_request_ms)
        assert.equal(1000, s.window_ms)
        -- most entries whose ms instants lie within w - 1 of each other
        local function busiest(t, w)
            local best, lo = 0, 1
            for hi = 1, #t do
                while t[hi] - t[lo] >= w do lo = lo + 1 end
                if hi - lo + 1 > best then best = hi - lo + 1 end
            end
            return best
        end
        -- the server counts on microsecond instants, the arrays are whole milliseconds
        local a = s.api_request_ms
        assert.truthy(s.max_api_requests_in_window >= busiest(a, 999), cjson.encode(a))
        assert.truthy(s.max_api_requests_in_window <= busiest(a, 1001), cjson.encode(a))
        assert.truthy(s.max_api_requests_in_window <= 3) -- the 1.2 s pause splits the groups
        assert.equal(s.max_api_requests_in_1s, s.max_api_requests_in_window)
        local wide = m:stats("mutations=0&window_ms=60000")
        assert.equal(4, wide.max_api_requests_in_window)
        assert.equal(3, wide.max_token_requests_in_window)
        assert.is_nil(wide.token_request_ms)
        for _, q in ipairs { "window_ms=0", "window_ms=abc", "window_ms=86400001", "window_ms=-5", "window_ms=",
            "window_ms=5x" } do
            local st, body = m:request("GET", "/_mock/stats?" .. q)
            assert.equal(400, st, q)
            assert.matches("window_ms", body)
        end
    end)

    it("?mutations=0 leaves out the per-contact map and the arrays", function()
        local s = m:stats("mutations=0")
        assert.is_nil(s.mutations)
        assert.is_nil(s.api_request_ms)
        assert.is_nil(s.put_request_ms)
        assert.is_nil(s.token_request_ms)
        assert.is_nil(s.discovery_request_ms)
        assert.is_number(s.total_mutations)
        assert.is_number(s.max_api_requests_in_1s)
    end)

    it("reset clears mutations, stats, keys and one-offs but keeps config and tokens", function()
        m:config { latency_ms = 1, once_429_retry_after = 30 }
        m:reset()
        local c = m:config {}
        assert.equal(1, c.latency_ms)
        assert.equal(0, c.once_429_retry_after)
        local s = m:stats()
        assert.equal(0, s.total_mutations)
        assert.same({}, s.mutations)
        assert.equal(0, s.requests.total)
        assert.equal(0, #s.api_request_ms)
        -- the old token still works and the old key is forgotten
        local st, _, h = put(m, tok, "contact-000001", BODY, "s-1")
        assert.equal(200, st)
        assert.is_nil(h["idempotent-replayed"])
        m:config { latency_ms = 0 }
    end)

    it("answers 405 to wrong methods on admin routes", function()
        local st, _, h = m:request("GET", "/_mock/reset")
        assert.equal(405, st)
        assert.equal("POST", h["allow"])
        st = m:request("PUT", "/_mock/stats")
        assert.equal(405, st)
    end)
end)
