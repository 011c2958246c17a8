-- The standard tutorial task built in C (src/profile/plain_task.h): it must send byte for byte what the
-- facade's general path would send (URL, body, Idempotency-Key), and decline — so that the one
-- validator words the refusal — everything that is not plainly valid.
local bulk = require "cxone.bulk"
local core = require "cxone.bulk.core"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local U = require "spec.helpers.util"
local cjson = require "cjson"

local BASE = "http://127.0.0.1:9"
local PREFIX = BASE .. "/api/v2/contacts/"
local OPTS = { base_url = BASE, client_id = "c", client_secret = "s", batch_id = "plain-spec" }

local function general(id, category, subcategory)
    return bulk.describe({ contact_id = id, category = category, subcategory = subcategory }, OPTS)
end

local function same_as_general(id, category, subcategory)
    local url, body, key = core.plain_request(PREFIX, OPTS.batch_id, id, category, subcategory)
    local want = assert(general(id, category, subcategory))
    local shown = ("%q %q %q"):format(id, category, subcategory)
    assert.are.equal(want.url, url, shown)
    assert.are.equal(want.body, body, shown)
    assert.are.equal(want.idempotency_key, key, shown)
end

describe("a plain task built in C", function()
    it("has the facade's URL for an id holding any printable ASCII character", function()
        for c = 0x20, 0x7e do
            same_as_general("a" .. string.char(c) .. "b", "Contacted", "Information Provided")
        end
    end)

    it("has the facade's body (lua-cjson's escaping) for outcome names holding any printable ASCII character", function()
        for c = 0x20, 0x7e do
            local ch = string.char(c)
            same_as_general("contact-1", "Cat" .. ch, ch .. "Sub" .. ch .. ch)
        end
    end)

    it("has the facade's key at the length limits", function()
        same_as_general(("i"):rep(bulk.MAX_ID_BYTES), ("c"):rep(1024), ("s"):rep(1024))
        same_as_general(("/"):rep(bulk.MAX_ID_BYTES), '"\\/', "x")
    end)

    it("declines what is not plainly valid, leaving the wording to the validator", function()
        local declined = {
            { ".", "C", "S" }, { "..", "C", "S" }, { "", "C", "S" }, { " a", "C", "S" }, { "a ", "C", "S" },
            { "a\1", "C", "S" }, { "a\127", "C", "S" }, { "caf\195\169", "C", "S" },
            { ("i"):rep(bulk.MAX_ID_BYTES + 1), "C", "S" },
            { "a", "", "S" }, { "a", "C", "" }, { "a", "C\n", "S" }, { "a", "C", "S\t" },
            { "a", "\195\169", "S" }, { "a", ("c"):rep(1025), "S" }, { "a", "C", ("s"):rep(1025) },
        }
        for _, t in ipairs(declined) do
            assert.is_nil(core.plain_request(PREFIX, "b", t[1], t[2], t[3]), ("%q %q %q"):format(t[1], t[2], t[3]))
        end
    end)
end)

describe("plain tasks against the mock", function()
    local m, path
    lazy_setup(function()
        -- Outcome names with the characters JSON escapes, so the mock decodes what was sent.
        local subs = { { name = 'Said "no" \\ twice' }, { name = "S" } }
        path = os.tmpname()
        U.write_file(path, cjson.encode { categories = {
            { name = "Contacted", subcategories = subs }, { name = "Not/Contacted", subcategories = subs },
            { name = "C", subcategories = subs } } })
        m = Mock.start { "--rate", "0", "--any-contact", "--outcomes", path }
    end)
    lazy_teardown(function()
        m:stop()
        os.remove(path)
    end)

    it("reach the contact they name, once each, carrying the key describe() gives", function()
        local ids = { "a/b", "x y", "q?1", "p%41", "h#f", "t~_-.", "plus+and&eq=", "semi;colon", "UPPER" }
        local tasks = {}
        for i, id in ipairs(ids) do
            tasks[i] = { contact_id = id, category = i % 2 == 0 and "Contacted" or "Not/Contacted",
                         subcategory = 'Said "no" \\ twice' }
        end
        local opts = H.opts(m, { batch_id = "plain-e2e" })
        local summary, results = H.run(tasks, opts)
        assert.are.equal(#ids, summary.succeeded)
        local mutations = m:stats().mutations
        for i, t in ipairs(tasks) do
            local want = bulk.describe(t, opts)
            assert.are.equal(want.idempotency_key, results[i].idempotency_key, t.contact_id)
            local mu = mutations[t.contact_id]
            assert.is_truthy(mu, "no mutation for " .. t.contact_id)
            assert.are.equal(1, mu.count, t.contact_id)
            assert.are.equal(t.category, mu.category)
            assert.are.equal(t.subcategory, mu.subcategory)
        end
    end)

    it("mixed with tasks the validator refuses, every task yields one result with the validator's words", function()
        local tasks = {
            { contact_id = "ok-1", category = "C", subcategory = "S" },
            { contact_id = ".", category = "C", subcategory = "S" },
            { contact_id = "bad\1", category = "C", subcategory = "S" },
            { contact_id = "ok-2", category = "C", subcategory = "S", idempotency_key = "own-key-1" },
            { contact_id = "ok-3", category = "C", subcategory = "S" },
        }
        local summary, results, count = H.run(tasks, H.opts(m))
        assert.are.equal(5, count)
        assert.are.equal(3, summary.succeeded)
        for _, i in ipairs { 2, 3 } do
            local _, why = bulk.validate_task(tasks[i])
            assert.are.equal(why:gsub("^task", "task " .. i), results[i].error)
        end
        assert.are.equal("own-key-1", results[4].idempotency_key)
    end)
end)

-- src/net/http.c keeps each handle's last URL parsed and, for the same origin, only sets the path:
-- what reaches the wire must still be exactly the facade's URL, whichever origin came before
-- (the token endpoint on another server, a base URL with a path of its own).
describe("the request path on the wire", function()
    local HS = require "spec.helpers.hostile"
    local tok, api
    lazy_setup(function()
        tok = HS.start { mode = "ok" }
        api = HS.start { mode = "ok" }
    end)
    lazy_teardown(function()
        api:stop()
        tok:stop()
    end)

    local ids = { "contact-1", "a/b", "x y", "p%41", "~t_.-", "UPPER", "q?1#f", "contact-1" }

    local function paths_for(base)
        local before = #api:requests()
        local tasks = {}
        for i, id in ipairs(ids) do tasks[i] = { contact_id = id, category = "C", subcategory = "S" } end
        local opts = { base_url = base, token_url = tok.url .. "/oauth2/token", client_id = "c",
                       client_secret = "s", workers = 1, max_retries = 0, timeout = 5 }
        local summary = bulk.batch_update(tasks, opts)
        assert.are.equal(#ids, summary.succeeded)
        local want, got = {}, {}
        for i, t in ipairs(tasks) do want[i] = "PUT " .. bulk.describe(t, opts).url:sub(#api.url + 1) end
        for i, r in ipairs(api:requests()) do
            if i > before then got[#got + 1] = r.method .. " " .. r.path end
        end
        return want, got
    end

    it("is the facade's for every task, one worker alternating with the token endpoint's origin", function()
        local want, got = paths_for(api.url)
        assert.are.same(want, got)
    end)

    it("keeps a base URL's own path", function()
        local want, got = paths_for(api.url .. "/tenant-a")
        assert.are.same(want, got)
        assert.matches("^PUT /tenant%-a/api/v2/contacts/a%%2Fb$", got[2])
    end)
end)

describe("the request path on the wire after a URL with a query", function()
    local HS = require "spec.helpers.hostile"
    it("carries no query of the previous URL (same origin, same handle)", function()
        local api = HS.start { mode = "ok" }
        finally(function() api:stop() end)
        -- The token request (a URL with a query) goes first on the one worker's handle, then the PUTs.
        local opts = { base_url = api.url, token_url = api.url .. "/oauth2/token?tenant=a", client_id = "c",
                       client_secret = "s", workers = 1, max_retries = 0, timeout = 5 }
        local s = bulk.batch_update({ { contact_id = "contact-1", category = "C", subcategory = "S" },
                                      { contact_id = "contact-2", category = "C", subcategory = "S" } }, opts)
        assert.are.equal(2, s.succeeded)
        local got = {}
        for _, r in ipairs(api:requests()) do got[#got + 1] = r.method .. " " .. r.path end
        assert.are.same({ "POST /oauth2/token?tenant=a", "PUT /api/v2/contacts/contact-1",
                          "PUT /api/v2/contacts/contact-2" }, got)
    end)
end)
