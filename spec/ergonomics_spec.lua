-- Issue 15, operator ergonomics: a named target (no default base URL), fail-fast when the API
-- cannot be reached (exit 3), engine messages that name CLI flags, --summary-json, no progress
-- bar between results lines on a terminal, the nil-err API with stable error kinds, the nginx
-- example's journal check, and an installed CLI under a custom PREFIX.
local bulk = require "cxone.bulk"
local cli = require "cxone.bulk.cli"
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local cjson = require "cjson"

local CREDS = { client_id = C.CREDS.CXONE_CLIENT_ID, client_secret = C.CREDS.CXONE_CLIENT_SECRET }
local NO_ENV_URL = { CXONE_BASE_URL = false }

-- A loopback port nobody listens on (bound, then released).
local function closed_port()
  local m = Mock.start { "--rate", "0" }
  local port = m.url:match(":(%d+)$")
  m:stop()
  return port
end

local function opts(extra)
  local o = { client_id = CREDS.client_id, client_secret = CREDS.client_secret, backoff_base = 0.01,
              backoff_max = 0.05, timeout = 5, rate = 2000, burst = 100 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

local function tasks(n)
  local t = {}
  for i = 1, n do
    t[i] = { contact_id = ("contact-%06d"):format(i), category = "Contacted", subcategory = "Information Provided" }
  end
  return t
end

describe("no default base URL", function()
  it("the library refuses a job, a target and a describe without base_url, naming it", function()
    -- busted runs with the caller's environment; the spec must not depend on it
    if os.getenv("CXONE_BASE_URL") then pending("CXONE_BASE_URL is set in this environment") return end
    for _, f in ipairs {
      function() return bulk.start({}, opts()) end,
      function() return bulk.target({}) end,
      function() return bulk.describe(tasks(1)[1], {}) end,
    } do
      local ok, err = pcall(f)
      assert.is_false(ok)
      assert.matches("option 'base_url' is required %(or %$CXONE_BASE_URL%)", err)
    end
    assert.is_nil(bulk.DEFAULT_BASE_URL)
  end)

  it("bulk.tenant_limit_name: one name per target and client, never a default bucket", function()
    local name = bulk.tenant_limit_name { base_url = "https://t1.example/", client_id = "app" }
    assert.matches("^cxb%-%x+$", name)
    assert.equal(24, #name)
    assert.equal(name, bulk.tenant_limit_name { base_url = "https://t1.example", client_id = "app" })
    assert.not_equal(name, bulk.tenant_limit_name { base_url = "https://t2.example", client_id = "app" })
    assert.not_equal(name, bulk.tenant_limit_name { base_url = "https://t1.example", client_id = "other" })
    local cx = { api = "cxone", client_id = "app", access_key_id = "key-1" }
    local cx_name = bulk.tenant_limit_name(cx)
    cx.access_key_id = "key-2"
    assert.not_equal(cx_name, bulk.tenant_limit_name(cx))
    local ok, err = pcall(bulk.tenant_limit_name, { base_url = "ftp://t1.example", client_id = "app" })
    assert.is_false(ok)
    assert.matches("option 'base_url' must use https://", err)
    -- the library's own default stays a bucket of the process
    assert.is_nil(require("cxone.bulk.options").BY_NAME.shared_limit.default)
  end)

  it("the CLI exits 2 naming --base-url and CXONE_BASE_URL, and sends nothing", function()
    local m = Mock.start { "--rate", "0" }
    local dir = C.tmpdir()
    local input = C.write(dir .. "/in.csv", C.csv(C.rows(3)))
    local code, _, err = C.run({ "--output", dir .. "/r.jsonl", input }, { env = NO_ENV_URL })
    local stats = m:stats()
    m:stop()
    C.rmdir(dir)
    assert.equal(2, code)
    assert.matches("%-%-base%-url is required %(or %$CXONE_BASE_URL%)", err)
    assert.equal(0, stats.requests.total)
  end)

  it("the CLI takes $CXONE_BASE_URL and prints the target at the start and in the summary", function()
    local m = Mock.start { "--rate", "0" }
    local dir = C.tmpdir()
    local input = C.write(dir .. "/in.csv", C.csv(C.rows(2)))
    local code, _, err = C.run({ "--output", dir .. "/r.jsonl", input }, { env = { CXONE_BASE_URL = m.url } })
    local puts = m:stats().requests.by_route["PUT /api/v2/contacts"]
    m:stop()
    C.rmdir(dir)
    assert.equal(0, code, err)
    assert.equal(2, puts)
    local line = "target: " .. m.url .. " (client " .. CREDS.client_id .. ")"
    assert.truthy(err:find("cxone-bulk: " .. line, 1, true), err)
    assert.truthy(err:find("  target     " .. m.url .. " (client " .. CREDS.client_id .. ")", 1, true), err)
  end)
end)

describe("fail fast when the API cannot be reached", function()
  it("connection refused: the batch stops after max_unreachable attempts, kind network", function()
    local url = "http://127.0.0.1:" .. closed_port()
    local t0 = bulk.sys.monotime()
    local summary, err = bulk.try_batch_update(tasks(200), opts { base_url = url, workers = 4, max_unreachable = 5 })
    local took = bulk.sys.monotime() - t0
    assert.is_nil(summary)
    assert.equal("network", err.kind)
    assert.matches("^could not reach the API: 5 consecutive attempts got no answer", err.message)
    assert.equal(200, err.summary.cancelled)
    -- 200 rows x 4 attempts each would be 800 attempts; it stopped at the fifth
    assert.is_true(took < 10, "took " .. took .. " s")
  end)

  it("token endpoint down while the API answers: no PUT, kind network, CLI exit 3", function()
    local m = Mock.start { "--rate", "0" }
    local dir = C.tmpdir()
    local input = C.write(dir .. "/in.csv", C.csv(C.rows(50)))
    local code, _, err = C.run(C.fast(m, { "--token-url", "http://127.0.0.1:" .. closed_port() .. "/oauth2/token",
      "--max-unreachable", "3", "--summary-json", dir .. "/s.json", "--output", dir .. "/r.jsonl", input }))
    local stats = m:stats()
    local s = cjson.decode(C.read(dir .. "/s.json"))
    m:stop()
    C.rmdir(dir)
    assert.equal(3, code, err)
    assert.equal(0, stats.requests.total)
    assert.matches("stopped: could not reach the API: 3 consecutive attempts got no answer %(%-%-max%-unreachable = 3%)", err)
    assert.equal(3, s.exit_code)
    assert.equal("network", s.error_kind)
    assert.equal(50, s.cancelled)
  end)

  it("TLS to a plain-HTTP server: kind tls, exit 3", function()
    local m = Mock.start { "--rate", "0" }
    local url = m.url:gsub("^http:", "https:")
    local dir = C.tmpdir()
    local input = C.write(dir .. "/in.csv", C.csv(C.rows(30)))
    local code, _, err = C.run({ "--base-url", url, "--max-unreachable", "4", "--backoff-base", "0.01",
      "--backoff-max", "0.05", "--output", dir .. "/r.jsonl", input })
    m:stop()
    C.rmdir(dir)
    assert.equal(3, code, err)
    assert.matches("could not reach the API %(TLS failure%)", err)
  end)

  it("HTTP answers (503s) reset the count: rows fail on their own, exit 1, no batch error", function()
    local m = Mock.start { "--rate", "0", "--error-rate", "1", "--error-statuses", "503" }
    local dir = C.tmpdir()
    local input = C.write(dir .. "/in.csv", C.csv(C.rows(20)))
    local code, _, err = C.run(C.fast(m, { "--max-unreachable", "2", "--max-retries", "1", "--output",
      dir .. "/r.jsonl", input }))
    local puts = m:stats().requests.by_route["PUT /api/v2/contacts"]
    m:stop()
    C.rmdir(dir)
    assert.equal(1, code, err)
    assert.is_nil(err:find("could not reach", 1, true))
    assert.equal(40, puts) -- every row: 1 try + 1 retry
  end)
end)

describe("CLI messages name flags", function()
  it("maps engine option names to flags, leaves names without a flag alone", function()
    assert.equal("plain http:// to x; use https:// or pass --allow-http",
      cli.strip_label("cxone.bulk: plain http:// to x; use https:// or set allow_http = true"))
    assert.equal("(pass --ca-file /path/to/ca.pem for a private CA)",
      cli.strip_label('(give ca_file = "/path/to/ca.pem" for a private CA)'))
    assert.equal("--max-unreachable = 3; check --base-url; (--validate-outcomes)",
      cli.strip_label("option 'max_unreachable' = 3; check base_url; (validate_outcomes)"))
    assert.equal("option 'queue_size' and contact_id", cli.strip_label("option 'queue_size' and contact_id"))
  end)

  it("plain http to a remote host: the message says --allow-http", function()
    local dir = C.tmpdir()
    local input = C.write(dir .. "/in.csv", C.csv(C.rows(1)))
    local code, _, err = C.run({ "--base-url", "http://example.invalid", input })
    C.rmdir(dir)
    assert.equal(2, code)
    assert.matches("pass %-%-allow%-http", err)
    assert.is_nil(err:find("allow_http", 1, true))
  end)
end)

describe("--summary-json", function()
  it("writes counts, by_status, elapsed, rate, target and the exit code", function()
    local m = Mock.start { "--rate", "0" }
    local dir = C.tmpdir()
    local rows = C.rows(3)
    rows[4] = { "contact-999999", "Contacted", "Information Provided" } -- unknown: 404
    local input = C.write(dir .. "/in.csv", C.csv(rows))
    local code, _, err = C.run(C.fast(m, { "--summary-json", dir .. "/s.json", "--output", dir .. "/r.jsonl", input }))
    m:stop()
    local s = cjson.decode(C.read(dir .. "/s.json"))
    C.rmdir(dir)
    assert.equal(1, code, err)
    assert.equal(1, s.exit_code)
    assert.equal(4, s.rows)
    assert.equal(3, s.succeeded)
    assert.equal(1, s.failed)
    assert.same({ ["200"] = 3, ["404"] = 1 }, s.by_status)
    assert.same({ base_url = m.url, client_id = CREDS.client_id }, s.target)
    assert.is_true(s.elapsed > 0)
    -- 4 updates under --burst 100: all in the first burst, so no rate is claimed for them.
    assert.same({ 0, true }, { s.rate, s.within_burst })
    assert.equal(4, s.requests)
  end)

  it("an unwritable path refuses the run before anything is sent", function()
    local m = Mock.start { "--rate", "0" }
    local dir = C.tmpdir()
    local input = C.write(dir .. "/in.csv", C.csv(C.rows(2)))
    local code, _, err = C.run(C.fast(m, { "--summary-json", dir .. "/no/such/dir/s.json", "--output",
      dir .. "/r.jsonl", input }))
    local total = m:stats().requests.total
    m:stop()
    C.rmdir(dir)
    assert.equal(2, code)
    assert.matches("cannot open summary file", err)
    assert.equal(0, total)
  end)
end)

describe("--dry-run on a terminal", function()
  it("results lines are never cut by the progress bar", function()
    if os.execute("command -v script > /dev/null 2>&1") ~= true and os.execute("command -v script > /dev/null 2>&1") ~= 0 then
      pending("script(1) is not installed")
      return
    end
    local dir = C.tmpdir()
    local input = C.write(dir .. "/in.csv", C.csv(C.rows(3000)))
    -- script(1) gives the CLI a pseudo-terminal as stdout and stderr, like an operator's shell.
    local cmd = ("env CXONE_BASE_URL=https://api.example.invalid COLUMNS=100 %s bin/cxone-bulk --dry-run %s"):format(
      C.LUA, C.quote(input))
    os.execute(("script -qfec %s %s > /dev/null 2>&1 < /dev/null"):format(C.quote(cmd), C.quote(dir .. "/tty")))
    local text = C.read(dir .. "/tty") or ""
    C.rmdir(dir)
    local json_lines, bad = 0, {}
    for line in text:gmatch("[^\n]*") do
      line = line:gsub("\r$", "")
      if line:find('"contact_id"', 1, true) then
        json_lines = json_lines + 1
        if not line:match("^{.*}$") or line:find("\r", 1, true) then bad[#bad + 1] = line end
      end
    end
    assert.equal(3000, json_lines)
    assert.same({}, { bad[1], bad[2] })
  end)
end)

describe("nil, err API", function()
  it("try_start, try_open: nil and an error with a stable kind; tostring is the message", function()
    local job, err = bulk.try_start(tasks(1), { base_url = "https://x.invalid", workers = 0 })
    assert.is_nil(job)
    assert.equal("options", err.kind)
    assert.equal("option 'workers' must be an integer >= 1 and <= 256 (got number 0)", tostring(err))
    job, err = bulk.try_start(42, opts { base_url = "https://x.invalid" })
    assert.is_nil(job)
    assert.equal("input", err.kind)
    job, err = bulk.try_open({ base_url = "ftp://x" })
    assert.is_nil(job)
    assert.equal("options", err.kind)
    job = assert(bulk.try_open(opts { base_url = "https://x.invalid" }))
    job:close()
  end)

  it("try_batch_update: auth, callback and success", function()
    local m = Mock.start { "--rate", "0" }
    finally(function() m:stop() end) -- also when an assertion fails
    local s, err = bulk.try_batch_update(tasks(3), opts { base_url = m.url, client_secret = "wrong" })
    assert.is_nil(s)
    assert.equal("auth", err.kind)
    assert.equal(3, err.summary.cancelled)
    s, err = bulk.try_batch_update(tasks(3), opts { base_url = m.url, on_result = function() error("boom", 0) end })
    assert.is_nil(s)
    assert.equal("callback", err.kind)
    assert.equal("boom", err.message)
    s = assert(bulk.try_batch_update(tasks(3), opts { base_url = m.url }))
    assert.equal(3, s.succeeded)
  end)

  it("error_kind gives the kind the module attached where it raised, never one read from words", function()
    local ok, raised = pcall(bulk.start, {}, { bogus_option = 1 })
    assert.is_false(ok)
    assert.equal("cxone.bulk: unknown option 'bogus_option'", raised)
    assert.equal("options", bulk.error_kind(raised))
    ok, raised = pcall(bulk.start, 42, opts { base_url = "http://127.0.0.1:1" })
    assert.is_false(ok)
    assert.equal("input", bulk.error_kind(raised))
    -- The same words it never raised carry no kind: nothing is matched.
    assert.equal("other", bulk.error_kind("cxone.bulk: unknown option 'never_raised'"))
    assert.equal("other", bulk.error_kind("could not reach the API: 3 consecutive attempts got no answer"))
    local _, err = bulk.try_start({}, { bogus_option = 1 })
    assert.equal("options", err.kind)
    assert.equal("options", bulk.error_kind(err))
  end)
end)

describe("make install PREFIX=...", function()
  it("the installed CLI finds its own modules", function()
    local dir = C.tmpdir()
    local ok = os.execute(("make --no-print-directory -s install PREFIX=%s > %s 2>&1"):format(
      C.quote(dir .. "/p"), C.quote(dir .. "/make.log")))
    local log = C.read(dir .. "/make.log")
    assert.is_true(ok == true or ok == 0, log)
    -- Run from elsewhere, with no LUA_PATH pointing into the checkout.
    local p = io.popen(("cd / && env -u LUA_PATH -u LUA_CPATH -u LUA_PATH_5_4 -u LUA_CPATH_5_4 %s --version 2>&1; echo rc=$?"):format(
      C.quote(dir .. "/p/bin/cxone-bulk")))
    local out = p:read("*a")
    p:close()
    C.rmdir(dir)
    assert.matches("^cxone%-bulk %d+%.%d+%.%d+\nrc=0", out)
  end)
end)
