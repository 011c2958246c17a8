-- The bytes a task's request carries, pinned: URL, body and key (UUIDv5 over batch, contact and
-- body) for both profiles. A rerun deduplicates only if these never change, so the expected
-- values below are hard-coded: they were computed on main at b312e74 (before the request
-- builder moved wholly into C, issue 23 §2) with bulk.describe and core.derive_key, and must not
-- be regenerated from the code under test. Both the dry run (describe) and what the engine
-- sends (the results' keys, against the mock) are held to them.
-- Run from the repo root: make spec SPEC_FILES=spec/request_bytes_spec.lua
local bulk = require "cxone.bulk"
local core = require "cxone.bulk.core"
local cjson = require "cjson"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local U = require "spec.helpers.util"

local BATCH = "pin-batch"
local MAP = { OC1 = { category = "Contacted", subcategory = "Sale" } }

-- tutorial: task, then what main sent for it.
local TUTORIAL = {
  { { contact_id = "1001", category = "Contacted", subcategory = "Information Provided" },
    { method = "PUT", url = "http://127.0.0.1:9/api/v2/contacts/1001",
      body = "{\"outcome\":{\"category\":\"Contacted\",\"subcategory\":\"Information Provided\"}}",
      idempotency_key = "84975d17-276c-5161-8542-fc14a0ed73f4" } },
  { { contact_id = "a b/c?d", category = 'Say "hi"/bye', subcategory = "back\\slash" },
    { method = "PUT", url = "http://127.0.0.1:9/api/v2/contacts/a%20b%2Fc%3Fd",
      body = "{\"outcome\":{\"category\":\"Say \\\"hi\\\"\\/bye\",\"subcategory\":\"back\\\\slash\"}}",
      idempotency_key = "a728c49e-38fc-5633-a996-3ea40430da8b" } },
  { { contact_id = "ü-42", category = "Café", subcategory = "Ñandú" },
    { method = "PUT", url = "http://127.0.0.1:9/api/v2/contacts/%C3%BC-42",
      body = "{\"outcome\":{\"category\":\"Café\",\"subcategory\":\"Ñandú\"}}",
      idempotency_key = "c652f02c-f1bd-5e4c-816e-a9fb971a79de" } },
  { { contact_id = "8", outcome_code = "OC1" },
    { method = "PUT", url = "http://127.0.0.1:9/api/v2/contacts/8",
      body = "{\"outcome\":{\"category\":\"Contacted\",\"subcategory\":\"Sale\"}}",
      idempotency_key = "90541db3-8d77-525b-976e-7626ec533593" } },
  { { contact_id = "9", category = "C", subcategory = "S", idempotency_key = "my-own-key-1" },
    { method = "PUT", url = "http://127.0.0.1:9/api/v2/contacts/9",
      body = "{\"outcome\":{\"category\":\"C\",\"subcategory\":\"S\"}}",
      idempotency_key = "my-own-key-1" } },
}

-- cxone: task, what main described, and the key main derived for its body (core.derive_key;
-- the API gets no key header).
local CXONE = {
  { { contact_id = "5001", skill = "1001", disposition_code = "2" },
    { method = "POST", url = "https://api.example.test/incontactapi/services/v33.0/contacts/5001/set-disposition",
      body = "{\"dispositionInfo\":{\"skill\":\"1001\",\"dispositionCode\":\"2\"}}" },
    "70dac3ac-e76c-5362-b727-4706e0f9b1ee" },
  { { contact_id = "5 002", skill = "1001", disposition_code = "Callback Requested",
      notes = "call back/later \"soon\"" },
    { method = "POST", url = "https://api.example.test/incontactapi/services/v33.0/contacts/5%20002/set-disposition",
      body = "{\"dispositionInfo\":{\"skill\":\"1001\",\"dispositionCode\":\"Callback Requested\","
        .. "\"notes\":\"call back/later \\\"soon\\\"\"}}" },
    "bdce214c-ca82-50a7-9f52-75a2c4527e4c" },
  { { contact_id = "5003", skill = "1002", disposition_code = "13", notes = "Café\nnext", callback_number = "+15551234",
      callback_time = "2026-12-01T10:00:00Z", commitment_amount = "12.50" },
    { method = "POST", url = "https://api.example.test/incontactapi/services/v33.0/contacts/5003/set-disposition",
      body = "{\"dispositionInfo\":{\"skill\":\"1002\",\"dispositionCode\":\"13\",\"notes\":\"Café\\nnext\","
        .. "\"callbackNumber\":\"+15551234\",\"callbackTime\":\"2026-12-01T10:00:00Z\",\"commitmentAmount\":\"12.50\"}}" },
    "3464f054-c9b3-5f54-9819-2a0f93ac6d27" },
  { { contact_id = "5004", skill = "1002", disposition_code = "13", notes = "" },
    { method = "POST", url = "https://api.example.test/incontactapi/services/v33.0/contacts/5004/set-disposition",
      body = "{\"dispositionInfo\":{\"skill\":\"1002\",\"dispositionCode\":\"13\"}}" },
    "5a53fd88-0809-583a-bc1e-cda6e89f0a5b" },
}

local T_OPTS = { base_url = "http://127.0.0.1:9", client_id = "c", client_secret = "s", batch_id = BATCH,
  outcome_map = MAP }
local X_OPTS = { api = "cxone", issuer = "http://127.0.0.1:9", client_id = "c", client_secret = "s",
  access_key_id = "a", access_key_secret = "b", batch_id = BATCH, api_base = "https://api.example.test" }

local function tasks_of(list)
  local t = {}
  for i, e in ipairs(list) do t[i] = e[1] end
  return t
end

describe("request bytes pinned from main", function()
  it("tutorial: describe gives the URL, body and key main gave", function()
    for _, e in ipairs(TUTORIAL) do
      assert.are.same(e[2], bulk.describe(e[1], T_OPTS))
    end
  end)

  it("cxone: describe gives the URL and body main gave", function()
    for _, e in ipairs(CXONE) do
      local d = bulk.describe(e[1], X_OPTS)
      assert.are.same(e[2], { method = d.method, url = d.url, body = d.body })
      assert.are.equal(e[3], core.derive_key(BATCH, e[1].contact_id, d.body))
    end
  end)

  it("tutorial: the engine sends the keys main sent, on the plain and the general path", function()
    -- The mock knows the outcome names the tasks use, so it takes what was sent.
    local path = os.tmpname()
    U.write_file(path, cjson.encode { categories = {
      { name = "Contacted", subcategories = { { name = "Information Provided" }, { name = "Sale" } } },
      { name = 'Say "hi"/bye', subcategories = { { name = "back\\slash" } } },
      { name = "Café", subcategories = { { name = "Ñandú" } } },
      { name = "C", subcategories = { { name = "S" } } } } })
    local m = Mock.start { "--rate", "0", "--any-contact", "--outcomes", path }
    local ok, err = pcall(function()
      local _, results = H.run(tasks_of(TUTORIAL), H.opts(m, { batch_id = BATCH, outcome_map = MAP }))
      for i, e in ipairs(TUTORIAL) do
        assert.is_true(results[i].ok, tostring(results[i].error))
        assert.are.equal(e[2].idempotency_key, results[i].idempotency_key, e[1].contact_id)
      end
    end)
    m:stop()
    os.remove(path)
    assert(ok, err)
  end)

  it("cxone: the engine sends each task once, as set-disposition", function()
    local m = Mock.start { "--api", "cxone", "--any-contact", "--rate", "0", "--quiet" }
    local ok, err = pcall(function()
      local o = { api = "cxone", issuer = m.url, client_id = "demo-client", client_secret = "demo-secret",
        access_key_id = "demo-access-key", access_key_secret = "demo-access-secret", batch_id = BATCH,
        backoff_base = 0.01, backoff_max = 0.05, timeout = 5 }
      local results = {}
      o.on_result = function(r) results[r.index] = r end
      bulk.batch_update(tasks_of(CXONE), o)
      assert.are.equal(#CXONE, m:stats().requests.by_route["POST /incontactapi/contacts/set-disposition"])
      for i = 1, #CXONE do
        assert.is_true(results[i].ok, tostring(results[i].error))
      end
    end)
    m:stop()
    assert(ok, err)
  end)
end)
