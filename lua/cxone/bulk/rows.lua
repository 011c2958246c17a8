-- What the CLI says about a finished row, in the terms of the operator's file.
--
-- The engine labels a task's message with its position in the job ("task 5: ..."), which is not
-- the row's line in the input (line 6, after the header; later still after blank or journaled
-- rows). Every message about a row names its input line instead. Rows the engine refused for
-- their outcome (--validate-outcomes: not in the tenant's hierarchy, or not a disposition of the
-- skill) are told apart from rows the reader refused, so the summary can list them by outcome,
-- each with the engine's suggestion.
local failed_file = require "cxone.bulk.failed_file"

local M = {}

-- Strips the label the engine puts before a task's message: "task N: " or "task: ".
local function unlabel(err)
    return (err:gsub("^task %d+: ", ""):gsub("^task: ", ""))
end

-- err with the engine's label replaced by "line L: " (nil stays nil; a message without the
-- label is left as it is: the record it is in names the line).
function M.labelled(err, line)
    if err == nil then return nil end
    err = tostring(err)
    local bare = unlabel(err)
    if bare == err then return err end
    return ("line %d: %s"):format(line, bare)
end

-- err without any row label ("task N: " or "line L: "): for places that name the line apart.
function M.bare(err)
    if err == nil then return nil end
    return (unlabel(tostring(err)):gsub("^line %d+: ", ""))
end

-- The failed file's state for a finished row (see cxone.bulk.failed_file).
function M.state(row, r)
    return failed_file.state_of(r, row.task)
end

-- The outcome the engine refused for this row ("Contacted / Info Provided", or the skill and
-- disposition code), or nil: a result the engine marked invalid for a row the reader had
-- accepted can only be an outcome check (the reader runs every other check first).
function M.refused_outcome(row, r)
    if not r.invalid or row.error or not row.task then return nil end
    local t = row.task
    if t.skill or t.disposition_code then
        return ("skill %s / %s"):format(tostring(t.skill), tostring(t.disposition_code))
    end
    return ("%s / %s"):format(tostring(t.category), tostring(t.subcategory))
end

return M
