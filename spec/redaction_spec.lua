-- Cut-off echoes of secrets (issue 11, item 12): a server that echoes the bearer token or the
-- client credentials inside a long error body, with the echo placed at every point where a
-- message gets cut. No run of 16 or more consecutive characters of the token, the secret (raw
-- or form-encoded) or the HTTP Basic credentials may reach a result, an event, the batch error,
-- or the CLI's output, failed file, journal, stdout or stderr.
local bulk = require "cxone.bulk"
local HS = require "spec.helpers.hostile"
local E = require "spec.helpers.engine"
local C = require "spec.helpers.cli"
local U = require "spec.helpers.util"

local RUN = 16

math.randomseed(bulk.sys.getpid() * 104729 + math.floor(bulk.sys.monotime() * 1000))
local function rand_from(alphabet, n)
  local t = {}
  for i = 1, n do
    local k = math.random(1, #alphabet)
    t[i] = alphabet:sub(k, k)
  end
  return table.concat(t)
end

local ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
local CLIENT_ID = "redaction-spec-client"
local TOKEN = rand_from(ALNUM .. "-._~+/", 380)       -- a long JWT-like bearer token
local SECRET = rand_from(ALNUM .. "+/&=%-_", 200)    -- changes under form encoding

local form_encode, base64 = U.form_encode, U.base64

local NEEDLES = {
  { "bearer token", TOKEN },
  { "client secret", SECRET },
  { "client secret (form-encoded)", form_encode(SECRET) },
  -- The part of the Basic value that encodes the secret (the id's part is not secret).
  { "HTTP Basic credentials", base64(form_encode(CLIENT_ID) .. ":" .. form_encode(SECRET)):sub(32) },
}

local dump = U.dump

-- Fails naming the first text holding a run of RUN characters of a needle (without showing it).
local function assert_no_runs(texts)
  local scanned = 0
  for name, text in pairs(texts) do
    scanned = scanned + 1
    for _, n in ipairs(NEEDLES) do
      for k = 1, #n[2] - RUN + 1 do
        local at = text:find(n[2]:sub(k, k + RUN - 1), 1, true)
        if at then
          error(("%d+ characters of the %s (from its byte %d) found in %s at byte %d"):format(
            RUN, n[1], k, name, at), 2)
        end
      end
    end
  end
  assert(scanned > 0)
end

local function run_batch(n, o)
  local results, events = {}, {}
  o.on_result = function(r) results[#results + 1] = r end
  o.on_event = function(e) events[#events + 1] = e end
  o.deadline = 30
  local ok, summary = pcall(bulk.batch_update, E.tasks(n), o)
  return { results = dump(results), events = dump(events), summary = dump(summary) }, ok, summary, results
end

local fast = E.fast_with { client_id = CLIENT_ID, client_secret = SECRET, max_retries = 1, timeout = 5 }

-- Filler lengths that put the cut of each message buffer before, inside and after the echo.
local PADS = { 0, 5, 30, 120, 250, 330, 368, 390, 600 }

describe("cut-off echoes in library results, events and the batch error", function()
  it("the detector finds a 16-character piece of every needle and ignores 15", function()
    for _, n in ipairs(NEEDLES) do
      -- '#' occurs in no needle, so the probe holds exactly 16 (then 15) characters of one.
      assert.has_error(function() assert_no_runs { probe = "#" .. n[2]:sub(40, 55) .. "#" } end)
      assert_no_runs { probe = "#" .. n[2]:sub(40, 54) .. "#" }
    end
  end)

  for _, pad in ipairs(PADS) do
    it("the API echoes the 380-byte bearer token after " .. pad .. " bytes", function()
      local api = HS.start { mode = "echo-auth", token = TOKEN, pad = pad }
      local texts, ok, summary, results = run_batch(2, fast {
        base_url = api.url, token_url = api.url .. "/oauth2/token" })
      api:stop()
      assert.is_true(ok, tostring(summary))
      assert.are.equal(2, summary.failed)
      assert.matches("^HTTP 400: " .. ("%."):rep(math.min(pad, 20)), results[1].error)
      assert_no_runs(texts)
    end)
  end

  for _, basic in ipairs { false, true } do
    for _, pad in ipairs { 0, 60, 139, 255, 400 } do
      it(("the token endpoint echoes the credentials (%s) after %d bytes"):format(
        basic and "HTTP Basic" or "form", pad), function()
        local srv = HS.start { mode = "echo-secret", pad = pad }
        local texts, ok, err = run_batch(2, fast { base_url = srv.url, basic_auth = basic })
        srv:stop()
        assert.is_false(ok)
        assert.matches("authentication failed", tostring(err))
        texts.error = tostring(err)
        assert_no_runs(texts)
      end)
    end
  end
end)

describe("cut-off echoes in the CLI's files and output", function()
  local dir
  lazy_setup(function() dir = C.tmpdir() end)
  lazy_teardown(function() C.rmdir(dir) end)
  local ENV = { CXONE_CLIENT_ID = CLIENT_ID, CXONE_CLIENT_SECRET = SECRET }

  local function outputs(out, err, files)
    local texts = { stdout = out or "", stderr = err or "" }
    for _, f in ipairs(files) do texts[f] = C.read(dir .. "/" .. f) or "" end
    return texts
  end

  for _, pad in ipairs { 0, 200, 368 } do
    it("echoed token after " .. pad .. " bytes: --output, --failed, --journal, summary", function()
      local api = HS.start { mode = "echo-auth", token = TOKEN, pad = pad }
      local files = { "out" .. pad .. ".jsonl", "failed" .. pad .. ".csv", "run" .. pad .. ".journal" }
      local input = C.write(dir .. "/in.csv", C.csv(C.rows(4)))
      local code, out, err = C.run({ "--input", input, "--output", dir .. "/" .. files[1],
        "--failed", dir .. "/" .. files[2], "--journal", dir .. "/" .. files[3],
        "--base-url", api.url, "--token-url", api.url .. "/oauth2/token", "--max-retries", "0",
        "--timeout", "5" }, { env = ENV })
      api:stop()
      assert.are.equal(1, code, err)
      local texts = outputs(out, err, files)
      assert.matches("HTTP 400", texts[files[2]]) -- the failed rows and their errors are there
      assert.are.equal(4, #C.jsonl(dir .. "/" .. files[1]))
      assert_no_runs(texts)
    end)
  end

  it("echoed secret at the token endpoint: exit 3, a message without it", function()
    local srv = HS.start { mode = "echo-secret", pad = 100 }
    local input = C.write(dir .. "/in2.csv", C.csv(C.rows(2)))
    local code, out, err = C.run({ "--input", input, "--output", dir .. "/s.jsonl", "--journal",
      dir .. "/s.journal", "--base-url", srv.url }, { env = ENV })
    srv:stop()
    assert.are.equal(3, code)
    assert.matches("authentication failed", err)
    assert_no_runs(outputs(out, err, { "s.jsonl", "s.journal" }))
  end)
end)
