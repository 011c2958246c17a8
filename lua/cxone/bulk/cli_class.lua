--- cxone.bulk.cli_class: the CLI's Run class (everything one invocation owns, so its steps share
-- it without globals), the exit codes and limits, and the messages' shape. The steps are methods
-- added by cxone.bulk.cli_prepare (checks and opening, before anything is sent), cli_send (the
-- send loop, signals, results) and cli_report (summary, exit status, clean-up); its stop state is
-- a cxone.bulk.run_stop, its files a cxone.bulk.run_outputs.
local options = require "cxone.bulk.options"
local shorten = require("cxone.bulk.text").shorten

local M = {}

M.EXIT_OK, M.EXIT_FAILED, M.EXIT_USAGE, M.EXIT_OUTPUT, M.EXIT_INTERRUPTED = 0, 1, 2, 4, 130
-- The API (or the shared limit's Redis) could not be reached, or refused our credentials.
M.EXIT_UNREACHABLE = 3
-- The auto-halt stopped a run going wrong (--max-failure-rate); a canary was not confirmed.
M.EXIT_HALTED, M.EXIT_CANARY = 5, 6
-- The exit status of a run stopped by a whole-batch error, by the error's kind (docs/api.md):
-- the one place a kind becomes an exit code. Kinds not listed stop with EXIT_USAGE.
M.EXIT_BY_KIND = {
    network = M.EXIT_UNREACHABLE, tls = M.EXIT_UNREACHABLE, auth = M.EXIT_UNREACHABLE,
    permission = M.EXIT_UNREACHABLE, limiter = M.EXIT_UNREACHABLE, api = M.EXIT_UNREACHABLE,
    server = M.EXIT_UNREACHABLE, rate_limited = M.EXIT_UNREACHABLE,
    output = M.EXIT_OUTPUT, options = M.EXIT_USAGE, input = M.EXIT_USAGE,
    halted = M.EXIT_HALTED, canary = M.EXIT_CANARY,
}
-- Invalid rows echoed on stderr as they are read; the rest are only in the outputs.
M.SHOW_INVALID = 10
-- After an interrupt, in-flight requests get this long beyond --timeout to finish.
M.GRACE_EXTRA = 2
-- After a cancel, results for aborted transfers must come back within this.
M.CANCEL_WAIT = 5
-- Rows that need no request (invalid, already journaled) read per turn of the loop, so a long
-- stretch of them never delays a signal, a result or the progress line.
M.FEED_BUDGET = 256

-- Longest message line, in bytes: whatever a message quotes (a server's answer, a header of
-- 100,000 columns), it stays readable and is cut between words.
M.MESSAGE_MAX = 1000

local function stderr(fmt, ...)
    io.stderr:write("cxone-bulk: ", shorten(fmt:format(...), M.MESSAGE_MAX), "\n")
end

-- A run: everything one invocation owns, so helpers can share it without globals.
local Run = {}
Run.__index = Run

-- The flag of an engine option, or nil when the command has none for it.
local function flag_of(name)
    local d = options.BY_NAME[name]
    return d and d.flag and ("--" .. d.flag) or nil
end

-- An engine message as the operator should read it: no module prefix, and the batch_update
-- option names it mentions spelled as this command's flags ("option 'base_url'" -> --base-url,
-- "set allow_http = true" -> pass --allow-http, "give ca_file = \"X\"" -> pass --ca-file X).
-- Names without a flag are left as they are.
local function strip_label(err)
    local msg = tostring(err):gsub("^cxone%.bulk: ", ""):gsub("^task: ", "")
    msg = msg:gsub("option '([%w_]+)'", function(name) return flag_of(name) end)
    msg = msg:gsub("set ([%w_]+) = true", function(name)
        local f = flag_of(name)
        return f and ("pass " .. f) or nil
    end)
    msg = msg:gsub('give ([%w_]+) = "([^"]*)"', function(name, v)
        local f = flag_of(name)
        return f and ("pass " .. f .. " " .. v) or nil
    end)
    msg = msg:gsub("%f[%w_](%l+_[%w_]+)%f[^%w_]", function(name) return flag_of(name) end)
    return msg
end
M.strip_label = strip_label

-- A message on stderr while the progress bar may be on screen.
function Run:say(fmt, ...)
    if self.progress then self.progress:clear() end
    stderr(fmt, ...)
end

function Run:warn(msg)
    self:say("warning: %s", msg)
end

-- No new row is sent from now on; the job finishes what it holds.
function Run:stop_intake()
    if not self.stop:drain() then return end
    self.pending = nil
    if self.feeder then self.feeder:stop() end
    if self.job then self.job:close_input() end
end

M.Run, M.stderr = Run, stderr
return M
