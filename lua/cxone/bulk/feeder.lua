-- Feeds input rows to the engine in an order that is safe for duplicate contact ids.
--
-- Policy: rows for the same contact are sent in input order. A row is not handed to the engine
-- while an earlier row for the same contact is still in flight; it waits in a small holding
-- area while rows for other contacts go past it. Only contacts that are in flight or held are
-- tracked, and the holding area is capped (HOLD_LIMIT rows: when full, nothing new is read until
-- a held contact comes back), so memory stays bounded however long the input is.
--
-- Rows that need no request (invalid rows, rows the journal says already succeeded) are handed
-- to on_local(row) as they are read and never reach the engine.
local M = {}

M.HOLD_LIMIT = 1000

local Feeder = {}
Feeder.__index = Feeder

-- next_row(): the next input row or nil at the end (see input.lua for the row shape).
-- classify(row) -> "send" | "local": whether the row goes to the engine.
-- on_local(row): takes a row that is finished without a request.
function M.new(next_row, classify, on_local)
    return setmetatable({
        next_row = next_row, classify = classify, on_local = on_local,
        busy = {},          -- contact_id -> true while a row for it is in flight
        held = {},          -- contact_id -> FIFO array of rows waiting for that contact
        held_count = 0,
        ready = {},         -- FIFO of contact ids whose held rows may go now: ready[head..tail]
        ready_head = 1,
        ready_tail = 0,
        inflight = {},      -- engine index -> row
        inflight_count = 0,
        fed = 0,            -- tasks handed to the engine (their engine index)
        exhausted = false,  -- the input has no more rows
        stopped = false,    -- stop() was called: hand out nothing more
    }, Feeder)
end

local function hold(self, row)
    local id = row.task.contact_id
    local q = self.held[id]
    if not q then
        q = { head = 1, tail = 0 } -- explicit ends: '#' is unreliable once the head is cleared
        self.held[id] = q
    end
    q.tail = q.tail + 1
    q[q.tail] = row
    self.held_count = self.held_count + 1
end

local function send(self, row)
    self.fed = self.fed + 1
    self.busy[row.task.contact_id] = true
    self.inflight[self.fed] = row
    self.inflight_count = self.inflight_count + 1
    return row.task
end

-- A held row whose contact is free again, or nil.
local function take_ready(self)
    while self.ready_head <= self.ready_tail do
        local id = self.ready[self.ready_head]
        self.ready[self.ready_head] = nil
        self.ready_head = self.ready_head + 1
        local q = self.held[id]
        if q and not self.busy[id] then
            local row = q[q.head]
            q[q.head] = nil
            q.head = q.head + 1
            if q.head > q.tail then self.held[id] = nil end
            self.held_count = self.held_count - 1
            return row
        end
    end
    self.ready, self.ready_head, self.ready_tail = {}, 1, 0
    return nil
end

-- The next task for the engine; false when none can go right now (a duplicate is waiting for
-- its contact, the holding area is full, or `budget` rows needing no request were read in this
-- call: then `budget_hit` is true, so the caller can look at signals and progress and call
-- again at once); nil when every row has been handed out.
function Feeder:next_task(budget)
    self.budget_hit = false
    if self.stopped then return nil end
    local row = take_ready(self)
    if row then return send(self, row) end
    local locals = 0
    while not self.exhausted and self.held_count < M.HOLD_LIMIT do
        if budget and locals >= budget then
            self.budget_hit = true
            return false
        end
        row = self.next_row()
        if not row then
            self.exhausted = true
        elseif self.classify(row) == "local" then
            locals = locals + 1
            self.on_local(row)
        else
            local id = row.task.contact_id
            if self.busy[id] or self.held[id] then
                hold(self, row)
            else
                return send(self, row)
            end
        end
    end
    if self.exhausted and self.held_count == 0 then return nil end
    return false
end

-- The row behind an engine result (by its index); frees the contact for its next held row.
function Feeder:finish(index)
    local row = self.inflight[index]
    if not row then return nil end
    self.inflight[index] = nil
    self.inflight_count = self.inflight_count - 1
    local id = row.task.contact_id
    self.busy[id] = nil
    if self.held[id] then
        self.ready_tail = self.ready_tail + 1
        self.ready[self.ready_tail] = id
    end
    return row
end

-- Stop handing out tasks (interrupt). Rows still held are never sent.
function Feeder:stop()
    self.stopped = true
end

-- True once every row has been read and handed out (held rows included).
function Feeder:drained()
    return self.exhausted and self.held_count == 0
end

return M
