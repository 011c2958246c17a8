--- cxone.bulk.job_meta: the metadata a job fetches for validate_outcomes — the outcome hierarchy
-- (tutorial) or each skill's dispositions (cxone) — and what becomes of a task whose outcome is
-- not among them. Methods of the job class.
local cjson = require "cjson"
local outcomes = require "cxone.bulk.outcomes"
local errors = require "cxone.bulk.errors"
local Job = require "cxone.bulk.job_class"

local new_error = errors.new
local type, tostring, ipairs, pcall = type, tostring, ipairs, pcall
local fmt = string.format

-- cxone validate_outcomes: asks for one skill's dispositions; tasks wait until it arrives.
function Job:_fetch_skill(skill)
  if self._c:fetch("", skill) then self._gate = "outcomes" end
end

-- cxone: a skill's dispositions from its fetch result, false for an unknown skill (404), or
-- nil, message.
local function skill_dispositions(r)
  if not r.ok then
    if r.status == 404 and not r.cancelled then return false end
    return nil, r.error
  end
  local doc = cjson.decode(r.body)
  if type(doc) ~= "table" or type(doc.dispositions) ~= "table" then
    return nil, "the answer has no dispositions array"
  end
  local known = { ids = {}, names = {}, list = {} }
  for _, d in ipairs(doc.dispositions) do
    if type(d) == "table" then
      local n = d.dispositionId
      if type(n) == "number" and n == math.floor(n) and math.abs(n) < 2 ^ 53 then
        known.ids[fmt("%d", n)] = true
      end
      if type(d.dispositionName) == "string" then
        known.names[d.dispositionName] = true
        known.list[#known.list + 1] = d.dispositionName
      end
    end
  end
  return known
end

-- The kind of a failed fetch: the batch's own when it was cancelled by a whole-batch error
-- (wrong credentials), "api" when the answer came but was unusable, else the fetch's.
function Job:_fetch_kind(r)
  if r.ok then return "api" end
  if r.cancelled then
    local _, fatal, kind = self._c:counters()
    if fatal then return kind end
  end
  return r.error_kind
end

-- What a finished fetch of the outcome hierarchy (tutorial) or of a skill's dispositions
-- (cxone) opens: the gate, or the batch's end with an error of the fetch's kind.
function Job:_fetch_done(r)
  if self._p.metadata == "skills" then
    local ok, known, err = pcall(skill_dispositions, r)
    if ok and known ~= nil then
      self._skills[r.name], self._gate = known, "open"
    else
      self:_abort(new_error(self:_fetch_kind(r), fmt(
        "could not fetch the dispositions of skill %s (validate_outcomes): %s", r.name,
        tostring(ok and err or known))))
    end
    return
  end
  local tree, err
  if r.ok then tree, err = outcomes.from_json(r.body) else err = r.error end
  if tree then
    self._outcomes, self._gate = tree, "open"
  else
    self:_abort(new_error(self:_fetch_kind(r),
      "could not fetch the outcome hierarchy (validate_outcomes): " .. tostring(err)))
  end
end

-- The metadata fetches finished since the last look: they come on their own path
-- (job:fetched()), never among the task results.
function Job:_take_fetched()
  local fetched = self._c:fetched()
  for i = 1, #fetched do self:_fetch_done(fetched[i]) end
end

return Job
