--- cxone.bulk.job_intake: how a job takes tasks — from its iterator or pushed with job:submit —
-- prepares each for the engine (checked, mapped, its journal gate and read flags) and hands it
-- over: the plain path built in C, or the general one. Methods of the job class.
local outcomes = require "cxone.bulk.outcomes"
local errors = require "cxone.bulk.errors"
local tasks = require "cxone.bulk.tasks"
local Job = require "cxone.bulk.job_class"

local new_error = errors.new
local check_disposition, check_task = tasks.check_disposition, tasks.check_task
local type, tostring, ipairs, pcall, error = type, tostring, ipairs, pcall, error
local fmt = string.format

-- cxone: nil when code is one of skill's dispositions, else why not (with a suggestion).
local function check_skill_code(known, skill, code)
  if known == false then return fmt("skill %q does not exist (its dispositions answered 404)", skill) end
  if known.ids[code] or known.names[code] then return nil end
  local msg = fmt("disposition_code %q is not a disposition of skill %s", code, skill)
  local near = outcomes.closest(known.list, code)
  if near then return msg .. fmt('; did you mean "%s"?', near) end
  return msg .. " (its dispositions: " .. table.concat(known.list, ", ") .. ")"
end

-- cxone: the task's named fields for the C builder ({index=, shape=, id=, skill=, ...}; the
-- URL is built on the worker), or {need_skill=} when validate_outcomes has not yet seen this
-- task's skill.
function Job:_prepare_cxone(task, index)
  local label = "task " .. index
  local p, skill, code = check_disposition(task, label, self._o.outcome_map, self._p)
  local id = type(task) == "table" and type(task.contact_id) == "string" and task.contact_id or ""
  if not p then return { index = index, shape = "cxone", id = id, invalid = skill } end
  if self._o.validate_outcomes then
    local known = self._skills[skill]
    if known == nil then return { need_skill = skill } end
    local why = check_skill_code(known, skill, code)
    if why then return { index = index, shape = "cxone", id = id, invalid = label .. ": " .. why } end
  end
  p.index, p.verify = index, task.verify == true
  self._safe:prepare(p, { skill = skill, disposition_code = code, notes = task.notes })
  if self._jj then
    local ident = { contact_id = id, skill = skill, disposition_code = code }
    for _, f in ipairs(self._p.optional) do
      if task[f] ~= "" then ident[f] = task[f] end
    end
    self:_journal_gate(p, ident, task)
  end
  return p
end

-- Journaled jobs: what the journal says of a prepared task (p.skip: applied by an earlier run;
-- p.verify: read it back first), and its identity for the intent and result records.
function Job:_journal_gate(p, ident, task)
  local g = self._jj:gate(ident)
  p.ident, p.line = ident, task.line
  if g == "journal" then p.skip = "journal" end
  if g == "verify" then p.verify = true end
end

-- tutorial: the task's named fields for the C builder ({index=, shape=, id=, category=,
-- subcategory=, key=}: key is the task's own, if any).
function Job:_prepare_tutorial(task, index)
  local label = "task " .. index
  local category, subcategory = check_task(task, label, self._o.outcome_map, self._p)
  if not category then
    local id = ""
    if type(task) == "table" and task.contact_id ~= nil then id = tostring(task.contact_id) end
    return { index = index, shape = "tutorial", id = id, invalid = subcategory }
  end
  local id = task.contact_id
  if self._outcomes then
    local why = outcomes.check(self._outcomes, category, subcategory)
    if why then return { index = index, shape = "tutorial", id = id, invalid = label .. ": " .. why } end
  end
  local p = { index = index, shape = "tutorial", id = id, category = category, subcategory = subcategory,
              key = task.idempotency_key, verify = task.verify == true }
  self._safe:prepare(p, { category = category, subcategory = subcategory })
  if self._jj then
    self:_journal_gate(p, { contact_id = id, category = category, subcategory = subcategory,
                    idempotency_key = task.idempotency_key }, task)
  end
  return p
end

-- How a task is prepared, by the request shape its profile's `core` names.
local PREPARE = { tutorial = Job._prepare_tutorial, cxone = Job._prepare_cxone }

-- Prepares a task for the core: {index=, shape=, id=, the shape's named fields, invalid=}.
function Job:_prepare(task, index)
  return PREPARE[self._p.core](self, task, index)
end

-- The standard tutorial task (contact_id, category, subcategory strings; no outcome_code, key of
-- its own or verify flag) goes to the core whole: it builds the URL, body and key
-- (src/profile/plain_task.h) and returns true, or false when the queue is full; nil means the
-- task is not plainly valid and takes the general path, whose validator words any refusal. The
-- core's test is the one job:feed_plain applies.
function Job:_submit_plain(task, index)
  if not self._plain or self._safe.general then
    return nil -- (journaled jobs are never plain: the journal decides on each task)
  end
  return self._c:submit_plain(index, task)
end

-- Hands a prepared task to the engine (false: the queue is full). A task the journal records as
-- applied is settled here without a request; a journaled task's intent is buffered once the
-- engine took it (the engine waits for flush_journal before sending it).
function Job:_submit_prepared(p)
  if p.skip then
    self._local[#self._local + 1] = { index = p.index, contact_id = p.id, ok = true, status = 0, attempts = 0,
                                       skipped = p.skip, elapsed = 0 }
    return true
  end
  if not self._c:submit(p) then return false end
  if not p.invalid then self._safe:submitted(p) end
  if p.ident and not p.invalid then self._jj:intent(p.index, p.ident, p.line) end
  return true
end

-- Writes the buffered intents; the engine sends their tasks only after that.
function Job:_flush_journal()
  if self._jj then self._jj:flush(self._c) end
end

-- Stops reading the iterator (see the input states above).
function Job:_drain()
  if self._in.iter and not self._in.is_array and self._in.state == "open" then self._in.state = "draining" end
end

function Job:_close_input()
  if self._in.state ~= "closed" then
    self._in.state = "closed"
    self._in.held = nil
    self._c:close_input()
  end
end

--- Push mode: hands one task to the engine. Returns its index (results carry it), or false when
-- the engine cannot take it now (queue full, or the outcome hierarchy has not arrived): poll,
-- then submit the same task again. After a whole-batch error a submitted task still yields its
-- one result (cancelled, naming the error).
function Job:submit(task)
  if not self._c then error("cxone.bulk: job is closed", 2) end
  if self._in.iter then error("cxone.bulk: submit() is for jobs made with bulk.open()", 2) end
  if self._in.state == "closed" then error("cxone.bulk: submit() after close_input()", 2) end
  if self._gate ~= "open" then return false end
  local index = self._in.n + 1
  if self:_take(task, index) ~= "taken" then return false end
  self._in.n = index
  self:_flush_journal()
  return index
end

--- Push mode: no more tasks will be submitted.
function Job:close_input()
  if not self._c then error("cxone.bulk: job is closed", 2) end
  self:_close_input()
end

-- The one way a task enters the engine (both modes): the plain path, or prepared and handed
-- over. Returns "taken"; "full" and the prepared task, if any (the queue is full: offer it again,
-- with that prepared form); or "wait" (its skill's dispositions are being fetched: it is
-- prepared again once they are in). p: the prepared form kept from an earlier "full".
function Job:_take(task, index, p)
  if not p then
    local sent = self:_submit_plain(task, index)
    if sent then return "taken" end
    if sent == false then return "full" end
    p = self:_prepare(task, index)
    if p.need_skill then
      self:_fetch_skill(p.need_skill)
      return "wait"
    end
  end
  if self:_submit_prepared(p) then return "taken" end
  return "full", p
end

-- The iterator raised: the tasks already taken still run and each comes back as its result; the
-- error stops the batch once they have (poll raises it after the last result, batch_update then).
function Job:_iterator_failed(err)
  self._fatal = self._fatal or new_error("input", "task iterator failed: " .. tostring(err))
  return self:_close_input()
end

-- Iterator mode: the next task from the iterator and its index, or nil once the input has ended
-- (the core is then told).
function Job:_next_task()
  if self._in.state == "draining" then return self:_close_input() end
  local ok, task = pcall(self._in.iter)
  if not ok then return self:_iterator_failed(task) end
  if task == nil then return self:_close_input() end
  self._in.n = self._in.n + 1
  return task, self._in.n
end

-- Iterator mode, plain jobs: the core's own loop reads the iterator and queues the standard
-- tasks (job:feed_plain); it hands back the first task it cannot take plainly. Returns that task
-- and its index; STOP (queue full, input ended or failed); or nil (the job was stopped: the
-- caller goes on task by task).
local STOP = {} -- (no task can be this table)
function Job:_next_task_plain()
  local n, how, value = self._c:feed_plain(self._in.iter, self._in.n)
  self._in.n = n
  if how == "other" then return value, n end
  if how == "full" then return STOP end
  if how == "end" then self:_close_input() return STOP end
  if how == "error" then self:_iterator_failed(value) return STOP end
  return nil -- "stopped"
end

-- Iterator mode: moves tasks into the core's queue until it is full or the input ends, then
-- writes their journal intents (one write) so the engine may send them.
function Job:_feed()
  self:_feed_tasks()
  self:_flush_journal()
end

function Job:_feed_tasks()
  if not self._in.iter or self._in.state == "closed" then return end
  while self._gate == "open" do -- a canary closes it after its last task
    -- A task the engine could not take yet ({task=, index=, p=}) is offered again first.
    local held = self._in.held
    self._in.held = nil
    local task, n, p
    if held then
      task, n, p = held.task, held.index, held.p
    else
      if self._plain and not self._safe.general and self._in.state == "open" then
        task, n = self:_next_task_plain()
        if task == STOP then return end
      end
      if task == nil then task, n = self:_next_task() end
      if task == nil then return end
    end
    local how, prepared = self:_take(task, n, p)
    if how ~= "taken" then
      self._in.held = { task = task, index = n, p = prepared }
      return
    end
  end
end

return Job
