-- Secrets never leak: batches that fail in every way we can provoke (bad secret, 401s, 500s,
-- transport failures, token endpoint errors, invalid input, the CLI with every output file and
-- progress on a terminal) and a grep of everything they produce - result tables, events,
-- summaries, raised errors, stdout, stderr, --output, --failed, --journal - for the client
-- secret and the bearer token, raw, form-encoded, inside HTTP Basic, and by 12-byte prefix.
-- The bearer token is known because the token endpoint is build/cxone-hostile issuing a fixed,
-- per-run random value; the mock is used where its own behaviour (401 for a bad secret, 503 from
-- the token endpoint, faults) matters.
local bulk = require "cxone.bulk"
local HS = require "spec.helpers.hostile"
local E = require "spec.helpers.engine"
local C = require "spec.helpers.cli"
local U = require "spec.helpers.util"

math.randomseed(bulk.sys.getpid() * 7919 + math.floor(bulk.sys.monotime() * 1000))
local function rand_hex(n)
  local t = {}
  for i = 1, n do t[i] = ("%x"):format(math.random(0, 15)) end
  return table.concat(t)
end

-- The secret holds characters that change under form and URL encoding.
local CLIENT_ID = "secret-spec-client"
local SECRET = "Sx" .. rand_hex(20) .. "+/&=%"
local TOKEN = "tk" .. rand_hex(30)

local form_encode, base64 = U.form_encode, U.base64

local NEEDLES = {
  { "client secret", SECRET },
  { "client secret (form-encoded)", form_encode(SECRET) },
  { "client secret (12-byte prefix)", SECRET:sub(1, 12) },
  { "HTTP Basic credentials", base64(form_encode(CLIENT_ID) .. ":" .. form_encode(SECRET)) },
  { "bearer token", TOKEN },
  { "bearer token (12-byte prefix)", TOKEN:sub(1, 12) },
}

local dump = U.dump -- everything in a value as text, for scanning

-- Asserts no needle occurs in any of the texts (name -> text); names the first hit.
local function assert_clean(texts)
  local scanned = 0
  for name, text in pairs(texts) do
    scanned = scanned + 1
    for _, n in ipairs(NEEDLES) do
      local at = text:find(n[2], 1, true)
      if at then -- show where, without printing the secret itself
        local before = text:sub(math.max(1, at - 60), at - 1)
        local after = text:sub(at + #n[2], at + #n[2] + 60)
        error(("%s found in %s: ...%s<HERE>%s..."):format(n[1], name, before, after), 2)
      end
    end
  end
  assert(scanned > 0)
end

-- Runs a batch and returns every text it produced: results, events, summary or error.
local function run_batch(tasks, o)
  local results, events = {}, {}
  o.on_result = function(r) results[#results + 1] = r end
  o.on_event = function(e) events[#events + 1] = e end
  o.deadline = o.deadline or 30
  local ok, summary = pcall(bulk.batch_update, tasks, o)
  return { results = dump(results), events = dump(events), summary = dump(summary),
           ok = tostring(ok) }, ok, summary, results, events
end

local fast = E.fast_with { client_id = CLIENT_ID, client_secret = SECRET, max_retries = 2, timeout = 2 }

describe("secrets in library results, events, summaries and errors", function()
  local tok -- issues TOKEN
  lazy_setup(function() tok = HS.start { mode = "ok", token = TOKEN } end)
  lazy_teardown(function() tok:stop() end)
  local function tok_url() return tok.url .. "/oauth2/token" end

  it("the detector finds every needle, and the needles are the real values on the wire", function()
    for _, n in ipairs(NEEDLES) do
      assert.has_error(function() assert_clean { probe = "x " .. n[2] .. " y" } end)
    end
    local function curl(args)
      local p = io.popen("curl -s " .. args)
      local body = p:read("*a")
      p:close()
      return body
    end
    assert.matches(TOKEN, curl("-X POST -d grant_type=client_credentials " .. HS.quote(tok_url())), 1, true)
    -- The mock accepts the secret exactly as form-encoded here and as Basic credentials.
    local m = HS.mock { "--client-id", CLIENT_ID, "--client-secret", SECRET }
    local form = curl("-X POST -d " .. HS.quote("grant_type=client_credentials&client_id=" .. CLIENT_ID
      .. "&client_secret=" .. form_encode(SECRET)) .. " " .. m.url .. "/oauth2/token")
    local basic = curl("-X POST -d grant_type=client_credentials -H " .. HS.quote("Authorization: Basic "
      .. base64(form_encode(CLIENT_ID) .. ":" .. form_encode(SECRET))) .. " " .. m.url .. "/oauth2/token")
    HS.stop(m)
    assert.matches('"access_token"', form)
    assert.matches('"access_token"', basic)
  end)

  it("a bad client secret (the mock's 401), form and HTTP Basic", function()
    local m = HS.mock { "--any-contact", "--rate", "0", "--client-id", CLIENT_ID,
                        "--client-secret", "the-right-one" }
    for _, basic in ipairs { false, true } do
      local texts, ok, err = run_batch(E.tasks(5), fast { base_url = m.url, basic_auth = basic })
      assert.is_false(ok)
      assert.matches("authentication failed", err)
      texts.error = tostring(err)
      assert_clean(texts)
    end
    HS.stop(m)
  end)

  it("401s from the API with our token, after a re-auth", function()
    local api = HS.start { mode = "ok", status = 401 }
    local texts, ok, summary = run_batch(E.tasks(5), fast { base_url = api.url, token_url = tok_url() })
    api:stop()
    assert.is_true(ok)
    assert.are.equal(5, summary.failed)
    assert.is_true(summary.reauths >= 1)
    assert_clean(texts)
  end)

  it("500s with retries, and connection resets", function()
    for _, api_opts in ipairs { { mode = "ok", status = 500 }, { mode = "reset" } } do
      local api = HS.start(api_opts)
      local texts, ok, summary, _, events = run_batch(E.tasks(4),
        fast { base_url = api.url, token_url = tok_url() })
      api:stop()
      assert.is_true(ok)
      assert.are.equal(4, summary.failed)
      assert.is_true(#events >= 8) -- two retries per task, each an event with the error text
      assert_clean(texts)
    end
  end)

  it("the token endpoint failing (the mock's 503s) and a successful faulty batch", function()
    local m = HS.mock { "--any-contact", "--rate", "0", "--client-id", CLIENT_ID,
                        "--client-secret", SECRET, "--token-error-rate", "1" }
    local texts, ok, summary = run_batch(E.tasks(3), fast { base_url = m.url })
    assert.is_true(ok)
    assert.are.equal(3, summary.failed)
    assert_clean(texts)
    -- Now tokens work, expire every second, and the API fails a third of the time.
    local c = io.popen("curl -s -X POST -H 'Content-Type: application/json' -d "
      .. HS.quote('{"token_error_rate":0,"expires_in":1,"error_rate":0.3}') .. " " .. m.url .. "/_mock/config")
    c:read("*a")
    c:close()
    local results
    texts, ok, summary, results = run_batch(E.tasks(200), fast { base_url = m.url, workers = 4, max_retries = 8 })
    HS.stop(m)
    assert.is_true(ok)
    local why
    for _, r in ipairs(results) do if not r.ok then why = r.error break end end
    assert.are.equal(200, summary.succeeded, why)
    assert.is_true(summary.retried > 0)
    assert_clean(texts)
  end)

  it("invalid input and bad options", function()
    local api = HS.start { mode = "ok" }
    local tasks = { { contact_id = "c-1" }, { category = "A", subcategory = "B" },
                    { contact_id = "c\n2", category = "A", subcategory = "B" }, 42,
                    { contact_id = "c-5", category = "A", subcategory = "B", idempotency_key = "" } }
    local texts, ok, summary = run_batch(tasks, fast { base_url = api.url, token_url = tok_url() })
    assert.is_true(ok)
    assert.are.equal(5, summary.invalid)
    assert_clean(texts)
    -- A bad option next to the secret: the message names the option, never the secret.
    local errs = {}
    for _, extra in ipairs { { workers = 0 }, { client_secret = 42 }, { bogus = SECRET:sub(1, 3) },
                             { base_url = "http://api.example.com" }, { rate = -1 } } do
      local o = fast { base_url = api.url, token_url = tok_url() }
      for k, v in pairs(extra) do o[k] = v end
      local _, e = pcall(bulk.batch_update, E.tasks(1), o)
      errs[#errs + 1] = tostring(e)
    end
    api:stop()
    assert_clean { option_errors = table.concat(errs, "\n") }
  end)

  it("a server that echoes the Authorization header into its error body", function()
    local api = HS.start { mode = "echo-auth", token = TOKEN }
    local texts = run_batch(E.tasks(2), fast { base_url = api.url, token_url = api.url .. "/oauth2/token" })
    api:stop()
    assert_clean(texts)
  end)

  it("a token endpoint that echoes the credentials into its error body", function()
    for _, basic in ipairs { false, true } do
      local srv = HS.start { mode = "echo-secret" }
      local texts, ok, err = run_batch(E.tasks(2), fast { base_url = srv.url, basic_auth = basic })
      srv:stop()
      assert.is_false(ok)
      texts.error = tostring(err)
      assert_clean(texts)
    end
  end)
end)

describe("secrets in the CLI's outputs", function()
  local tok, dir
  lazy_setup(function()
    tok = HS.start { mode = "ok", token = TOKEN }
    dir = C.tmpdir()
  end)
  lazy_teardown(function()
    tok:stop()
    C.rmdir(dir)
  end)

  local ENV = { CXONE_CLIENT_ID = CLIENT_ID, CXONE_CLIENT_SECRET = SECRET }

  -- Every file the run wrote, plus its stdout and stderr.
  local function outputs(_, out, err, files)
    local texts = { stdout = out or "", stderr = err or "" }
    for _, f in ipairs(files) do texts[f] = C.read(dir .. "/" .. f) or "" end
    return texts
  end

  local function rows_file(n)
    return C.write(dir .. "/in.csv", C.csv(C.rows(n)))
  end

  it("500s and resets: --output, --failed, --journal, summary", function()
    for i, api_opts in ipairs { { mode = "ok", status = 500 }, { mode = "reset" } } do
      local api = HS.start(api_opts)
      local files = { "out" .. i .. ".jsonl", "failed" .. i .. ".csv", "run" .. i .. ".journal" }
      local code, out, err = C.run({ "--input", rows_file(6), "--output", dir .. "/" .. files[1],
        "--failed", dir .. "/" .. files[2], "--journal", dir .. "/" .. files[3],
        "--base-url", api.url, "--token-url", tok.url .. "/oauth2/token", "--max-retries", "2",
        "--backoff-base", "0.01", "--backoff-max", "0.02", "--timeout", "2" }, { env = ENV })
      api:stop()
      assert.are.equal(1, code)
      local texts = outputs(code, out, err, files)
      assert.matches("contact%-000006", texts[files[2]]) -- the failed rows are really there
      assert.are.equal(6, #C.jsonl(dir .. "/" .. files[1]))
      assert_clean(texts)
    end
  end)

  it("a bad secret at the mock: exit 3 and a message without the secret", function()
    local m = HS.mock { "--any-contact", "--rate", "0", "--client-id", CLIENT_ID,
                        "--client-secret", "the-right-one" }
    local code, out, err = C.run({ "--input", rows_file(3), "--output", dir .. "/bad.jsonl",
      "--journal", dir .. "/bad.journal", "--base-url", m.url }, { env = ENV })
    HS.stop(m)
    assert.are.equal(3, code)
    assert.matches("authentication failed", err)
    assert_clean(outputs(code, out, err, { "bad.jsonl", "bad.journal" }))
  end)

  it("progress on a terminal during a faulty batch against the mock", function()
    local m = HS.mock { "--any-contact", "--rate", "0", "--client-id", CLIENT_ID, "--client-secret",
                        SECRET, "--error-rate", "0.2", "--latency-ms", "5", "--expires-in", "1" }
    local env = { "env" }
    for k, v in pairs(ENV) do env[#env + 1] = k .. "=" .. C.quote(v) end
    local cli = table.concat(env, " ") .. " " .. C.LUA .. " bin/cxone-bulk --input "
      .. C.quote(rows_file(300)) .. " --output " .. C.quote(dir .. "/tty.jsonl") .. " --failed "
      .. C.quote(dir .. "/tty-failed.csv") .. " --base-url " .. m.url
      .. " --max-retries 6 --backoff-base 0.01 --backoff-max 0.05 --workers 4 --rate 1000 < /dev/null"
    -- script(1) gives the CLI a terminal, so it draws its progress bar.
    local p = io.popen("script -qec " .. C.quote(cli) .. " /dev/null 2>&1")
    local tty = p:read("*a")
    p:close()
    HS.stop(m)
    assert.matches("300", tty) -- the progress/summary was drawn
    assert.are.equal(300, #C.jsonl(dir .. "/tty.jsonl"))
    assert_clean(outputs(0, tty, "", { "tty.jsonl", "tty-failed.csv" }))
  end)
end)
