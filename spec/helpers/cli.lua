-- Helpers for the cxone-bulk end-to-end specs: run bin/cxone-bulk as a subprocess (from the repo
-- root, under $CXONE_CLI_LUA or else the interpreter running the specs, so the Lua-matrix runs
-- test the CLI on every ABI), capture its output in files, read JSONL/CSV back.
local U = require "spec.helpers.util"

local C = {}

C.LUA = os.getenv("CXONE_CLI_LUA")
    or (rawget(_G, "jit") and "luajit" or ("lua" .. _VERSION:match("%d+%.%d+")))
C.CREDS = { CXONE_CLIENT_ID = "demo-client", CXONE_CLIENT_SECRET = "demo-secret" }

local q = U.quote
C.quote = q
function C.tmpdir() return U.tmpdir("cli-spec") end
C.rmdir = U.rmdir
C.write = U.write_file
C.read = U.read_file

-- Every line of a JSONL file decoded (a line that does not parse fails the spec).
function C.jsonl(path) return U.decode_jsonl(U.read_file(path)) end

-- The shell command for a run. opts: env (name -> value, false unsets; credentials are set unless
-- overridden), stdin (path), dir (where stdout/stderr go).
local function command(argv, opts, out, err)
    local env = {}
    for k, v in pairs(C.CREDS) do env[k] = v end
    for k, v in pairs(opts.env or {}) do env[k] = v end
    local parts = { "env" }
    for k, v in pairs(env) do -- env's options must come before its assignments
        if v == false then table.insert(parts, 2, "-u " .. k) end
    end
    for k, v in pairs(env) do
        if v ~= false then parts[#parts + 1] = k .. "=" .. q(v) end
    end
    parts[#parts + 1] = C.LUA .. " bin/cxone-bulk"
    for _, a in ipairs(argv) do parts[#parts + 1] = q(a) end
    local cmd = table.concat(parts, " ")
    cmd = cmd .. " < " .. (opts.stdin and q(opts.stdin) or "/dev/null")
    return cmd .. " > " .. q(out) .. " 2> " .. q(err)
end

-- Runs the CLI to completion. Returns exit code, stdout text, stderr text.
function C.run(argv, opts)
    opts = opts or {}
    local dir = C.tmpdir()
    local out, err = dir .. "/stdout", dir .. "/stderr"
    local ok, how, code = os.execute(command(argv, opts, out, err))
    if type(ok) == "number" then code = ok / 256 end -- Lua 5.1
    local o, e = C.read(out), C.read(err)
    C.rmdir(dir)
    assert(how == nil or how == "exit", "cxone-bulk died by signal " .. tostring(code) .. ": " .. tostring(e))
    return code, o, e
end

-- Starts the CLI in the background. Returns a handle with pid, out, err paths and
-- wait(seconds) -> exit code (nil on timeout), signal(name).
function C.spawn(argv, opts)
    opts = opts or {}
    local dir = C.tmpdir()
    local h = { dir = dir, out = dir .. "/stdout", err = dir .. "/stderr" }
    local rc = dir .. "/rc"
    os.execute(("( %s & echo $! > %s; wait $!; echo $? > %s ) > /dev/null 2>&1 &"):format(
        command(argv, opts, h.out, h.err), q(dir .. "/pid"), q(rc)))
    for _ = 1, 200 do
        local pid = C.read(dir .. "/pid")
        if pid and pid:match("%d+") then
            h.pid = pid:match("%d+")
            break
        end
        U.sleep(0.02)
    end
    assert(h.pid, "cxone-bulk did not start")
    function h.signal(name) os.execute("kill -" .. name .. " " .. h.pid) end
    function h.wait(seconds)
        local deadline = os.time() + (seconds or 30)
        repeat
            local code = C.read(rc)
            if code and code:match("%d+") then return tonumber(code:match("%d+")) end
            U.sleep(0.05)
        until os.time() > deadline
        return nil
    end
    function h.cleanup() C.rmdir(dir) end
    return h
end

-- "contact_id,category,subcategory" CSV text for rows {id, category, subcategory}.
function C.csv(rows, header)
    local out = { header or "contact_id,category,subcategory" }
    for _, r in ipairs(rows) do out[#out + 1] = table.concat(r, ",") end
    return table.concat(out, "\n") .. "\n"
end

-- n rows for the mock's known contacts contact-000001.. with a valid outcome.
function C.rows(n, first, category, subcategory)
    local t = {}
    first = first or 1
    for i = 1, n do
        t[i] = { ("contact-%06d"):format(first + i - 1), category or "Contacted",
            subcategory or "Information Provided" }
    end
    return t
end

local FAST = { "--rate", "2000", "--burst", "100", "--backoff-base", "0.01", "--backoff-max", "0.05", "--timeout", "5" }

-- a followed by every list's items (nil lists are empty); returns a.
local function append(a, ...)
    for i = 1, select("#", ...) do
        for _, v in ipairs(select(i, ...) or {}) do a[#a + 1] = v end
    end
    return a
end

-- Fast engine settings against a mock started with --rate 0, then extra.
function C.fast(m, extra)
    return append({ "--base-url", m.url }, FAST, extra)
end

-- A run's argv against mock m: the fast settings, extra (flags that override them), then list
-- (the run's own flags and inputs).
function C.args(m, list, extra)
    return append(C.fast(m, extra), list)
end

-- The same for the cxone profile (the mock started with --api cxone): --issuer instead of --base-url.
function C.cxone_args(m, list)
    return append({ "--api", "cxone", "--issuer", m.url }, FAST, list)
end

return C
