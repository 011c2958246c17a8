-- Issue 24 item 3: a background job whose nginx worker was killed is resumed by resubmitting it,
-- exactly once, from the library's resume journal. The kill comes while requests are in flight
-- (the mock applies each write and answers it seconds later), so the journal holds intents
-- without results; the proof is the mock's server-side counts. The tutorial profile runs under a
-- mock that keeps no idempotency record (--retention 0): a resent PUT would mutate again, so
-- only the journal's read-back can keep each contact at one mutation, as for the cxone profile,
-- which has no key at all.
local N = require "spec.helpers.nginx"
local Mock = require "spec.helpers.mock"
local H = require "spec.helpers.engine"
local cjson = require "cjson"

local ENV = { CXONE_CLIENT_ID = H.CREDS.client_id, CXONE_CLIENT_SECRET = H.CREDS.client_secret,
              CXONE_ACCESS_KEY_ID = "demo-access-key", CXONE_ACCESS_KEY_SECRET = "demo-access-secret" }
local TOTAL = 160

local function cxone_tasks(n)
  local t = {}
  for i = 1, n do t[i] = { contact_id = ("cx-%04d"):format(i), skill = "1001", disposition_code = "Callback Requested" } end
  return t
end

-- Writes the mock has applied so far (both profiles' counters).
local function applied(m)
  local s = m:stats("mutations=0")
  return s.total_mutations + (s.total_set_dispositions or 0)
end

-- Records of the journal at path: intents and results by line, run headers and ends.
local function journal_records(path)
  local intents, results, runs, ends = {}, {}, 0, 0
  for _, r in ipairs(N.read_jsonl(path)) do
    if r.run then runs = runs + 1
    elseif r.run_end then ends = ends + 1
    elseif r.intent then intents[r.line] = true
    elseif r.line then results[r.line] = r end
  end
  return intents, results, runs, ends
end

local ready, why = N.available()

describe("nginx example: a killed worker's job resumed by resubmission", function()
  if not ready then
    pending("nginx example not runnable here: " .. tostring(why))
    return
  end

  local m, ng
  after_each(function()
    if ng then pcall(ng.stop, ng) end
    ng = nil
    if m then m:stop() end
  end)

  -- Starts the job, waits for 40 results, makes every further write answer 3 s late, waits until
  -- at least 4 applied writes wait for their answer, and kills the worker. Returns the reply and
  -- how many writes the mock had applied at the kill.
  local function kill_midway(id, tasks)
    local status, reply = ng:post_json("/jobs?id=" .. id, { tasks = tasks })
    assert.are.equal(202, status, cjson.encode(reply))
    local st = ng:wait_job(id, 15, function(x) return (x.done or 0) >= 40 end)
    assert.are.equal("running", st.state, cjson.encode(st))
    m:config { late_after_mutate = 1.0, late_seconds = 3 }
    local t0 = N.now()
    local done, writes
    repeat
      N.sleep(0.02)
      done = cjson.decode((select(2, ng:get("/jobs/status?id=" .. id)))).done
      writes = applied(m)
    until writes - done >= 4 or N.now() - t0 > 5
    assert.is_true(writes - done >= 4, ("in flight at the kill: %d applied, %d journaled"):format(writes, done))
    N.kill(reply.worker_pid, "KILL")
    assert.is_true((N.wait_gone(reply.worker_pid, 5)))
    m:config { late_after_mutate = 0 }
    return reply, applied(m)
  end

  -- Resubmits the same tasks and waits for the resumed run to end; returns its status.
  local function resume(id, tasks)
    local status, reply = ng:post_json("/jobs?id=" .. id, { tasks = tasks })
    assert.are.equal(202, status, cjson.encode(reply))
    assert.is_true(reply.resumed)
    local st = ng:wait_job(id, 30, function(x) return x.state ~= "running" and x.state ~= "queued" end)
    assert.are.equal("done", st.state, cjson.encode(st))
    assert.are.equal(#tasks, st.ok)
    return st
  end

  it("tutorial profile, idempotency records kept for 0 s: interrupted, other tasks refused, the same "
    .. "tasks resumed with every contact mutated once", function()
    m = Mock.start { "--rate", "0", "--latency-ms", "2", "--any-contact", "--initial-values", "none",
                     "--retention", "0", "--quiet" }
    ng = N.start { tag = "nginx-resume", env = ENV,
                   values = { BASE_URL = m.url, RATE = 200, BURST = 20, WORKERS = 1 } }
    local tasks = H.tasks(TOTAL)
    local reply, at_kill = kill_midway("kill1", tasks)

    local t0 = N.now()
    local st = ng:wait_job("kill1", 5, function(x) return x.state ~= "running" end)
    assert.are.equal("interrupted", st.state, cjson.encode(st))
    assert.matches("pid " .. string.format("%d", reply.worker_pid) .. "%) is gone", st.error)
    assert.matches("resubmit POST /jobs%?id=kill1 with the same tasks", st.error)
    local intents, results = journal_records(reply.journal)
    local open = 0
    for line in pairs(intents) do if not results[line] then open = open + 1 end end
    print(string.format("\n  killed worker (tutorial): 'interrupted' %.2f s after the kill; %d writes applied, "
      .. "%d tasks journaled as done, %d intents without a result", N.now() - t0, at_kill, st.done, open))
    assert.is_true(open >= 4, "intents without a result: " .. open)

    local other = H.tasks(TOTAL)
    other[TOTAL].subcategory = "Sale"
    local status, r2 = ng:post_json("/jobs?id=kill1", { tasks = other })
    assert.are.equal(409, status, cjson.encode(r2))
    assert.matches("job id kill1 was used for a different task list %(" .. TOTAL .. " tasks", r2.error)
    status, r2 = ng:post_json("/jobs?id=kill1", { tasks = tasks, batch_id = "another" })
    assert.are.equal(409, status, cjson.encode(r2))
    assert.matches('batch_id "kill1"; this request has batch_id "another"', r2.error)

    st = resume("kill1", tasks)
    local stats = m:stats()
    print(string.format("  resumed: %d skipped (journal), %d read back and found applied; mock: %d mutations, "
      .. "%d contacts, at most %d per contact", st.skipped, st.verified, stats.total_mutations,
      stats.distinct_mutated, stats.max_mutations_per_contact))
    assert.are.equal(TOTAL, stats.distinct_mutated)
    assert.are.equal(TOTAL, stats.total_mutations)
    assert.are.equal(1, stats.max_mutations_per_contact)
    assert.is_true(st.verified >= 4, "tasks in flight at the kill read back: " .. tostring(st.verified))
    assert.are.equal(0, stats.replays or 0)
  end)

  it("cxone profile (no idempotency key), nginx restarted after the kill: the journal reports it interrupted; "
    .. "the same tasks resumed, every contact dispositioned once", function()
    m = Mock.start { "--api", "cxone", "--rate", "0", "--latency-ms", "2", "--any-contact",
                     "--initial-values", "none", "--quiet" }
    local values = { API = "cxone", ISSUER = m.url, RATE = 200, BURST = 20, WORKERS = 1 }
    ng = N.start { tag = "nginx-resume-cx", env = ENV, values = values, keep = true }
    local tasks = cxone_tasks(TOTAL)
    local _, at_kill = kill_midway("cx1", tasks)
    assert.is_true((ng:quit(5)))
    values.PORT = nil
    ng = N.start { prefix = ng.prefix, env = ENV, values = values }
    local _, text = ng:get("/jobs/status?id=cx1")
    local st = cjson.decode(text)
    assert.are.equal("interrupted", st.state, text)
    assert.matches("nginx was restarted", st.error)
    assert.is_true(st.unknown >= 4 and st.done >= 40 and st.done < TOTAL, text)
    st = resume("cx1", tasks)
    local stats = m:stats()
    print(string.format("\n  killed worker (cxone): %d set-dispositions applied at the kill; resumed: %d skipped, "
      .. "%d read back and found applied; mock: %d contacts, at most %d per contact", at_kill, st.skipped,
      st.verified, stats.distinct_dispositioned, stats.max_set_dispositions_per_contact))
    assert.are.equal(TOTAL, stats.distinct_dispositioned)
    assert.are.equal(TOTAL, stats.total_set_dispositions)
    assert.are.equal(1, stats.max_set_dispositions_per_contact)
    local n = 0
    for _ in pairs(stats.set_dispositions) do n = n + 1 end
    assert.are.equal(TOTAL, n)
    assert.is_true(st.verified >= 4, "tasks in flight at the kill read back: " .. tostring(st.verified))
  end)

  it("after a restart the journal answers: status from its last run's end, other tasks refused, same "
    .. "tasks resume with nothing left to send", function()
    m = Mock.start { "--rate", "0", "--latency-ms", "2", "--any-contact", "--quiet" }
    local values = { BASE_URL = m.url, RATE = 1000, BURST = 50, WORKERS = 1 }
    ng = N.start { tag = "nginx-restart", env = ENV, values = values, keep = true }
    local tasks = H.tasks(40)
    local status, reply = ng:post_json("/jobs?id=job3", { tasks = tasks })
    assert.are.equal(202, status, cjson.encode(reply))
    assert.are.equal("done", ng:wait_job("job3", 10, function(x) return x.state == "done" end).state)
    assert.are.equal("640", N.mode(reply.journal))
    assert.is_true((ng:quit(5)))
    values.PORT = nil
    ng = N.start { prefix = ng.prefix, env = ENV, values = values }
    local _, text = ng:get("/jobs/status?id=job3")
    local st = cjson.decode(text)
    assert.are.equal("done", st.state, text)
    assert.are.equal(40, st.ok)
    status, reply = ng:post_json("/jobs?id=job3", { tasks = H.tasks(41) })
    assert.are.equal(409, status, cjson.encode(reply))
    assert.matches("different task list", reply.error)
    local sent = m:stats().requests.total
    status, reply = ng:post_json("/jobs?id=job3", { tasks = tasks })
    assert.are.equal(202, status, cjson.encode(reply))
    st = ng:wait_job("job3", 10, function(x) return x.state == "done" end)
    assert.are.equal(40, st.skipped)
    assert.are.equal(sent, m:stats().requests.total, "the resumed run sent a request")
    local _, _, runs, ends = journal_records(reply.journal)
    assert.are.equal(2, runs)
    assert.are.equal(2, ends)
  end)
end)
