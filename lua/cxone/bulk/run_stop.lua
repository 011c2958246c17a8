--- cxone.bulk.run_stop: how and why a CLI run stops, held in one object (the run's `stop`).
--
-- state:  "running"    rows are read and sent
--         "draining"   no new row is sent; the job finishes what it holds (a signal, a
--                      whole-batch error, an output that cannot be written, a canary's end)
--         "cancelling" in-flight requests are aborted (a second signal, or the grace period
--                      after the first ran out)
-- and why: the first signal (and how many came), the whole-batch error and its kind, the first
-- output that could not be written, whether a canary ended the run (canary = true). The exit
-- status is read from here, in one place.
local M = {}

local Stop = {}
Stop.__index = Stop

function M.new()
  return setmetatable({ state = "running", signals = 0, interrupted = false }, Stop)
end

--- True once no new row is to be sent.
function Stop:draining()
  return self.state ~= "running"
end

--- Stops the intake of rows. Returns true the first time (the caller then closes the input).
function Stop:drain()
  if self.state ~= "running" then return false end
  self.state = "draining"
  return true
end

--- In-flight requests are being cancelled (at monotonic time now).
function Stop:cancel(now)
  self.state, self.cancelled_at = "cancelling", now
end

--- A signal arrived: counts it, keeps the first one's name. Returns how many have come.
function Stop:signal_caught(name)
  self.signals = self.signals + 1
  self.signal = self.signal or name
  self.interrupted = true
  return self.signals
end

--- A whole-batch error (msg, its kind). The first one is the run's.
function Stop:fail(msg, kind)
  if self.fatal then return end
  self.fatal, self.kind = msg, kind
end

--- The first output that could not be written (msg). Returns true when it is the first.
function Stop:output_failed(msg)
  if self.write_error then return false end
  self.write_error = msg
  return true
end

--- Why rows were left unsent, as the rerun advice says it (by_kind: words for some kinds).
function Stop:reason(by_kind)
  return self.signal or (self.fatal and (by_kind[self.kind] or "a whole-batch error"))
    or "an output could not be written"
end

--- The exit status (codes: the CLI's EXIT_* and EXIT_BY_KIND), and the line that says why the
-- run stopped early, or nil. failed: how many rows did not succeed.
function Stop:exit_status(codes, failed)
  if self.fatal then return codes.EXIT_BY_KIND[self.kind] or codes.EXIT_USAGE, "stopped: " .. self.fatal end
  if self.write_error then return codes.EXIT_OUTPUT, "stopped: " .. self.write_error end
  if self.interrupted then return codes.EXIT_INTERRUPTED end
  if failed > 0 then return codes.EXIT_FAILED end
  return codes.EXIT_OK
end

return M
