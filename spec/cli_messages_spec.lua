-- What an operator reads when something is wrong: no source path of ours in an option or
-- limiter error, long messages cut between words and bounded, long lists summarised, the real
-- problem named (a field over the record limit is not an "unclosed quote"), the real figures
-- (--shared-limit-timeout 1 reports about 1 s), and a broken shared limit file reset at once,
-- with the warning docs/limiter.md promises.
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local U = require "spec.helpers.util"
local text = require "cxone.bulk.text"
local summary = require "cxone.bulk.summary"

-- The "cxone-bulk: stopped: ..." line of stderr.
local function stop_line(err)
  return err:match("cxone%-bulk: stopped: ([^\n]*)")
end

-- A message that ends in "..." was cut right after a whole word of `full`.
local function cut_between_words(shown, full)
  local kept = shown:match("^(.-)%.%.%.$")
  if not kept then return shown == full end
  local after = full:sub(#kept + 1, #kept + 1)
  return full:sub(1, #kept) == kept and (after == "" or after:match("[%s,;:]") ~= nil)
end

describe("messages", function()
  local m, dir
  m = Mock.shared { "--rate", "0", "--any-contact" }
  lazy_setup(function()
    dir = C.tmpdir()
  end)
  lazy_teardown(function()
    C.rmdir(dir)
  end)

  local function run(list, opts)
    return C.run(C.args(m, list), opts)
  end

  local function input()
    return C.write(dir .. "/one.csv", "contact_id,category,subcategory\nc1,Not Contacted,Busy\n")
  end

  it("an option or limiter error from the core shows no source path, in the CLI and the library", function()
    for url, want in pairs({ ["redis://"] = "%-%-shared%-limit: not a valid redis:// URL",
      ["a/b"] = "shared limit name 'a/b' has a character outside" }) do
      local code, _, err = run({ "--shared-limit", url, "-o", "/dev/null", input() })
      assert.is_true(code >= 2, err) -- a usage or limiter error (its exit code is not this spec's)
      local line = stop_line(err)
      assert.is_truthy(line, err)
      assert.matches("^" .. want, line)
      assert.is_nil(err:find("%.lua:%d+:"), err)
    end
    local bulk = require "cxone.bulk"
    local ok, err = pcall(bulk.start, {}, { base_url = m.url, client_id = "demo-client",
      client_secret = "demo-secret", shared_limit = "a/b" })
    assert.is_false(ok)
    assert.is_nil(tostring(err):find("%.lua:%d+:"), err)
  end)

  it("a shared limit created with another rate names both rates, without a source path", function()
    local name = ("msg-spec-%d-%d"):format(os.time(), math.random(1e6))
    finally(function() os.remove("/dev/shm/cxone-bulk-limit." .. name) end)
    local code, _, err = run({ "--shared-limit", name, "--rate", "45", "-o", "/dev/null", input() })
    assert.equal(0, code, err)
    code, _, err = run({ "--shared-limit", name, "--rate", "30", "-o", "/dev/null", input() })
    assert.is_true(code >= 2, err)
    assert.matches("^shared limit '" .. name:gsub("%-", "%%-") .. "' was created with rate 45/s burst 100; "
      .. "this process asked for rate 30/s burst 100", stop_line(err))
    assert.is_nil(err:find("%.lua:%d+:"), err)
  end)

  it("--shared-limit-timeout 1 reports the second it waited, not the next backoff step", function()
    local t0 = U.now and U.now() or os.time()
    local code, _, err = run({ "--shared-limit", "redis://127.0.0.1:1/0?key=msg-spec",
      "--shared-limit-timeout", "1", "-o", "/dev/null", input() })
    assert.is_true(code >= 2, err)
    local secs = stop_line(err):match("Redis unreachable for ([%d.]+) s")
    assert.is_truthy(secs, err)
    assert.is_true(tonumber(secs) >= 1 and tonumber(secs) < 1.5, "reported " .. secs .. " s")
    assert.is_true((U.now and U.now() or os.time()) - t0 < 5)
  end)

  it("a 0-byte shared limit file is reset at once, with a warning, and the run goes on", function()
    local name = ("msg-spec-empty-%d-%d"):format(os.time(), math.random(1e6))
    local path = "/dev/shm/cxone-bulk-limit." .. name
    finally(function() os.remove(path) end)
    -- What a creator that died before sizing it leaves behind, a minute ago.
    assert(os.execute("umask 077 && : > " .. U.quote(path) .. " && touch -d '-60 seconds' " .. U.quote(path)))
    local started = os.time()
    local code, _, err = run({ "--shared-limit", name, "-o", "/dev/null", input() })
    assert.equal(0, code, err)
    assert.matches("warning: shared limit '" .. name:gsub("%-", "%%-") .. "': state file " .. path:gsub("[%-%.]", "%%%0")
      .. " was never initialised %(its creator died%); reset it", err)
    assert.is_true(os.time() - started <= 1, "the reset waited")
  end)

  it("100,000 unknown columns: one short warning with the count and the first few", function()
    local names = {}
    for i = 1, 100000 do names[i] = "extra" .. i end
    local path = C.write(dir .. "/wide.csv", "contact_id,category,subcategory," .. table.concat(names, ",")
      .. "\nc1,Not Contacted,Busy" .. (","):rep(100000) .. "\n")
    local code, _, err = run({ "--dry-run", "-o", "/dev/null", path })
    assert.equal(0, code, err)
    assert.matches("ignoring unknown CSV column%(s%): extra1, extra2, extra3, extra4, extra5 and 99,995 more\n", err)
    for line in err:gmatch("[^\n]+") do assert.is_true(#line <= 200, #line .. " columns: " .. line:sub(1, 100)) end
  end)

  it("a message quoting a 100,000-column header is bounded and cut between words", function()
    local names = {}
    for i = 1, 100000 do names[i] = "col" .. i end
    local path = C.write(dir .. "/noid.csv", table.concat(names, ",") .. "\n1,2\n")
    local code, _, err = run({ "--dry-run", "-o", "/dev/null", path })
    assert.equal(2, code, err)
    local line = err:match("cxone%-bulk: ([^\n]*)")
    assert.is_true(#line <= 1000, #line .. " bytes")
    assert.matches("%.%.%.$", line)
    assert.matches("[%w)]%.%.%.$", line) -- a whole name, then the dots
    assert.matches("col%d+%.%.%.$", line)
  end)

  it("a field over the record limit without quotes is named as such, with its line", function()
    local path = dir .. "/big.csv"
    local f = assert(io.open(path, "wb"))
    f:write("contact_id,category,subcategory\nc1,Contacted,", ("x"):rep(2 * 1024 * 1024), "\nc2,Not Contacted,Busy\n")
    f:close()
    local code, out, err = run({ "--dry-run", "-o", "-", path })
    assert.equal(1, code, err)
    assert.matches("line 2: field 3 is longer than 1048576 bytes, the limit for one record; skipped to the next line", err)
    assert.is_nil(err:find("unclosed quote", 1, true), err)
    assert.matches('"line":3', out) -- the next row is read
    -- An unclosed quote is still called one.
    f = assert(io.open(path, "wb"))
    f:write('contact_id,category,subcategory\nc1,Contacted,"', (("x"):rep(1023) .. "\n"):rep(1100), "c2,Not Contacted,Busy\n")
    f:close()
    local _, _, err2 = run({ "--dry-run", "-o", "/dev/null", path })
    assert.matches("line 2: record longer than 1048576 bytes %(unclosed quote%?%)", err2)
  end)

  it("the summary's example message is cut between words", function()
    local long = ("the server said something rather long about contact xxxxx; "):rep(20)
    local t = summary.new()
    t:add({ ok = false, status = 400, error = long, line = 7, contact_id = "c1" })
    local shown = t:render(nil, 1, {}):match("e%.g%. line 7 contact c1: ([^\n]*)")
    assert.is_truthy(shown)
    assert.is_true(#shown <= summary.EXAMPLE_MAX, #shown .. " bytes")
    assert.is_true(cut_between_words(shown, long), shown)
  end)

  it("text.shorten never cuts a word or a UTF-8 sequence, and text.list counts what it leaves out", function()
    local s = "Redis unreachable for 30 s (connect: Connection refused); no request was sent"
    for max = 10, #s do
      local got = text.shorten(s, max)
      assert.is_true(#got <= max, max .. ": " .. got)
      assert.is_true(cut_between_words(got, s) or #got == max, max .. ": " .. got)
    end
    assert.equal(s, text.shorten(s, #s))
    local word = ("é"):rep(40)
    local got = text.shorten(word, 21)
    assert.equal(("é"):rep(9) .. "...", got)
    assert.equal("a, b", text.list({ "a", "b" }))
    assert.equal("n1, n2, n3, n4, n5 and 1,995 more", text.list((function()
      local t = {}
      for i = 1, 2000 do t[i] = "n" .. i end
      return t
    end)()))
  end)
end)
