-- TLS and transport security: certificate verification is on by default, a self-signed endpoint
-- works only with ca_file (or an explicit, loudly warned insecure = true), host names are
-- checked, and plain http:// is refused for anything but loopback unless allow_http = true.
-- The https endpoint is build/cxone-hostile in "ok" mode speaking TLS with a certificate made
-- by openssl for this run.
local bulk = require "cxone.bulk"
local HS = require "spec.helpers.hostile"
local E = require "spec.helpers.engine"

-- The interpreter running this spec ($CXONE_SPEC_LUA: the ASan wrapper under make sanitize).
local INTERP = os.getenv("CXONE_SPEC_LUA") or (arg and arg[-1]) or "lua5.4"

local function collect(n, o)
  local results, count = {}, 0
  o.on_result = function(r) results[r.index] = r; count = count + 1 end
  o.deadline = o.deadline or 30
  local ok, summary = pcall(bulk.batch_update, E.tasks(n), o)
  assert.are.equal(n, count)
  if ok then return summary, nil, results end
  return nil, summary, results
end

describe("TLS", function()
  local dir, good, srv, wrong_name

  lazy_setup(function()
    dir = HS.tmpdir()
    good = HS.self_signed(dir .. "", "localhost")
    os.execute("mkdir -p " .. HS.quote(dir .. "/other"))
    HS.self_signed(dir .. "/other", "other.example")
    srv = HS.start { mode = "ok", tls = good }
    -- A certificate that is trusted (ca_file) but names another host.
    wrong_name = HS.start { mode = "ok", tls = {
      cert = dir .. "/other/cert.pem", key = dir .. "/other/key.pem" } }
  end)

  lazy_teardown(function()
    if srv then srv:stop() end
    if wrong_name then wrong_name:stop() end
    HS.rmdir(dir)
  end)

  local function opts(server, extra)
    local o = { base_url = server.url, client_id = "c", client_secret = "s", workers = 2,
                max_retries = 1, backoff_base = 0.01, backoff_max = 0.02, timeout = 3 }
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end

  it("refuses a self-signed certificate by default, with the reason, and sends nothing", function()
    local summary, err, results = collect(3, opts(srv))
    local seen = srv:requests()
    assert.is_nil(summary)
    assert.matches("SSL certificate problem: self%-signed certificate", err)
    for i = 1, 3 do
      assert.is_false(results[i].ok)
      assert.matches("batch aborted: TLS certificate verification failed", results[i].error)
    end
    assert.are.same({}, seen) -- the handshake failed: not even the token request got through
  end)

  it("a certificate failure stops the whole batch once, naming ca_file, instead of failing each task", function()
    local summary, err = collect(3, opts(srv))
    assert.is_nil(summary)
    assert.matches("certificate", err)
    assert.matches("ca_file", err)
  end)

  it("works with ca_file naming the certificate that signed the server's", function()
    local summary, err = collect(4, opts(srv, { ca_file = good.cert }))
    assert.is_nil(err)
    assert.are.equal(4, summary.succeeded)
    local puts = 0
    for _, r in ipairs(srv:requests()) do if r.method == "PUT" then puts = puts + 1 end end
    assert.are.equal(4, puts)
  end)

  it("checks the host name even when the certificate is trusted", function()
    local summary, err, results = collect(2, opts(wrong_name, { ca_file = dir .. "/other/cert.pem" }))
    assert.is_nil(summary)
    assert.matches("no alternative certificate subject name matches", err)
    assert.is_false(results[1].ok)
    assert.are.same({}, wrong_name:requests())
  end)

  it("a ca_file that cannot be read fails with its path", function()
    local summary, err, results = collect(2, opts(srv, { ca_file = dir .. "/missing.pem" }))
    assert.is_nil(summary)
    assert.matches("certificate file: " .. dir:gsub("%p", "%%%0") .. "/missing%.pem", err)
    assert.is_false(results[1].ok)
  end)

  it("insecure = true must be a boolean, skips verification and warns on stderr", function()
    assert.has_error(function() bulk.describe(E.tasks(1)[1], opts(srv, { insecure = "yes" })) end,
      "cxone.bulk: option 'insecure' must be a boolean (got string)")
    local script = dir .. "/insecure.lua"
    local fh = assert(io.open(script, "wb"))
    fh:write(([[
      local bulk = require "cxone.bulk"
      local s = bulk.batch_update({ { contact_id = "c-1", category = "A", subcategory = "B" } },
        { base_url = %q, client_id = "c", client_secret = "s", insecure = true, timeout = 3 })
      io.stdout:write("succeeded=", s.succeeded, "\n")
    ]]):format(srv.url))
    fh:close()
    local p = io.popen(HS.quote(INTERP) .. " " .. HS.quote(script) .. " 2>" .. HS.quote(dir .. "/stderr"))
    local out = p:read("*a")
    p:close()
    local stderr = HS.slurp(dir .. "/stderr")
    assert.are.equal("succeeded=1\n", out)
    assert.matches("WARNING: TLS certificate verification is disabled %(insecure = true%)", stderr)
  end)

  it("without insecure nothing is printed about TLS", function()
    local script = dir .. "/secure.lua"
    local fh = assert(io.open(script, "wb"))
    fh:write(([[
      local bulk = require "cxone.bulk"
      local s = bulk.batch_update({ { contact_id = "c-1", category = "A", subcategory = "B" } },
        { base_url = %q, client_id = "c", client_secret = "s", ca_file = %q, timeout = 3 })
      io.stdout:write("succeeded=", s.succeeded, "\n")
    ]]):format(srv.url, good.cert))
    fh:close()
    local p = io.popen(HS.quote(INTERP) .. " " .. HS.quote(script) .. " 2>" .. HS.quote(dir .. "/stderr2"))
    local out = p:read("*a")
    p:close()
    assert.are.equal("succeeded=1\n", out)
    assert.are.equal("", HS.slurp(dir .. "/stderr2"))
  end)
end)

describe("plain http://", function()
  local task = E.tasks(1)[1]
  local function describe_with(extra)
    local o = { client_id = "c", client_secret = "s" }
    for k, v in pairs(extra) do o[k] = v end
    return bulk.describe(task, o)
  end

  it("is refused for a non-loopback base_url or token_url, naming the option and the host", function()
    assert.has_error(function() describe_with { base_url = "http://api.example.com" } end,
      "cxone.bulk: option 'base_url' uses plain http:// to api.example.com: credentials and tokens "
      .. "would cross the network in clear; use https:// or set allow_http = true")
    assert.has_error(function()
      describe_with { base_url = "https://api.example.com", token_url = "http://auth.example.com/token" }
    end, "cxone.bulk: option 'token_url' uses plain http:// to auth.example.com: credentials and "
      .. "tokens would cross the network in clear; use https:// or set allow_http = true")
  end)

  it("is refused for look-alike hosts that are not loopback", function()
    for _, url in ipairs { "http://localhost.example.com", "http://127.0.0.1.example.com",
                           "http://127.0.0.1x", "http://evil.example.com@127.0.0.1" } do
      assert.has_error(function() describe_with { base_url = url } end, nil, url)
    end
  end)

  it("is refused when userinfo makes a loopback-looking URL point elsewhere", function()
    assert.has_error(function() describe_with { base_url = "http://127.0.0.1:80@evil.example.com" } end)
    assert.has_error(function()
      describe_with { base_url = "https://api.example.com", token_url = "http://localhost:1@evil.example.com/t" }
    end)
  end)

  it("is allowed to loopback (the mock) and, with allow_http = true, anywhere", function()
    assert.is_table(describe_with { base_url = "http://127.0.0.1:8080" })
    assert.is_table(describe_with { base_url = "http://localhost:8080" })
    assert.is_table(describe_with { base_url = "http://[::1]:8080" })
    local d = describe_with { base_url = "http://api.example.com", allow_http = true }
    assert.are.equal("http://api.example.com/api/v2/contacts/contact-000001", d.url)
  end)

  it("other schemes are refused whatever allow_http says", function()
    for _, url in ipairs { "ftp://127.0.0.1", "file:///etc/passwd", "gopher://127.0.0.1" } do
      assert.has_error(function() describe_with { base_url = url, allow_http = true } end, nil, url)
    end
  end)
end)
