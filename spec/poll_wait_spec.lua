-- job:poll with waits that do not fit a time_t (math.huge, 1e300) and config numbers the C core
-- cannot represent. A poll that deadlocks would hang the suite, so the waits run in a child
-- interpreter under `timeout 20`: a regression fails with exit 124 instead of hanging.
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local core = require "cxone.bulk.core"

-- Runs `code` in a child interpreter with the spec's module paths; returns exit code, output.
local function child(code, seconds)
  local dir = C.tmpdir()
  local script = C.write(dir .. "/child.lua", code)
  local p = io.popen(("timeout -k 5 %d %s %s 2>&1; echo \"rc=$?\""):format(seconds, C.LUA, C.quote(script)))
  local out = p:read("*a")
  p:close()
  C.rmdir(dir)
  return tonumber(out:match("rc=(%d+)%s*$")), out
end

describe("job:poll with huge waits", function()
  local m = Mock.shared { "--rate", "0", "--latency-ms", "20" }

  for _, wait in ipairs { "math.huge", "1e300", "2^63" } do
    it("poll(" .. wait .. ") returns results as they come and the job finishes", function()
      m:reset()
      local code = ([[
        local bulk = require "cxone.bulk"
        local tasks = {}
        for i = 1, 40 do
          tasks[i] = { contact_id = ("contact-%%06d"):format(i), category = "Contacted",
                       subcategory = "Information Provided" }
        end
        local job = bulk.start(tasks, { base_url = %q, client_id = "demo-client",
          client_secret = "demo-secret", workers = 4, rate = 5000, burst = 200, timeout = 5 })
        local got, polls = 0, 0
        while not job:done() do
          local rs = job:poll(%s)
          polls = polls + 1
          for _, r in ipairs(rs) do if r.ok then got = got + 1 end end
        end
        job:close()
        print(("got=%%d polls=%%d"):format(got, polls))
      ]]):format(m.url, wait)
      local rc, out = child(code, 20)
      assert.are.equal(0, rc, out)
      assert.matches("got=40 ", out)
      -- Server side: every PUT arrived exactly once.
      assert.are.equal(40, m:stats().distinct_mutated)
    end)
  end

  it("an infinite poll on a finished job returns at once", function()
    local rc, out = child(([[
      local bulk = require "cxone.bulk"
      local job = bulk.start({}, { base_url = %q, client_id = "demo-client", client_secret = "demo-secret" })
      local t0 = bulk.sys.monotime()
      local rs = job:poll(math.huge)
      print(("n=%%d took=%%.3f done=%%s"):format(#rs, bulk.sys.monotime() - t0, tostring(job:done())))
      job:close()
    ]]):format(m.url), 20)
    assert.are.equal(0, rc, out)
    assert.matches("n=0 ", out)
    assert.matches("done=true", out)
    assert.is_true(tonumber(out:match("took=([%d.]+)")) < 5, out)
  end)
end)

-- A complete core config the way bulk.lua builds it: every core option's declared default.
local function core_defaults()
  -- url_prefix is not an option: the facade hands the core the contacts' URL prefix it builds.
  local o = { token_url = "http://127.0.0.1:9/oauth2/token", client_id = "c", client_secret = "s", url_prefix = "" }
  for _, decl in ipairs(require("cxone.bulk.options").LIST) do
    if decl.core and decl.default ~= nil then o[decl.name] = decl.default end
  end
  for _, decl in ipairs(require("cxone.bulk.options").LIST) do
    if decl.core and decl.derive then o[decl.name] = decl.derive(o) end
  end
  require("cxone.bulk.live").core_config(o, o) -- rate: the start rate, rate_auto, max_rate
  return o
end

describe("core.new_job holds no defaults of its own", function()
  local required = {}
  for k in pairs(core_defaults()) do required[#required + 1] = k end
  table.sort(required)
  for _, name in ipairs(required) do
    it("refuses a config without '" .. name .. "'", function()
      local o = core_defaults()
      o[name] = nil
      local ok, err = pcall(core.new_job, o)
      if ok then err:close() end
      assert.is_false(ok, name .. " was filled in by the core")
      assert.matches("option '" .. name .. "'", tostring(err), 1, true)
    end)
  end

  it("accepts the absence of the options that have no default (ca_file, shared_limit)", function()
    local job = core.new_job(core_defaults())
    job:close()
  end)
end)

describe("core.new_job refuses numbers it cannot represent", function()
  local base = core_defaults()
  local function with(k, v)
    local o = {}
    for key, val in pairs(base) do o[key] = val end
    o[k] = v
    return o
  end
  local cases = {
    { "max_retries", 2 ^ 31 }, { "max_retries", -1 }, { "max_retries", 1.5 }, { "max_retries", 0 / 0 },
    { "workers", 0 }, { "workers", 2 ^ 40 }, { "workers", math.huge },
    { "timeout", -1 }, { "timeout", 0 }, { "timeout", 0 / 0 }, { "timeout", math.huge },
    { "connect_timeout", -0.5 }, { "connect_timeout", math.huge },
    { "rate", 0 / 0 }, { "rate", -1 }, { "rate", math.huge }, { "burst", 0 / 0 },
    { "backoff_base", -1 }, { "backoff_max", math.huge }, { "pause_threshold", 0 / 0 },
    { "queue_size", -1 }, { "queue_size", 0 }, { "queue_size", 2 ^ 70 }, { "queue_size", 0.5 },
  }
  for _, c in ipairs(cases) do
    it(("%s = %s"):format(c[1], tostring(c[2])), function()
      local ok, err = pcall(core.new_job, with(c[1], c[2]))
      assert.is_false(ok)
      assert.matches("option '" .. c[1] .. "'", tostring(err), 1, true)
    end)
  end

  it("accepts the edges of every range (and a sub-millisecond timeout)", function()
    for _, o in ipairs { with("max_retries", 1000000), with("max_retries", 0), with("timeout", 0.0004),
                         with("workers", 1), with("queue_size", 1), with("pause_threshold", 0) } do
      local job = core.new_job(o)
      job:close()
    end
  end)
end)

describe("a sub-millisecond timeout", function()
  it("is refused by the library, naming the option", function()
    local bulk = require "cxone.bulk"
    local ok, err = pcall(bulk.start, {}, { base_url = "http://127.0.0.1:1", client_id = "c",
      client_secret = "s", timeout = 0.0004 })
    assert.is_false(ok)
    assert.matches("option 'timeout' must be a number >= 0.001", err, 1, true)
  end)

  it("given to the C core directly, is 1 ms at libcurl, not 0 (which would mean no timeout at all)", function()
    local bulk = require "cxone.bulk"
    local HS = require "spec.helpers.hostile"
    local tok = HS.start { mode = "ok" }
    local api = HS.start { mode = "silent" } -- reads the request and never answers
    -- Stopped even when an assertion fails: a silent server left running would block the
    -- collector's close of its pipe, and with it the whole spec run.
    finally(function()
      api:stop()
      tok:stop()
    end)
    local o = core_defaults()
    o.token_url, o.scope, o.workers, o.rate, o.burst = tok.url .. "/oauth2/token", "contact:update", 1, 100, 10
    o.max_retries, o.backoff_base, o.backoff_max, o.timeout, o.connect_timeout = 0, 0, 0, 0.0004, 1
    o.url_prefix = api.url .. "/api/v2/contacts/"
    local job = core.new_job(o)
    local t0 = bulk.sys.monotime()
    assert.is_true(job:submit { index = 1, shape = "tutorial", id = "c-1", category = "A", subcategory = "B" })
    job:close_input()
    local results = {}
    while #results == 0 and bulk.sys.monotime() - t0 < 8 do
      for _, r in ipairs(job:take(0.5)) do results[#results + 1] = r end
    end
    local took = bulk.sys.monotime() - t0
    job:close()
    assert.are.equal(1, #results)
    assert.matches("timed out", results[1].error)
    assert.is_true(took < 6, "took " .. took .. " s")
  end)
end)
