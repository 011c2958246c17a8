-- The plain path's intake loop runs in C (job:feed_plain, src/binding/lua_intake.c): it calls the
-- task iterator and queues standard tutorial tasks itself, and hands every other task back to
-- the facade. These hold what that loop must keep from the Lua loop it replaced: one result per
-- task in the iterator's numbering whatever the mix of tasks, the iterator read no further once
-- the job is cancelled (by the iterator itself), an array's tasks all coming back after a
-- cancel, and an iterator that raises. Server-side counts from the mock.
local Mock = require "spec.helpers.mock"
local E = require "spec.helpers.engine"
local bulk = require "cxone.bulk"

local function std(i)
  return { contact_id = ("contact-%06d"):format(i), category = "Contacted", subcategory = "Information Provided" }
end

-- Runs job to the end collecting results by index; returns them and how many there were.
local function drain(job)
  local by_index, n = {}, 0
  while not job:done() do
    for _, r in ipairs(job:poll(1)) do
      assert.is_nil(by_index[r.index], "two results for task " .. tostring(r.index))
      by_index[r.index], n = r, n + 1
    end
  end
  job:close()
  return by_index, n
end

describe("the plain path's intake loop", function()
  local m = Mock.shared { "--rate", "0" }

  it("numbers a mix of standard and other tasks as the iterator gave them, one result each", function()
    m:reset()
    -- Every 5th task is not standard: its own key, an invalid outcome, a string, a number id,
    -- a verify flag. The rest take the plain path.
    local odd = {
      function(i) local t = std(i); t.idempotency_key = ("00000000-0000-4000-8000-%012d"):format(i); return t end,
      function(i) local t = std(i); t.category = nil; return t end,
      function() return "not a task" end,
      function(i) local t = std(i); t.contact_id = i; return t end,
      function(i) local t = std(i); t.outcome_code = nil; t.subcategory = 42; return t end,
    }
    local list, i = {}, 0
    for k = 1, 100 do list[k] = (k % 5 == 0) and odd[(k / 5 - 1) % #odd + 1](k) or std(k) end
    local job = bulk.start(function() i = i + 1; return list[i] end, E.opts(m, { workers = 4, queue_size = 3 }))
    local got, n = drain(job)
    assert.are.equal(100, n)
    for k = 1, 100 do
      local r = got[k]
      assert.is_not_nil(r, "no result for task " .. k)
      if type(list[k]) == "table" and type(list[k].contact_id) == "string" then
        assert.are.equal(list[k].contact_id, r.contact_id)
      end
      local valid = k % 5 ~= 0 or (k / 5 - 1) % #odd == 0 -- standard, or its own key
      assert.are.equal(valid, r.ok, "task " .. k .. ": " .. tostring(r.error))
    end
    assert.are.equal(100 - 16, m:stats().distinct_mutated) -- 80 standard + 4 with their own key
    assert.are.equal(84, m:stats().total_mutations)
  end)

  it("stops reading an iterator that cancels its own job, and the task taken comes back", function()
    m:reset()
    local job, calls = nil, 0
    job = bulk.start(function()
      calls = calls + 1
      if calls == 30 then job:cancel("enough") end
      if calls <= 200 then return std(calls) end
    end, E.opts(m, { workers = 2, queue_size = 500, rate = 50, burst = 1 }))
    local got, n = drain(job)
    assert.are.equal(30, calls)
    assert.are.equal(30, n)
    assert.is_true(got[30].cancelled, "task 30: " .. tostring(got[30].error))
    assert.is_true(m:stats().total_mutations < 30)
  end)

  it("returns every task of an array cancelled part way, each once", function()
    m:reset()
    local tasks = {}
    for k = 1, 300 do tasks[k] = std(k) end
    local job = bulk.start(tasks, E.opts(m, { workers = 2, queue_size = 4, rate = 100, burst = 1 }))
    local seen, cancelled = {}, 0
    while not job:done() do
      for _, r in ipairs(job:poll(1)) do
        assert.is_nil(seen[r.index])
        seen[r.index] = true
        if r.cancelled then cancelled = cancelled + 1 end
        if r.index == 3 then job:cancel("stop here") end
      end
    end
    job:close()
    local n = 0
    for _ in pairs(seen) do n = n + 1 end
    assert.are.equal(300, n)
    assert.is_true(cancelled >= 280, "cancelled " .. cancelled)
    assert.are.equal(300 - cancelled, m:stats().total_mutations)
  end)

  it("an iterator that raises after standard tasks: those run to their results, then the error", function()
    m:reset()
    local i, seen = 0, 0
    local ok, err = bulk.try_batch_update(function()
      i = i + 1
      if i == 26 then error("row 26 is broken") end
      return std(i)
    end, E.opts(m, { on_result = function(r) if r.ok then seen = seen + 1 end end }))
    assert.is_nil(ok)
    assert.are.equal("input", err.kind)
    assert.matches("row 26 is broken", err.message)
    assert.are.equal(25, seen)
    assert.are.equal(25, err.summary.total)
    assert.are.equal(25, m:stats().total_mutations)
  end)
end)
