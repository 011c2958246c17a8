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

-- Takes the outcome hierarchy out of the results (it is not a task's result).
function Job:_take_fetch(results)
  for i = #results, 1, -1 do
    local r = results[i]
    if r.fetch and self._p.metadata == "skills" then
      table.remove(results, i)
      local ok, known, err = pcall(skill_dispositions, r)
      if ok and known ~= nil then
        self._skills[r.contact_id], self._gate = known, "open"
      else
        self:_abort(new_error(self:_fetch_kind(r), fmt(
          "could not fetch the dispositions of skill %s (validate_outcomes): %s", r.contact_id,
          tostring(ok and err or known))))
      end
    elseif r.fetch then
      table.remove(results, i)
      local tree, err
      if r.ok then tree, err = outcomes.from_json(r.body) else err = r.error end
      if tree then
        self._outcomes, self._gate = tree, "open"
      else
        self:_abort(new_error(self:_fetch_kind(r),
          "could not fetch the outcome hierarchy (validate_outcomes): " .. tostring(err)))
      end
    end
  end
end

return Job
