-- Issue 20 item 13: `make test` on a fresh tree ran "455 passed, 0 failed" while the four nginx
-- specs had skipped themselves (the LuaJIT module they look for was never built). Every spec run
-- now counts skips in its closing line and fails when a spec that must run did not; the nginx
-- helper builds the module before it decides whether nginx can run.
local U = require "spec.helpers.util"
local N = require "spec.helpers.nginx"

local LUA = jit and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+"))
local BUILD = "build/" .. LUA

describe(".ci/run-specs", function()
  local dir
  before_each(function() dir = U.tmpdir("run-specs") end)
  after_each(function() U.rmdir(dir) end)

  -- Runs .ci/run-specs on a spec file with `body`; returns ok, output.
  local function run_specs(body, env)
    local file = dir .. "/fixture_spec.lua"
    U.write_file(file, body)
    return N.run(string.format("env %s sh .ci/run-specs %s %s %s", env or "", LUA, BUILD, U.quote(file)))
  end

  local WITH_SKIP = [[
describe("fixture", function()
  it("runs", function() assert.is_true(true) end)
  describe("needs a tool", function() pending("the tool is not installed") end)
end)
]]

  it("counts a skip in the closing line and fails the run, naming the reason", function()
    local ok, out = run_specs(WITH_SKIP)
    assert.is_false(ok, out)
    assert.matches(LUA .. ": 1 passed, 0 failed, 1 skipped\n", out, 1, true)
    assert.matches("skipped: fixture needs a tool the tool is not installed", out, 1, true)
    assert.matches("SPEC_ALLOW_SKIP=1", out, 1, true)
  end)

  it("SPEC_ALLOW_SKIP=1 reports the skip without failing", function()
    local ok, out = run_specs(WITH_SKIP, "SPEC_ALLOW_SKIP=1")
    assert.is_true(ok, out)
    assert.matches(LUA .. ": 1 passed, 0 failed, 1 skipped\n", out, 1, true)
  end)

  it("a run without skips says 0 skipped", function()
    local ok, out = run_specs('it("runs", function() assert.is_true(true) end)')
    assert.is_true(ok, out)
    assert.matches(LUA .. ": 1 passed, 0 failed, 0 skipped\n", out, 1, true)
  end)
end)

describe("the nginx spec helper on a fresh tree", function()
  it("builds the LuaJIT module nginx loads before it decides whether nginx can run", function()
    if not U.exists("/usr/sbin/nginx") then
      pending("nginx is not installed (apt-get install nginx libnginx-mod-http-lua)")
      return
    end
    local dir = U.tmpdir("fresh-tree")
    finally(function() U.rmdir(dir) end)
    -- What a clone holds (no build/): the sources, the build rules and the helpers.
    assert(U.run(string.format("cp -r Makefile mk src lua spec examples %s/", U.quote(dir))))
    local ok, out = N.run(string.format("cd %s && LUA_PATH='lua/?.lua;./?.lua;;' LUA_CPATH=';;' %s -e %s",
      U.quote(dir), LUA, U.quote('print(require("spec.helpers.nginx").available())')))
    assert.is_true(ok, out)
    assert.matches("^true", out)
    assert.is_true(U.exists(dir .. "/build/luajit/cxone/bulk/core.so"), out)
  end)
end)
