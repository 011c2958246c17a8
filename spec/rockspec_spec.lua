-- The rockspec as a user runs it on Debian 12 (README.md, "Build, test, layout"):
-- `luarocks --lua-version=5.4 make --deps-mode=none` from the root of the checkout installs a
-- working module and CLI; run from anywhere else it fails before touching an installed version;
-- its source URL names no host that does not exist.
local U = require "spec.helpers.util"

local ROCKSPEC = "rockspec/cxone-bulk-0.1.0-1.rockspec"
local ROOT = (select(2, U.run("pwd")):gsub("%s+$", ""))

-- Runs luarocks for Lua 5.4 into `tree` from directory `cwd`; returns ok, output.
local function make_rock(cwd, tree, rockspec)
  return U.run(("cd %s && luarocks --lua-version=5.4 make --deps-mode=none --tree %s %s"):format(
    U.quote(cwd), U.quote(tree), U.quote(rockspec)))
end

-- What the installed tree answers: the CLI's --version and the module's _VERSION.
local function installed(tree)
  return U.run(('eval "$(luarocks --lua-version=5.4 path --tree %s)" && cd /tmp && %s/bin/cxone-bulk --version '
    .. '&& lua5.4 -e \'print("module " .. require("cxone.bulk")._VERSION)\''):format(U.quote(tree), U.quote(tree)))
end

describe("the rockspec", function()
  local dir
  lazy_setup(function() dir = U.tmpdir("rock-spec") end)
  lazy_teardown(function() U.rmdir(dir) end)

  it("names no source host that does not exist", function()
    local text = U.read_file(ROCKSPEC)
    local url = text:match('\nsource%s*=%s*{%s*url%s*=%s*"([^"]*)"')
    assert.equal("file://.", url)
    assert.is_nil(text:find("example%.") or text:find("%.invalid"), "a placeholder host is left")
  end)

  it("installs a working module and CLI from the root of the checkout", function()
    local tree = dir .. "/tree"
    local ok, out = make_rock(ROOT, tree, ROCKSPEC)
    assert.is_true(ok, out)
    assert.matches("is now installed in", out)
    ok, out = installed(tree)
    assert.is_true(ok, out)
    assert.matches("cxone%-bulk 0%.1%.0\nmodule 0%.1%.0", out)
  end)

  it("run from outside the checkout, fails before removing what is installed", function()
    local tree = dir .. "/tree"
    assert.is_true(U.exists(tree .. "/lib/lua/5.4/cxone/bulk/core.so"), "the previous test installs first")
    local ok, out = make_rock("/tmp", tree, ROOT .. "/" .. ROCKSPEC)
    assert.is_false(ok, out)
    assert.matches("RUN_FROM_THE_CXONE_BULK_SOURCE_ROOT", out)
    for _, f in ipairs({ "/lib/lua/5.4/cxone/bulk/core.so", "/share/lua/5.4/cxone/bulk.lua",
      "/share/lua/5.4/cxone/bulk/cli.lua", "/bin/cxone-bulk" }) do
      assert.is_true(U.exists(tree .. f), f .. " was removed")
    end
    ok, out = installed(tree)
    assert.is_true(ok, out)
    assert.matches("module 0%.1%.0", out)
  end)
end)
