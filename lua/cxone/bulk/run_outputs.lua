--- cxone.bulk.run_outputs: the files a CLI run writes as results arrive — the results (JSON
-- Lines), the failed rows (CSV), the journal and the summary (JSON) — held in one object (the
-- run's `out`): opened before anything is sent, written through one guard, closed once.
-- (--plan, --undo-file, --report and --metrics-file belong to cxone.bulk.safety_cli and
-- cxone.bulk.observe, which write through the same guard.)
local output = require "cxone.bulk.output"

local M = {}

local Outputs = {}
Outputs.__index = Outputs

-- Opens a file for writing ("-" is stdout). Returns handle or nil, message.
local function open_out(path, what)
  if path == "-" then return io.stdout end
  local fh, err = io.open(path, "wb")
  if not fh then return nil, ("cannot open %s file: %s"):format(what, err) end
  return fh
end

--- opts: the parsed command line; path: where results go ("-": stdout; nil: not written).
function M.new(opts, path)
  return setmetatable({ opts = opts, path = path, dead = {} }, Outputs)
end

--- Opens the results, failed and summary files. layout: the failed file's columns (the input's
-- failed_layout()). Returns true or nil, message.
function Outputs:open(layout)
  local opts = self.opts
  if self.path then
    local fh, err = open_out(self.path, "results")
    if not fh then return nil, err end
    self.results_fh = fh
  end
  self.results = output.results(self.results_fh, self.path == "-" and "stdout" or self.path)
  if opts.failed then
    local fh, err = open_out(opts.failed, "failed")
    if not fh then return nil, err end
    self.failed_fh = fh
  end
  if opts["summary-json"] then
    -- Opened now, so that an unwritable path refuses the run before anything is sent.
    local fh, err = open_out(opts["summary-json"], "summary")
    if not fh then return nil, err end
    self.summary_fh = fh
  end
  local ok, failed = pcall(output.failed, self.failed_fh, layout, opts.failed)
  if not ok then return nil, failed end
  self.failed = failed
  return true
end

--- Runs one write to output `what`. Returns nil, or the message of its failure the first time
-- it fails (the output is dead from then on: later writes to it are skipped).
function Outputs:write(what, f)
  if self.dead[what] then return nil end
  local ok, err = pcall(f)
  if ok then return nil end
  self.dead[what] = true
  return tostring(err)
end

--- The outputs removed while the run writes them (rm, their directory deleted: such a file takes
-- every write without an error and is gone at the end): a list of {what, message}.
function Outputs:removed(sys)
  local gone = {}
  for _, o in ipairs({ { "results", self.results_fh, self.path }, { "failed", self.failed_fh, self.opts.failed } }) do
    local what, fh, path = o[1], o[2], o[3]
    if fh and fh ~= io.stdout and sys.linked(fh) == false then
      gone[#gone + 1] = { what, ("cannot write the %s file %s: it was removed while the run was writing it")
        :format(what, path) }
    end
  end
  return gone
end

--- Takes the summary file's handle (the caller writes and closes it); nil when none is open.
function Outputs:take_summary()
  local fh = self.summary_fh
  self.summary_fh = nil
  return fh
end

--- The run never started: no summary file rather than an empty one.
function Outputs:drop_summary()
  local fh = self:take_summary()
  if not fh then return end
  fh:close()
  os.remove(self.opts["summary-json"])
end

--- Closes the journal (sent: requests the job made; 0 tells a rerun none can have reached the
-- API) and the results, through guard(what, f) (the run's write guard).
function Outputs:close_journal_and_results(sent, guard)
  if self.journal then
    guard("journal", function()
      self.journal:finish(sent)
      self.journal:close()
    end)
  end
  if self.results then guard("results", function() self.results:close() end) end
end

--- Closes the failed file (through guard) and a results file no writer took.
function Outputs:close_rest(guard)
  if self.failed then guard("failed", function() self.failed:close() end) end
  if self.results_fh and self.results_fh ~= io.stdout and not self.results then self.results_fh:close() end
end

return M
