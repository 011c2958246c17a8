-- The failed file's own columns: the one place their names, the state values and their meaning
-- live. The writer (output.failed) adds them, the reader (cxone.bulk.columns, input) recognises
-- them when the file is fed back, and the CLI asks here which state a finished row has.
--
-- A failed file is the input's own columns, then `error` (why the row did not succeed) and
-- `cxone_bulk_state`, one of:
--   "failed"           the row did not succeed and was not applied: re-feed it as it is;
--   "outcome unknown"  an attempt may have been applied without a definitive answer (the
--                      result's outcome_unknown): re-fed, the row becomes a task with
--                      verify = true, which the engine reads back before sending;
--   "not sent"         the row was never sent (left over when a run stopped): re-feed it.
-- Read back, neither column is data, and an empty state cell is a plain row (a row the operator
-- added). The state column's name is prefixed so it cannot clash with an operator's column; the
-- `error` name is kept from earlier versions, whose failed files still read back.
local M = {}

M.ERROR_COLUMN = "error"
M.STATE_COLUMN = "cxone_bulk_state"

M.FAILED = "failed"
M.OUTCOME_UNKNOWN = "outcome unknown"
M.NOT_SENT = "not sent"

local VALUES = { [M.FAILED] = true, [M.OUTCOME_UNKNOWN] = true, [M.NOT_SENT] = true }

-- A header cell as the reader compares names: case, white space, '_' and '-' do not matter.
local function normalize(name)
    return (name:lower():gsub("[%s_%-]", ""))
end

-- "error" / "state" for a header cell that is one of the failed file's own columns, else nil.
function M.own_column(cell)
    local n = normalize(cell)
    if n == normalize(M.ERROR_COLUMN) then return "error" end
    if n == normalize(M.STATE_COLUMN) then return "state" end
    return nil
end

-- The state written for a finished row: r is the engine's (or a local) result, task the task
-- the row was sent as (nil when it could not be read). A task that carried verify and made no
-- attempt learned nothing new, so it stays "outcome unknown".
function M.state_of(r, task)
    if r.outcome_unknown then return M.OUTCOME_UNKNOWN end
    local attempts = r.attempts or 0
    if attempts == 0 and task and task.verify then return M.OUTCOME_UNKNOWN end
    if r.cancelled and attempts == 0 then return M.NOT_SENT end
    return M.FAILED
end

-- The state to write given what the caller says (nil: "failed") and the row's own state cell
-- when it came from a failed file: "not sent" never hides an earlier "outcome unknown".
function M.merge(state, prior)
    local given = state
    state = M.read_state(state or M.FAILED)
    if not state then error("failed file: unknown state " .. tostring(given), 2) end
    if state == M.NOT_SENT and prior and M.read_state(prior) == M.OUTCOME_UNKNOWN then
        return M.OUTCOME_UNKNOWN
    end
    return state
end

-- A state cell as read back: the state (nil for an empty cell), or nil, why it is not one.
function M.read_state(cell)
    local raw = tostring(cell or ""):match("^%s*(.-)%s*$")
    local v = (raw:lower():gsub("%s+", " "))
    if v == "" then return nil end
    if v == "outcome_unknown" then v = M.OUTCOME_UNKNOWN end
    if v == "not_sent" then v = M.NOT_SENT end
    if VALUES[v] then return v end
    return nil, ('%s must be "%s", "%s", "%s" or empty (got "%s")'):format(M.STATE_COLUMN, M.FAILED,
        M.OUTCOME_UNKNOWN, M.NOT_SENT, raw)
end

-- Applies a read-back state cell to the task of its row: "outcome unknown" sets verify. Returns
-- nil, or why the cell is not a state.
function M.apply_state(task, cell)
    local state, why = M.read_state(cell)
    if why then return why end
    if state == M.OUTCOME_UNKNOWN then task.verify = true end
    return nil
end

return M
