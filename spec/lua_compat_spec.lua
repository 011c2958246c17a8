-- Smoke spec for every Lua ABI (5.1, 5.2, 5.3, 5.4, LuaJIT): the module loads into this
-- interpreter, the compat shims behave, and a small real batch runs against the mock.
-- `make matrix-smoke` runs it under lua5.2 and lua5.3; the full suite covers it elsewhere.
local bulk = require "cxone.bulk"
local core = require "cxone.bulk.core"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"

local is_jit = rawget(_G, "jit") ~= nil
local version = is_jit and jit.version or _VERSION

-- Lua 5.3+ has an integer subtype; counters must be integers there, plain numbers before.
local function is_whole(v)
  if math.type then return math.type(v) == "integer" end
  return type(v) == "number" and v == math.floor(v)
end

describe("cxone.bulk on " .. version, function()
  it("loads the core built for this interpreter, without liblua linked in", function()
    assert.is_string(core.curl_version)
    assert.matches("^libcurl/", core.curl_version)
    local path = package.searchpath and package.searchpath("cxone.bulk.core", package.cpath)
    if path then
      local p = io.popen("ldd " .. path)
      local deps = p:read("*a")
      p:close()
      assert.is_nil(deps:find("liblua", 1, true), "core.so links liblua: " .. deps)
      assert.is_nil(deps:find("libluajit", 1, true), "core.so links libluajit: " .. deps)
    end
  end)

  it("sys helpers: monotonic clock, pid, fsync and isatty on a Lua file handle", function()
    local t1 = bulk.sys.monotime()
    local t2 = bulk.sys.monotime()
    assert.is_true(t2 >= t1)
    assert.is_true(is_whole(bulk.sys.getpid()))
    assert.is_true(bulk.sys.getpid() > 1)
    local name = os.tmpname()
    local f = assert(io.open(name, "w"))
    f:write("x")
    assert.is_true(bulk.sys.fsync(f))
    assert.is_false(bulk.sys.isatty(f))
    f:close()
    os.remove(name)
    assert.has_error(function() bulk.sys.fsync(f) end)
    assert.has_error(function() bulk.sys.fsync("not a file") end)
  end)

  it("describe: same body and key derivation on every ABI", function()
    local d = bulk.describe({ contact_id = "a/b", category = "Contacted", subcategory = "Sale" },
      { base_url = "https://example.invalid", batch_id = "b1" })
    assert.are.equal("https://example.invalid/api/v2/contacts/a%2Fb", d.url)
    assert.are.equal('{"outcome":{"category":"Contacted","subcategory":"Sale"}}', d.body)
    assert.are.equal(core.derive_key("b1", "a/b", d.body), d.idempotency_key)
    assert.are_not.equal(core.derive_key("b2", "a/b", d.body), d.idempotency_key)
  end)

  it("rejects bad options with the option's name", function()
    assert.has_error(function() bulk.start({}, { workers = 0, client_id = "x", client_secret = "y" }) end,
      "cxone.bulk: option 'workers' must be an integer >= 1 and <= 256 (got number 0)")
  end)

  describe("against the mock", function()
    local m = Mock.shared { "--rate", "0", "--contacts", "50" }

    it("runs a 50-task batch: results and counters have the right types", function()
      local summary, results, count = H.run(H.tasks(50), H.opts(m, { workers = 4 }))
      assert.are.equal(50, count)
      assert.are.equal(50, summary.succeeded)
      for _, k in ipairs { "total", "succeeded", "failed", "requests", "retried" } do
        assert.is_true(is_whole(summary[k]), k .. " is not a whole number")
      end
      local r = results[1]
      assert.is_true(is_whole(r.index))
      assert.is_true(is_whole(r.status))
      assert.are.equal(200, r.status)
      assert.is_true(r.ok)
      assert.are.equal(50, m:stats().distinct_mutated)
    end)

    it("poll(0) never waits; close() joins; a closed job says so", function()
      local job = bulk.start(H.tasks(20), H.opts(m))
      local got, longest = 0, 0
      while not job:done() do
        local t0 = bulk.sys.monotime()
        got = got + #job:poll(0)
        longest = math.max(longest, bulk.sys.monotime() - t0)
      end
      job:close()
      job:close()
      assert.are.equal(20, got)
      assert.is_true(longest < 0.05, "poll(0) took " .. longest .. " s")
      assert.has_error(function() job:poll(0) end, "cxone.bulk: job is closed")
    end)

    it("two jobs naming one shared limit share it; a different rate is reported", function()
      local name = string.format("compat-%d-%d", bulk.sys.getpid(), os.time())
      local path = "/dev/shm/cxone-bulk-limit." .. name
      finally(function() os.remove(path) end)
      local a = bulk.start(H.tasks(5), H.opts(m, { shared_limit = name, rate = 100, burst = 5 }))
      local b = bulk.start(H.tasks(5, 6), H.opts(m, { shared_limit = name, rate = 100, burst = 5 }))
      local ok, err = pcall(bulk.start, H.tasks(1), H.opts(m, { shared_limit = name, rate = 30, burst = 5 }))
      assert.is_false(ok)
      assert.matches("rate 100/s burst 5", err)
      assert.matches("rate 30/s burst 5", err)
      for _, job in ipairs { a, b } do
        while not job:done() do job:poll(0.1) end
        assert.are.equal(5, job:summary().succeeded)
        job:close()
      end
      local f = io.open(path, "rb")
      assert.is_truthy(f, "the shared limit lives in " .. path)
      f:close()
    end)
  end)
end)
