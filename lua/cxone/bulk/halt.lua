--- The auto-halt: a batch whose recent results are mostly "this can never work" failures is
-- stopped before it does more harm (opts.max_failure_rate, failure_window, failure_min).
--
-- Counted are the results of tasks that reached the API: successes, and failures whose kind
-- says the request itself is wrong for this tenant — not_found (404: wrong tenant, wrong id
-- column), rejected (400, 409, 413, 422: a wrong outcome mapping, a shifted column) and
-- permission (403). Transient failures (rate_limited, server, network, tls) are not counted at
-- all (neither way): retries and max_unreachable have their own limits, and a 503 storm says
-- nothing about the file. Invalid, cancelled and journal-skipped tasks made no request and are
-- not counted either. Kinds, never message text, decide (src/common/kind.h).
--
-- Once the window holds at least failure_min counted results, the batch halts as soon as the
-- failures among the last failure_window of them reach max_failure_rate. With the defaults
-- (0.5, 100, 20) a file whose every row fails halts at its 20th answered row.
local M = {}

M.COUNTED = { not_found = true, rejected = true, permission = true }

local WHAT = {
  not_found = { "contact not found", "wrong tenant, or the wrong column read as contact_id?" },
  rejected = { "rejected by the API", "a wrong outcome mapping, or a shifted column?" },
  permission = { "forbidden", "may the API user's role update contacts (and its token's scope)?" },
}

local Halt = {}
Halt.__index = Halt

--- A halt for opts o, or nil when it is off (max_failure_rate 0, or a plan: reads change nothing).
-- The window is kept as the ordinals of its failures only: a success, by far the common result,
-- costs one counter step (runs of millions of rows pay for the halt on every result).
function M.new(o)
  if o.plan or not o.max_failure_rate or o.max_failure_rate <= 0 then return nil end
  return setmetatable({ rate = o.max_failure_rate, window = o.failure_window, min = o.failure_min,
    count = 0, -- counted results so far (the last one's ordinal)
    fail_at = {}, fail_key = {}, head = 1, tail = 0, -- the failures in the window, oldest first
    fails = 0, by_status = {}, sample = {}, n = 0 }, Halt)
end

-- The failure key of a counted failure ("404 not_found"), or nil when the result is not counted.
local function failure_of(r)
  if r.invalid or r.cancelled or not M.COUNTED[r.error_kind] then return nil end
  return (r.status or 0) .. " " .. r.error_kind
end

-- Drops the failures that left the window (ordinal <= count - window).
function Halt:_evict()
  local oldest = self.count - self.window
  while self.head <= self.tail and self.fail_at[self.head] <= oldest do
    local e = self.fail_key[self.head]
    self.fail_at[self.head], self.fail_key[self.head] = nil, nil
    self.head = self.head + 1
    self.fails = self.fails - 1
    self.by_status[e] = self.by_status[e] - 1
  end
end

function Halt:_push(e, r)
  self.count = self.count + 1
  self.tail = self.tail + 1
  self.fail_at[self.tail], self.fail_key[self.tail] = self.count, e
  self.fails = self.fails + 1
  self.by_status[e] = (self.by_status[e] or 0) + 1
  self.sample[e] = r.error
  self:_evict()
  self.n = self.count < self.window and self.count or self.window
end

-- "84 of the last 100 results were 404 (contact not found) — wrong tenant ...?"
function Halt:_message()
  local top, top_n = nil, 0
  for e, n in pairs(self.by_status) do
    if n > 0 and (n > top_n or (n == top_n and e < top)) then top, top_n = e, n end
  end
  local status, kind = top:match("^(%d+) (.+)$")
  local what = WHAT[kind]
  local head
  if top_n == self.fails then
    head = ("%d of the last %d results were %s (%s)"):format(self.fails, self.n, status, what[1])
  else
    head = ("%d of the last %d results failed, %d of them %s (%s)"):format(self.fails, self.n, top_n, status, what[1])
  end
  local sample = self.sample[top]
  if kind ~= "not_found" and sample then
    if #sample > 160 then sample = sample:sub(1, 157) .. "..." end
    head = head .. (', e.g. "%s"'):format(sample)
  end
  return ("%s — %s Stopped taking tasks (max_failure_rate = %g over the last %d results; 0 turns it off)")
    :format(head, what[2], self.rate, self.window)
end

--- Counts one result. Returns the halt message when the batch must stop now, else nil. Only a
-- failure can cross the limit, so a success is counted and nothing else.
function Halt:add(r)
  if r.ok then
    if type(r.skipped) ~= "string" then self.count = self.count + 1 end -- ("journal": no request)
    return nil
  end
  if self.halted then return nil end
  local e = failure_of(r)
  if e == nil then return nil end
  self:_push(e, r)
  if self.n >= self.min and self.fails >= self.rate * self.n then
    self.halted = true
    return self:_message()
  end
  return nil
end

return M
