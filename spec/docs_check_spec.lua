-- Every example in README.md and docs/*.md runs as written (`make docs-check`; part of
-- `make test`). Each fenced sh or lua block runs in a scratch directory that reads like the
-- checkout, against a fresh mock, with the environment README.md's "Try it against the mock"
-- tells a reader to set: CXONE_BASE_URL (the mock), the mock's demo credentials, and
-- `eval "$(make -s env)"`. sh blocks run under `sh -e`, lua blocks under lua5.4; a block fails
-- the spec with its file and line. A block preceded by `<!-- docs-check: skip (reason) -->` is
-- not run, and is listed here with its reason.
local Mock = require "spec.helpers.mock"
local U = require "spec.helpers.util"
local D = require "spec.helpers.docs"
local cjson = require "cjson"

local ROOT = (select(2, U.run("pwd")):gsub("%s+$", ""))
-- The mock as README.md's set-up starts it (on a free port instead of 8080).
local MOCK_FLAGS = { "--any-contact", "--quiet" }

-- What the reader's shell holds after the set-up (the base URL is the fresh mock's).
local function reader_env(m)
  return { CXONE_BASE_URL = m.url, CXONE_CLIENT_ID = "demo-client", CXONE_CLIENT_SECRET = "demo-secret" }
end

-- README.md, then docs/*.md in name order.
local function doc_files()
  local files = { "README.md" }
  local _, out = U.run("ls docs/*.md")
  for f in out:gmatch("[^\n]+") do files[#files + 1] = f end
  return files
end

describe("the docs checker", function()
  local dirs = {}
  local function scratch()
    dirs[#dirs + 1] = D.scratch(ROOT)
    return dirs[#dirs]
  end
  lazy_teardown(function() for _, d in ipairs(dirs) do U.rmdir(d) end end)

  it("finds the sh and lua blocks with their lines and skip reasons", function()
    local blocks = D.blocks(table.concat({
      "# T", "", "```sh", "echo one", "```", "text", "<!-- docs-check: skip (needs a real tenant) -->",
      "```lua", "print(2)", "```", "```json", "{}", "```", "  ```bash", "  echo indented", "  ```",
    }, "\n"), "t.md")
    assert.equal(4, #blocks)
    assert.same({ "t.md", 3, "sh", "echo one\n" }, { blocks[1].file, blocks[1].line, blocks[1].lang, blocks[1].code })
    assert.is_nil(blocks[1].skip)
    assert.same({ 8, "lua", "needs a real tenant" }, { blocks[2].line, blocks[2].lang, blocks[2].skip })
    assert.equal("json", blocks[3].lang)
    assert.equal("bash", blocks[4].lang)
    assert.is_nil(blocks[4].skip)
  end)

  it("refuses a marker without a reason, one not right before a fence, and an unclosed fence", function()
    local ok, err = pcall(D.blocks, "a\n<!-- docs-check: skip -->\n```sh\nx\n```\n", "m.md")
    assert.is_false(ok)
    assert.matches("^m%.md:2: a docs%-check marker reads", err)
    ok, err = pcall(D.blocks, "<!-- docs-check: skip (why) -->\n\nsome text\n```sh\nx\n```\n", "m.md")
    assert.is_false(ok)
    assert.matches("^m%.md:1: a docs%-check marker must be the line right before a fenced block", err)
    ok, err = pcall(D.blocks, "```sh\nx\n", "m.md")
    assert.is_false(ok)
    assert.matches("^m%.md:1: the fenced block never ends", err)
  end)

  it("fails a block that fails, naming its file and line, and passes one that runs", function()
    local blocks = D.blocks(table.concat({
      "```sh", "true", "false", "echo never reached", "```",
      "```lua", "error('boom')", "```",
      "```sh", "test -x bin/cxone-bulk && printf '%s' \"$CXONE_BASE_URL\"", "```",
      "```lua", "assert(require('cxone.bulk')._VERSION)", "```",
      "```sh", "sleep 30 &", "```",
    }, "\n"), "x.md")
    local env = { CXONE_BASE_URL = "http://127.0.0.1:1" }
    local ok, msg = D.run(blocks[1], scratch(), ROOT, env)
    assert.is_false(ok)
    assert.matches("^x%.md:1: the sh block failed: exit 1", msg)
    assert.is_nil(msg:find("never reached", 1, true))
    ok, msg = D.run(blocks[2], scratch(), ROOT, env)
    assert.is_false(ok)
    assert.matches("^x%.md:6: the lua block failed: exit 1", msg)
    assert.matches("boom", msg)
    -- The checkout's paths resolve in the scratch directory; the environment is the one given,
    -- and `make -s env` makes the module loadable from there.
    ok, msg = D.run(blocks[3], scratch(), ROOT, env)
    assert.is_true(ok, msg)
    assert.equal("http://127.0.0.1:1", msg)
    ok, msg = D.run(blocks[4], scratch(), ROOT, env)
    assert.is_true(ok, msg)
    -- A block that leaves a process behind fails, and the process is stopped.
    local t0 = os.time()
    ok, msg = D.run(blocks[5], scratch(), ROOT, env)
    assert.is_false(ok)
    assert.matches("^x%.md:15: the sh block failed: it left processes running", msg)
    assert.is_true(os.time() - t0 < 10)
  end)
end)

describe("README.md's set-up", function()
  it("gives a reader exactly the environment every block runs with", function()
    local setup
    for _, b in ipairs(D.file_blocks("README.md")) do
      if b.code:find('eval "$(make -s env)"', 1, true) then setup = b end
    end
    assert.is_table(setup, "README.md must show how to set up the environment the examples use")
    assert.matches("build/cxone%-mock ", setup.code)
    local exported = {}
    for name, value in setup.code:gmatch("([%u_]+)=(%S+)") do exported[name] = value end
    local want = reader_env({ url = "http://127.0.0.1:8080" })
    for name, value in pairs(want) do assert.equal(value, exported[name], name) end
    for name in pairs(exported) do assert.is_truthy(want[name], "the spec does not set " .. name) end
  end)
end)

describe("every outcome in the docs and in --help", function()
  it("is one the mock's hierarchy has", function()
    local m = Mock.start { "--rate", "0" }
    finally(function() m:stop() end)
    local status, body = m:request("GET", "/api/v2/contact/outcomes",
      { headers = { Authorization = "Bearer " .. m:token() } })
    assert.equal(200, status, body)
    local known = {}
    for _, c in ipairs(cjson.decode(body).categories) do
      for _, s in ipairs(c.subcategories) do known[c.name .. " / " .. s.name] = true end
    end
    local texts = { ["cxone-bulk --help"] = require("cxone.bulk.args").usage() }
    for _, f in ipairs(doc_files()) do texts[f] = U.read_file(f) end
    local patterns = {
      '"category"%s*:%s*"([^"]*)"%s*,%s*"subcategory"%s*:%s*"([^"]*)"',
      'category%s*=%s*"([^"]*)"%s*,%s*subcategory%s*=%s*"([^"]*)"',
      '%-%-category%s+"([^"]*)"%s+%-%-subcategory%s+"([^"]*)"',
      '%-%-category%s+(%u[^%s"]*)%s+%-%-subcategory%s+"([^"]*)"',
      '%-%-category%s+(%u[^%s"]*)%s+%-%-subcategory%s+(%u[^%s"]*)',
    }
    local seen = 0
    for name, text in pairs(texts) do
      for _, p in ipairs(patterns) do
        for cat, sub in text:gmatch(p) do
          -- "..." and NAME are placeholders
          if not (cat .. sub):match("^[.…%s]*$") and not (cat .. sub):match("^%u+$") then
            seen = seen + 1
            assert.is_truthy(known[cat .. " / " .. sub], ('%s uses "%s / %s", which the mock refuses'):format(name, cat, sub))
          end
        end
      end
    end
    assert.is_true(seen >= 5, "found only " .. seen .. " outcomes")
  end)
end)

describe("docs example", function()
  for _, file in ipairs(doc_files()) do
    for _, block in ipairs(D.file_blocks(file)) do
      local where = ("%s:%d (%s)"):format(block.file, block.line, block.lang ~= "" and block.lang or "no language")
      if block.skip and D.RUN[block.lang] then
        it(where .. " is not run: " .. block.skip, function()
          assert.is_true(#block.skip > 3)
        end)
      elseif block.skip then
        error(("%s:%d: a skip marker on a %s block, which is never run anyway"):format(block.file, block.line,
          block.lang ~= "" and block.lang or "plain"), 0)
      elseif D.RUN[block.lang] then
        it(where .. " runs against a fresh mock", function()
          local m = Mock.start(MOCK_FLAGS)
          local dir = D.scratch(ROOT)
          finally(function()
            m:stop()
            U.rmdir(dir)
          end)
          local ok, msg = D.run(block, dir, ROOT, reader_env(m))
          assert(ok, msg)
        end)
      end
    end
  end
end)
