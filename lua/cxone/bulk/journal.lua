-- The resume journal: one JSON line per finished result, appended and flushed as each result
-- arrives (so a killed process loses nothing it wrote), fsync'ed at least every SYNC_EVERY
-- results or SYNC_SECONDS (so a crashed machine loses little).
--
-- A rerun with the same journal skips every row whose identical update already succeeded: same
-- contact, same outcome, same batch id (which is what the derived Idempotency-Key is made of), or
-- the same explicit idempotency_key when the input gave one. The skip set holds one short string
-- per succeeded row (about 100 bytes each in Lua), so resuming a 1,000,000-row journal costs
-- about 100 MB; the journal file itself is only read line by line.
local cjson = require "cjson.safe"
local output = require "cxone.bulk.output"

local M = {}

M.SYNC_EVERY = 100
M.SYNC_SECONDS = 0.2

-- The identity of an update: rows with the same identity are the same request to the server.
function M.identity(task, batch_id)
    if task.idempotency_key then return "k\0" .. task.idempotency_key end
    return "o\0" .. (batch_id or "") .. "\0" .. task.contact_id .. "\0" .. task.category .. "\0" .. task.subcategory
end

-- Reads the journal at path (a missing file is an empty journal, and is not created). Returns the set of identities
-- that succeeded and {entries=, succeeded=, torn=bool, corrupt=n}; or nil, message when the file
-- exists but cannot be read. warn(msg) hears about corrupt lines (at most a few).
function M.load(path, warn)
    local done, info = {}, { entries = 0, succeeded = 0, torn = false, corrupt = 0 }
    local fh = io.open(path, "rb")
    if not fh then
        -- Missing is fine (a first run); anything else that stops reading is not.
        local probe = io.open(path, "ab")
        if not probe then return nil, ("cannot open journal %s"):format(path) end
        probe:close()
        os.remove(path)
        return done, info
    end
    local lineno, pending = 0, nil
    local function take(line, complete)
        lineno = lineno + 1
        if pending then -- a bad line that turned out not to be the last one
            info.corrupt = info.corrupt + 1
            if warn and info.corrupt <= 3 then
                warn(("journal %s line %d is not valid JSON; ignored"):format(path, pending))
            end
            pending = nil
        end
        local rec = cjson.decode(line)
        if type(rec) ~= "table" or type(rec.contact_id) ~= "string" then
            if complete then
                pending = lineno
            else
                info.torn = true -- the last write was cut short (kill -9 or power loss)
            end
            return
        end
        info.entries = info.entries + 1
        if rec.ok == true then
            local id = M.identity({
                contact_id = rec.contact_id, category = rec.category, subcategory = rec.subcategory,
                idempotency_key = rec.given_key,
            }, rec.batch_id)
            if not done[id] then
                done[id] = true
                info.succeeded = info.succeeded + 1
            end
        end
    end
    -- Read in chunks (not fh:lines) to know whether the last line ended with a line break,
    -- the same way under every Lua version.
    local rest = ""
    while true do
        local chunk = fh:read(65536)
        if not chunk then break end
        rest = rest .. chunk
        local pos = 1
        while true do
            local lf = rest:find("\n", pos, true)
            if not lf then break end
            take(rest:sub(pos, lf - 1), true)
            pos = lf + 1
        end
        rest = rest:sub(pos)
    end
    if rest ~= "" then take(rest, false) end
    if pending then
        info.corrupt = info.corrupt + 1
        if warn then warn(("journal %s line %d is not valid JSON; ignored"):format(path, pending)) end
    end
    fh:close()
    return done, info
end

local Journal = {}
Journal.__index = Journal

-- Opens path for appending. fsync(fh) makes the data durable; now() is a monotonic clock.
function M.open(path, fsync, now)
    local fh, err = io.open(path, "ab")
    if not fh then return nil, ("cannot open journal: %s"):format(err) end
    -- A torn last line would swallow the next record: start on a fresh line.
    local size = fh:seek("end")
    if size and size > 0 then
        local rfh = io.open(path, "rb")
        if rfh then
            rfh:seek("set", size - 1)
            local last = rfh:read(1)
            rfh:close()
            if last ~= "\n" then fh:write("\n") end
        end
    end
    return setmetatable({ fh = fh, fsync = fsync, now = now, unsynced = 0, last_sync = now() }, Journal)
end

-- Appends one finished result. rec carries the result fields plus line, category, subcategory,
-- batch_id and given_key (the explicit idempotency_key of the input row, if any).
function Journal:append(rec)
    local ok, err = self.fh:write(output.encode_result(rec))
    if not ok then error("cannot write the journal: " .. tostring(err), 0) end
    self.fh:flush()
    self.unsynced = self.unsynced + 1
    if self.unsynced >= M.SYNC_EVERY then self:sync() end
end

-- Called from the poll loop: syncs when results have waited SYNC_SECONDS.
function Journal:tick()
    if self.unsynced > 0 and self.now() - self.last_sync >= M.SYNC_SECONDS then self:sync() end
end

function Journal:sync()
    self.fh:flush()
    local ok, err = self.fsync(self.fh)
    if not ok then error("cannot fsync the journal: " .. tostring(err), 0) end
    self.unsynced, self.last_sync = 0, self.now()
end

function Journal:close()
    if not self.fh then return end
    self:sync()
    self.fh:close()
    self.fh = nil
end

return M
