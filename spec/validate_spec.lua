-- One validator (issue 12 §3): a task's fields and its outcome_code are checked in one place,
-- lua/cxone/bulk/validate.lua. The library says why with "task: " in front, the CLI's row reader
-- with its line number; for the same bad value the words between are the same.
local bulk = require "cxone.bulk"
local input = require "cxone.bulk.input"
local U = require "spec.helpers.util"

local HINT = ': save the file as "CSV UTF-8", or give --encoding cp1252 (or latin1)'
local GOOD = { contact_id = "c-1", category = "C", subcategory = "S" }
local GOOD_CXONE = { contact_id = "c-1", skill = "1001", disposition_code = "2" }

-- base with the fields of delta laid over it.
local function with(base, delta)
  local t = {}
  for k, v in pairs(base) do t[k] = v end
  for k, v in pairs(delta) do t[k] = v end
  return t
end

-- The library's reason for task, without its "task: " label; nil when the task is valid.
local function library_says(task, map, api)
  local ok, err = bulk.validate_task(task, map, api)
  if ok then return nil end
  assert.matches("^task: ", err)
  return (err:gsub("^task: ", ""))
end

local function csv_cell(v)
  return '"' .. tostring(v or ""):gsub('"', '""') .. '"'
end

-- Reads tasks (each with every field of `columns`) through the CLI's row reader as one CSV
-- file; returns each row's error (false when valid), in order.
local function cli_says(columns, tasks, opts)
  local lines = { table.concat(columns, ",") }
  for i, t in ipairs(tasks) do
    local cells = {}
    for j, c in ipairs(columns) do cells[j] = csv_cell(t[c]) end
    lines[i + 1] = table.concat(cells, ",")
  end
  local path = U.write_file(os.tmpname(), table.concat(lines, "\n") .. "\n")
  opts = opts or {}
  opts.format, opts.warn = "csv", function() end
  local inp, err = input.open(path, opts)
  os.remove(path)
  assert(inp, err)
  local errors = {}
  for i = 1, #tasks do
    local row = assert(inp:next(), "row " .. i)
    errors[i] = row.error or false
  end
  assert.is_nil(inp:next())
  inp:close()
  return errors
end

describe("the library's task checks", function()
  local function says(delta, map, api)
    return library_says(with(api == "cxone" and GOOD_CXONE or GOOD, delta), map, api)
  end

  it("refuse bytes that are not UTF-8 and C1 controls, naming the byte or code point", function()
    assert.equal("contact_id is not valid UTF-8 (byte 0xE9)", says({ contact_id = "caf\233" }))
    assert.equal("category is not valid UTF-8 (byte 0xC3)", says({ category = "\195(" }))
    assert.equal("subcategory contains control character U+009B", says({ subcategory = "x\194\155[2J" }))
    assert.equal("contact_id contains control character 0x0A", says({ contact_id = "a\nb" }))
    assert.equal("contact_id contains control character 0x7F", says({ contact_id = "a\127" }))
    assert.is_nil(says({ category = "Contacté", subcategory = "Rappel demandé – 9h" }))
  end)

  it("refuse a contact_id with leading or trailing white space", function()
    assert.equal("contact_id has leading or trailing white space", says({ contact_id = " 42" }))
    assert.equal("contact_id has leading or trailing white space", says({ contact_id = "42 " }))
    assert.is_nil(says({ contact_id = "4 2" }))
  end)

  it("tell missing, empty and non-string fields apart", function()
    assert.equal("contact_id is missing", library_says({ category = "C", subcategory = "S" }))
    assert.equal("contact_id must be a string (got boolean)", says({ contact_id = false }))
    assert.equal("category is missing", library_says({ contact_id = "c-1", subcategory = "S" }))
    assert.equal("subcategory is empty", says({ subcategory = "" }))
    assert.equal("category must be a string (got number)", says({ category = 7 }))
    assert.equal("expected a table, got string", library_says("c-1"))
  end)

  it("check a given idempotency_key", function()
    assert.equal("idempotency_key contains a control character or a non-ASCII byte", says({ idempotency_key = "k\1" }))
    assert.equal("idempotency_key contains a control character or a non-ASCII byte", says({ idempotency_key = "clé" }))
    assert.equal("idempotency_key must be 1-255 visible ASCII characters", says({ idempotency_key = "a b" }))
    assert.equal("idempotency_key must be 1-255 visible ASCII characters", says({ idempotency_key = ("k"):rep(256) }))
    assert.equal("idempotency_key must be 1-255 visible ASCII characters", says({ idempotency_key = "" }))
    assert.is_nil(says({ idempotency_key = ("k"):rep(255) }))
  end)

  it("map an outcome_code through outcome_map, and say which map is missing or lacks it", function()
    local map = { ["CNT-INFO"] = { category = "Contacted", subcategory = "Information Provided" } }
    local task = { contact_id = "c-1", outcome_code = "CNT-INFO" }
    assert.is_true(bulk.validate_task(task, map))
    assert.equal('unknown outcome_code "NOPE" (not in outcome_map)',
      library_says({ contact_id = "c-1", outcome_code = "NOPE" }, map))
    assert.equal("outcome_code needs outcome_map", library_says(task, nil))
    assert.equal("outcome_code must be a string (got number)", library_says({ contact_id = "c-1", outcome_code = 7 }, map))
    -- Fields given win over the code (it is not looked up at all).
    assert.is_nil(library_says(with(GOOD, { outcome_code = "NOPE" }), map))
  end)

  it("do the same for the cxone profile: skill and disposition_code, optional fields checked when given", function()
    local map = { CB = { skill = "1001", disposition_code = "Callback Requested" } }
    assert.is_true(bulk.validate_task({ contact_id = "c-1", outcome_code = "CB" }, map, "cxone"))
    assert.equal('unknown outcome_code "NOPE" (not in outcome_map)',
      library_says({ contact_id = "c-1", outcome_code = "NOPE" }, map, "cxone"))
    assert.equal("outcome_code needs outcome_map", library_says({ contact_id = "c-1", outcome_code = "CB" }, nil, "cxone"))
    assert.equal("skill is missing", library_says({ contact_id = "c-1", disposition_code = "2" }, nil, "cxone"))
    assert.equal("disposition_code is empty", says({ disposition_code = "" }, nil, "cxone"))
    assert.equal("contact_id has leading or trailing white space", says({ contact_id = "c-1 " }, nil, "cxone"))
    assert.equal("notes contains control character 0x01", says({ notes = "a\1" }, nil, "cxone"))
    -- Notes are free text: they may span lines (tab, LF, CR); no other field may.
    assert.is_nil(says({ notes = "called twice\r\nprefers mornings\tthanks" }, nil, "cxone"))
    assert.equal("notes contains control character 0x1B", says({ notes = "line 1\nline 2\27[2J" }, nil, "cxone"))
    assert.equal("disposition_code contains control character 0x0A", says({ disposition_code = "2\n" }, nil, "cxone"))
    assert.equal("contact_id contains control character 0x09", says({ contact_id = "c\t1" }, nil, "cxone"))
    assert.equal("callback_number is not valid UTF-8 (byte 0xFF)", says({ callback_number = "\255" }, nil, "cxone"))
    assert.equal("commitment_amount must be a string (got number)", says({ commitment_amount = 5 }, nil, "cxone"))
    assert.is_nil(says({ notes = "", callback_time = "2024-06-01T10:00:00Z" }, nil, "cxone"))
  end)

  it("are what describe() refuses too", function()
    local opts = { base_url = "https://api.example.com" }
    local d, err = bulk.describe(with(GOOD, { contact_id = " 42" }), opts)
    assert.is_nil(d)
    assert.equal("task: contact_id has leading or trailing white space", err)
  end)
end)

describe("one validator for the library and the CLI", function()
  -- Bad values as both a library user and a CSV file can give them.
  local TUTORIAL = {
    { contact_id = "" },
    { contact_id = "a\1b" },
    { contact_id = "a\nb" },
    { contact_id = "\27[31mred" },
    { contact_id = "a\194\155b" },
    { contact_id = "caf\233", utf8 = true },
    { contact_id = " 42" },
    { contact_id = "42 " },
    { contact_id = ("x"):rep(257) },
    { contact_id = "." },
    { contact_id = ".." },
    { category = "" },
    { category = "tab\there" },
    { category = "\128", utf8 = true },
    { subcategory = "x\127" },
    { subcategory = "\237\160\128", utf8 = true }, -- an encoded surrogate
    { idempotency_key = "k\1" },
    { idempotency_key = "clé" },
    { idempotency_key = "a b" },
    { idempotency_key = ("k"):rep(256) },
    {}, -- a good row: both accept it
  }
  local CXONE = {
    { skill = "" },
    { disposition_code = "a\nb" },
    { notes = "\128", utf8 = true },
    { callback_number = "1\1" },
    { callback_time = "t\194\133" },
    { contact_id = " c-1" },
    {},
  }

  -- Each case's CLI message against the library's: the same words, plus the CLI's hint after a
  -- UTF-8 refusal (what the operator can do about the file).
  local function compare(cases, base, columns, api)
    local tasks = {}
    for i, case in ipairs(cases) do
      tasks[i] = with(base, case)
      tasks[i].utf8 = nil
    end
    local cli = cli_says(columns, tasks, { api = api })
    for i, case in ipairs(cases) do
      local lib = library_says(tasks[i], nil, api)
      if lib == nil then
        assert.is_false(cli[i], "case " .. i)
      else
        assert.equal(lib .. (case.utf8 and HINT or ""), cli[i], "case " .. i)
      end
    end
  end

  it("gives the same message for the same bad value (tutorial profile)", function()
    compare(TUTORIAL, GOOD, { "contact_id", "category", "subcategory", "idempotency_key" })
  end)

  it("gives the same message for the same bad value (cxone profile)", function()
    compare(CXONE, GOOD_CXONE, { "contact_id", "skill", "disposition_code", "notes", "callback_number",
      "callback_time", "commitment_amount" }, "cxone")
  end)

  it("maps outcome codes the same way, naming the map as each user knows it", function()
    local map = { ["CNT-INFO"] = { category = "Contacted", subcategory = "Information Provided" } }
    local tasks = { { contact_id = "c-1", outcome_code = "CNT-INFO" }, { contact_id = "c-2", outcome_code = "NOPE" } }
    local columns = { "contact_id", "category", "subcategory", "outcome_code" }
    local with_map = cli_says(columns, tasks, { outcome_map = map })
    assert.is_false(with_map[1])
    assert.is_true(bulk.validate_task(tasks[1], map))
    assert.equal('unknown outcome_code "NOPE" (not in --outcome-map)', with_map[2])
    assert.equal((library_says(tasks[2], map):gsub("outcome_map", "--outcome-map")), with_map[2])
    local without = cli_says(columns, tasks)
    assert.equal("outcome_code needs --outcome-map", without[1])
    assert.equal((library_says(tasks[1], nil):gsub("outcome_map", "--outcome-map")), without[1])
  end)

  it("checks the ids format's --category/--subcategory defaults with the same checker", function()
    local path = U.write_file(os.tmpname(), "1\n")
    local inp, err = input.open(path, { format = "ids", category = "a\nb", subcategory = "S", warn = function() end })
    assert.is_nil(inp)
    assert.equal("--category contains control character 0x0A", err)
    inp, err = input.open(path, { format = "ids", category = "C", subcategory = "\233", warn = function() end })
    os.remove(path)
    assert.is_nil(inp)
    assert.equal("--subcategory is not valid UTF-8 (byte 0xE9)" .. HINT, err)
  end)
end)
