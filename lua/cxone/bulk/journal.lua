-- The resume journal: the record of what was applied, written ahead of every request. Three
-- kinds of line, all JSON:
--   {"journal":1,"run":{...}}   a run's header: batch id, target, client id, input, start time
--   {"intent":true,...}         a task is about to be sent: its identity (below), line, batch id.
--                               Written before the task's first request leaves and made durable
--                               by the engine before it does (src/engine/durable.h: the worker syncs)
--   {...result...}              a finished result (ok, status, outcome_unknown, ..., and its
--                               timing at/latency/tries for the run report), flushed as
--                               it arrives, fsync'ed at least every SYNC_EVERY results or
--                               SYNC_SECONDS
--   {"run_end":{"requests":N}}  the run closed normally after sending N API requests (a caller
--                               may add fields of its own: finish(requests, about))
-- A task whose last line is an intent without a result (a kill -9, a power loss mid-request), or
-- a result with outcome_unknown, may have been applied: a rerun reads it back first and writes
-- only when the contact does not already show the wanted value (task.verify). The intents of a
-- run that sent nothing (run_end requests 0: the token or discovery step failed) are void, and
-- such a run does not bind the journal to its batch id or target.
--
-- A rerun with the same journal never re-applies a journaled success: it skips every row whose
-- identical update (same contact and outcome, or the same explicit idempotency_key) succeeded,
-- and every row that a later row of the same input, for the same contact, already set ("the later
-- row wins" holds across reruns). The skip set holds a few short strings per journaled row, so
-- resuming a 1,000,000-row journal costs about 100-200 MB; the file is read line by line.
--
-- The file is locked (flock) while a run appends to it: a second run on the same journal refuses
-- to start instead of interleaving its records.
local cjson = require "cjson.safe"
local output = require "cxone.bulk.output"

local M = {}

M.SYNC_EVERY = 100
M.SYNC_SECONDS = 0.2
M.VERSION = 1
-- A new journal's mode, whatever the umask (an nginx worker's is 0): the record of what was
-- applied is no one else's to rewrite.
M.MODE = "0640"

-- The identity of an update: rows with the same identity are the same change to the server.
function M.identity(task)
    if task.idempotency_key then return "k\0" .. task.idempotency_key end
    if task.disposition_code then -- api = "cxone": the whole set-disposition, optional fields too
        return "d\0" .. task.contact_id .. "\0" .. task.skill .. "\0" .. task.disposition_code .. "\0"
            .. (task.notes or "") .. "\0" .. (task.callback_number or "") .. "\0" .. (task.callback_time or "")
            .. "\0" .. (task.commitment_amount or "")
    end
    return "o\0" .. task.contact_id .. "\0" .. task.category .. "\0" .. task.subcategory
end

-- What the journal knows, built by M.load.
local State = {}
State.__index = State

local function new_state()
    return setmetatable({
        done = {},        -- identity -> true: applied
        pending = {},     -- identity -> run number: an intent or an unknown outcome is its last word
        latest = {},      -- input .. "\0" .. contact -> greatest line of that input applied
        pos_line = {},    -- identity -> the line where that update stood in its input ...
        pos_input = {},   -- identity -> ... and that input (one shared string per run)
        runs = {},        -- the run headers, in order
        batch_ids = {},   -- batch id -> true, from records and headers
        entries = 0, succeeded = 0, torn = false,
    }, State)
end

-- Why an intent record cannot be trusted, or nil.
local function bad_intent(rec)
    if type(rec.contact_id) ~= "string" then return "an intent without contact_id" end
    local fields = rec.disposition_code and { "skill", "disposition_code" } or { "category", "subcategory" }
    if rec.given_key == nil then
        for _, f in ipairs(fields) do
            if type(rec[f]) ~= "string" then return "an intent without " .. f end
        end
    elseif type(rec.given_key) ~= "string" then
        return "given_key is not a string"
    end
end

-- The input a record belongs to: its run header's, or the current run's for old journals.
local function record_input(st, current_input)
    local run = st.runs[#st.runs]
    return run and run.input or current_input or ""
end

-- Checks one decoded record; returns nil or what is wrong with it.
local function bad_record(rec)
    if type(rec.contact_id) ~= "string" then return "no contact_id" end
    if rec.ok ~= true and rec.ok ~= false then return "no ok field" end
    if rec.ok and rec.given_key == nil then
        for _, f in ipairs(rec.disposition_code and { "skill", "disposition_code" } or { "category", "subcategory" }) do
            if type(rec[f]) ~= "string" then return "a success without " .. f end
        end
    end
    if rec.given_key ~= nil and type(rec.given_key) ~= "string" then return "given_key is not a string" end
    if rec.line ~= nil and type(rec.line) ~= "number" then return "line is not a number" end
end

-- The identity of the update a record (result or intent) speaks of.
local function record_identity(rec)
    return M.identity({ contact_id = rec.contact_id, category = rec.category or "", subcategory = rec.subcategory or "",
        idempotency_key = rec.given_key, skill = rec.skill, disposition_code = rec.disposition_code,
        notes = rec.notes, callback_number = rec.callback_number, callback_time = rec.callback_time,
        commitment_amount = rec.commitment_amount })
end

-- The current run (the last header read), counted as binding once it holds a record.
function State:_run_saw(what)
    local run = self.runs[#self.runs]
    if run then run[what] = (run[what] or 0) + 1 end
end

-- A record's batch id: its run's (it binds only when the run does), or the journal's when the
-- record comes before any header (journals of old versions).
function State:_saw_batch(rec)
    if type(rec.batch_id) ~= "string" then return end
    local run = self.runs[#self.runs]
    if not run then
        self.batch_ids[rec.batch_id] = true
        return
    end
    run._batch_ids = run._batch_ids or {}
    run._batch_ids[rec.batch_id] = true
end

function State:_add_intent(rec)
    self.entries = self.entries + 1
    self:_saw_batch(rec)
    self:_run_saw("_intents")
    local id = record_identity(rec)
    if not self.done[id] then self.pending[id] = #self.runs end
end

function State:_add(rec, input)
    self.entries = self.entries + 1
    self:_saw_batch(rec)
    self:_run_saw("_results")
    local id = record_identity(rec)
    if rec.ok then
        self.pending[id] = nil
    elseif rec.outcome_unknown then
        self.pending[id] = #self.runs -- may have been applied: read it back before any resend
    else
        self.pending[id] = nil -- a definitive answer: not applied
    end
    local line = rec.line
    if not rec.ok and line and not self.pos_line[id] then
        -- Only a failed update can come back (from a failed file): remember where it stood.
        self.pos_line[id], self.pos_input[id] = line, input
    end
    if rec.ok then
        if not self.done[id] then
            self.done[id] = true
            self.succeeded = self.succeeded + 1
        end
        if line then
            local key = input .. "\0" .. rec.contact_id
            if not self.latest[key] or self.latest[key] < line then self.latest[key] = line end
        end
    end
end

--- True when an earlier run may have applied this update without knowing: its intent has no
-- result, or its result's outcome is unknown. Such a task is read back before it is sent.
function State:needs_verify(task)
    return self.pending[M.identity(task)] ~= nil
end

-- After reading: a run that closed having sent nothing voids its intents and binds nothing.
function State:_settle_runs()
    for id, r in pairs(self.pending) do
        local run = self.runs[r]
        if run and run._requests == 0 then self.pending[id] = nil end
    end
end

-- Whether a run commits the journal to its batch: it recorded results or intents of requests
-- that may have been sent. A run that ended saying it sent no request (its token or discovery
-- step failed) does not: nothing of it can have reached the API.
local function run_binds(r)
    if r._requests == 0 then return false end
    return (r._results or 0) > 0 or (r._intents or 0) > 0
end

--- Why a row needs no request, or nil: "journal" (this update was applied) or "superseded"
-- (a later row of the same input set this contact already). row: {task=, line=}; input: the
-- current run's input name.
function State:skip_reason(task, line, input)
    local id = M.identity(task)
    if self.done[id] then return "journal" end
    local later = self.latest[input .. "\0" .. task.contact_id]
    if later and line and later > line then return "superseded" end
    -- The row may come from another file (a re-fed failed file): where did it stand originally?
    local was_in = self.pos_input[id]
    if was_in and was_in ~= input then
        later = self.latest[was_in .. "\0" .. task.contact_id]
        if later and later > self.pos_line[id] then return "superseded" end
    end
    return nil
end

--- The journal's runs that differ from this one in batch id, target or client: a list of
-- "batch id 'A' (this run: 'B')" phrases, empty when the journal continues this batch.
function State:mismatches(run)
    local out, seen = {}, {}
    local function differs(what, theirs, ours)
        if theirs ~= nil and theirs ~= ours then
            local phrase = ("%s %q (this run: %q)"):format(what, theirs, ours)
            if not seen[phrase] then
                seen[phrase] = true
                out[#out + 1] = phrase
            end
        end
    end
    for b in pairs(self.batch_ids) do differs("batch id", b, run.batch_id) end
    for _, r in ipairs(self.runs) do
        if run_binds(r) then
            differs("batch id", r.batch_id, run.batch_id)
            for b in pairs(r._batch_ids or {}) do differs("batch id", b, run.batch_id) end
            differs("base URL", r.base_url, run.base_url)
            differs("client id", r.client_id, run.client_id)
        end
    end
    table.sort(out)
    return out
end

-- Reads fh (positioned at the start) into a State. Returns the state, or nil and a message
-- naming the line for a record that cannot be trusted. Only a torn last line (an interrupted
-- write) is forgiven. pause, when given, is called after each 64 KB read (an event loop's yield:
-- 40,000 tasks' records take about 0.45 s to read).
local function read_state(fh, path, current_input, pause)
    local st = new_state()
    local lineno, err = 0, nil
    local function take(line, complete)
        lineno = lineno + 1
        if line == "" then return end
        local rec = cjson.decode(line)
        if type(rec) ~= "table" then
            if complete then
                err = ("journal %s line %d is not a JSON object"):format(path, lineno)
            else
                st.torn = true -- the last write was cut short (kill -9 or power loss)
            end
            return
        end
        if type(rec.run) == "table" then
            st.runs[#st.runs + 1] = rec.run -- its batch id counts once the run holds a record
            return
        end
        if type(rec.run_end) == "table" then
            local run = st.runs[#st.runs]
            if run and type(rec.run_end.requests) == "number" then run._requests = rec.run_end.requests end
            return
        end
        local why
        if rec.intent then why = bad_intent(rec) else why = bad_record(rec) end
        if why then
            if complete then
                err = ("journal %s line %d is not a result record this version wrote (%s)"):format(path, lineno, why)
            else
                st.torn = true
            end
            return
        end
        if rec.intent then return st:_add_intent(rec) end
        st:_add(rec, record_input(st, current_input))
    end
    -- Read in chunks (not fh:lines) to know whether the last line ended with a line break,
    -- the same way under every Lua version.
    local rest = ""
    while not err do
        local chunk = fh:read(65536)
        if not chunk then break end
        rest = rest .. chunk
        local pos = 1
        while not err do
            local lf = rest:find("\n", pos, true)
            if not lf then break end
            take(rest:sub(pos, lf - 1), true)
            pos = lf + 1
        end
        rest = rest:sub(pos)
        if pause then pause() end
    end
    if not err and rest ~= "" then take(rest, false) end
    if err then return nil, err end
    st:_settle_runs()
    return st
end

--- Reads the journal at path without opening it for writing (--dry-run). A missing file is an
-- empty journal. Returns a State or nil, message.
function M.load(path, current_input, sys)
    local id, kind
    if sys then id, kind = sys.file_id(path) end
    if id and kind ~= "file" then return nil, ("journal %s is not a regular file"):format(path) end
    local fh = io.open(path, "rb")
    if not fh then
        local probe = io.open(path, "ab")
        if not probe then return nil, ("cannot open journal %s"):format(path) end
        probe:close()
        os.remove(path)
        return new_state()
    end
    local st, err = read_state(fh, path, current_input)
    fh:close()
    return st, err
end

local Journal = {}
Journal.__index = Journal

--- Opens path for appending, locked against a second run, and reads what it holds.
-- sys: the core's sys table (lock, fsync, monotime); pause: see read_state (nginx passes a short
-- ngx.sleep). Returns journal, state or nil, message.
function M.open(path, sys, current_input, pause)
    local id, kind = sys.file_id(path)
    if id and kind ~= "file" then
        -- A device or pipe is no record (and /dev/zero or /dev/full would read forever).
        return nil, ("journal %s is not a regular file"):format(path)
    end
    if sys.create_file then
        local created, cerr = sys.create_file(path, M.MODE)
        if created == nil then return nil, ("cannot create journal %s"):format(cerr) end
    end
    local fh, err = io.open(path, "a+b")
    if not fh then return nil, ("cannot open journal: %s"):format(err) end
    local locked, lerr = sys.lock(fh)
    if not locked then
        fh:close()
        return nil, ("journal %s is in use by another cxone-bulk run (%s); wait for it to finish or "
            .. "use another journal"):format(path, lerr)
    end
    fh:seek("set", 0)
    local st, rerr = read_state(fh, path, current_input, pause)
    if not st then
        fh:close()
        return nil, rerr
    end
    local self = setmetatable({ fh = fh, path = path, fsync = sys.fsync, now = sys.monotime,
        unsynced = 0, last_sync = sys.monotime(), state = st, linked = sys.linked }, Journal)
    -- A torn last line would swallow the next record: start on a fresh line.
    local size = fh:seek("end")
    if size and size > 0 then
        fh:seek("set", size - 1)
        local last = fh:read(1)
        fh:seek("end")
        if last ~= "\n" then self:_write("\n") end
    end
    return self, st
end

function Journal:_write(text)
    local ok, err = self.fh:write(text)
    if ok then ok, err = self.fh:flush() end
    if not ok then error(("cannot write the journal %s: %s"):format(self.path, tostring(err)), 0) end
end

--- Appends this run's header: {batch_id, base_url, client_id, input, started}.
function Journal:begin(run)
    local rec = { journal = M.VERSION, run = run }
    self:_write(cjson.encode(rec):gsub("\\/", "/") .. "\n")
    self:sync()
end

-- Appends one finished result. rec carries the result fields plus line, category, subcategory,
-- batch_id and given_key (the explicit idempotency_key of the input row, if any).
function Journal:append(rec)
    self:_write(output.encode_result(rec))
    self.unsynced = self.unsynced + 1
    if self.unsynced >= M.SYNC_EVERY then self:sync() end
end

-- Buffers one intent record (the task's identity, line and batch id); flush_intents() writes
-- the buffered ones in one write. The engine syncs the file before the task's first request.
function Journal:intent(rec)
    rec.intent = true
    local ok, err = self.fh:write(output.encode_result(rec))
    if not ok then error(("cannot write the journal %s: %s"):format(self.path, tostring(err)), 0) end
end

function Journal:flush_intents()
    local ok, err = self.fh:flush()
    if not ok then error(("cannot write the journal %s: %s"):format(self.path, tostring(err)), 0) end
end

-- The closing record: how many API requests the run sent (0 voids its intents on a rerun).
-- about: more fields for the record, the caller's (the nginx example keeps the job's final
-- status there); a reader takes only `requests`.
function Journal:finish(requests, about)
    local rec = {}
    for k, v in pairs(about or {}) do rec[k] = v end
    rec.requests = requests
    self:_write(cjson.encode({ run_end = rec }) .. "\n")
end

-- Called from the poll loop: syncs when results have waited SYNC_SECONDS.
function Journal:tick()
    if self.unsynced > 0 and self.now() - self.last_sync >= M.SYNC_SECONDS then self:sync() end
end

function Journal:sync()
    local ok, err = self.fsync(self.fh)
    if not ok then error(("cannot fsync the journal %s: %s"):format(self.path, tostring(err)), 0) end
    -- A journal removed while the run writes it (rm, its directory deleted) takes every write
    -- without error and is gone for the rerun, and its lock no longer keeps out a new run on the
    -- path: stop instead.
    if self.linked and self.linked(self.fh) == false then
        error(("cannot write the journal %s: the file was removed while the run was writing it"):format(self.path), 0)
    end
    self.unsynced, self.last_sync = 0, self.now()
end

function Journal:close()
    if not self.fh then return end
    local fh = self.fh
    local ok, err = pcall(self.sync, self)
    self.fh = nil
    fh:close()
    if not ok then error(err, 0) end
end

return M
