-- Watches a run's first answers for the sign of a wrong target: most contacts "not found".
--
-- A run against the wrong tenant, or with the wrong column read as contact_id, gets a 404 for
-- nearly every row. The summary says so at the end; this says it while the run goes on, once,
-- after the first AFTER answered rows, so the operator can stop it (Ctrl-C) early. (Halting on
-- its own is the safety net's business, not this module's.)
local M = {}

-- Answered rows looked at before the one check.
M.AFTER = 50

local Watch = {}
Watch.__index = Watch

function M.new()
    return setmetatable({ answered = 0, not_found = 0, done = false }, Watch)
end

-- Counts one result (r: the engine's result; rows that got no HTTP answer do not count).
-- Returns the warning to print, once, when more than half of the first AFTER answered rows were
-- 404; nil otherwise.
function Watch:add(r)
    if self.done or not r.status or r.status == 0 then return nil end
    self.answered = self.answered + 1
    if r.status == 404 then self.not_found = self.not_found + 1 end
    if self.answered < M.AFTER then return nil end
    self.done = true
    if self.not_found * 2 <= self.answered then return nil end
    return ("%d of the first %d answered rows were 404 (contact not found): is this the right tenant, "
        .. "and does the contact_id column hold its contact ids? The run goes on; Ctrl-C stops it")
        :format(self.not_found, self.answered)
end

return M
