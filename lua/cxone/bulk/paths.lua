-- Refuses a run whose outputs are its input or one another, before anything is opened for
-- writing: `--failed in.csv in.csv` would truncate the input and then read its own failed rows
-- back as new ones. Files are compared as the system sees them (device and inode), so symbolic
-- links, hard links, `./x` and `../d/x` spellings and a redirected stdout are all caught; paths
-- that do not exist yet are compared by their canonical directory plus name.
local M = {}

local function dirname_basename(path)
    local dir, base = path:match("^(.*)/([^/]*)$")
    if not dir then return ".", path end
    if dir == "" then dir = "/" end
    return dir, base
end

-- The identity of what an entry names, or nil when it cannot be clobbered (a terminal, a pipe,
-- /dev/null, a directory or a missing directory: opening reports those).
local function identity(sys, e)
    local target = e.path
    if target == "-" then target = e.role == "input" and 0 or 1 end
    local id, kind, enoent = sys.file_id(target)
    if id then return kind == "file" and ("id:" .. id) or nil end
    if type(target) == "number" or enoent ~= "ENOENT" then return nil end
    local dir, base = dirname_basename(target)
    local real = sys.realpath(dir)
    if not real or base == "" then return nil end
    return "new:" .. real .. "/" .. base
end

local function name_of(e)
    if e.path == "-" then return e.role == "input" and "stdin" or "stdout (results)" end
    if e.role == "input" then return "the input " .. e.path end
    return e.flag .. " " .. e.path
end

--- entries: array of {flag=, path= (nil: not given; "-": stdin/stdout), role="input"|nil}, the
-- input first. Returns true, or nil and a message naming both paths as the user wrote them.
function M.check(sys, entries)
    local seen = {}
    for _, e in ipairs(entries) do
        local id = e.path and identity(sys, e)
        if id then
            local first = seen[id]
            if first and first.role == "input" then
                return nil, ("%s is the same file as %s: writing it would destroy the input; "
                    .. "choose another path"):format(name_of(e), name_of(first))
            elseif first then
                return nil, ("%s and %s are the same file: each output needs its own path")
                    :format(name_of(first), name_of(e))
            end
            seen[id] = e
        end
    end
    return true
end

return M
