-- cxone-bulk: the operator command line on top of cxone.bulk.
--
-- Reads rows (CSV, JSON Lines or ids) and pushes them into ONE engine job for the whole run
-- (bulk.open + job:submit), so the run has one limiter, one burst and one token however its rows
-- repeat contacts. The feeder keeps rows for the same contact in input order. Results (JSONL),
-- failed rows (CSV) and the resume journal are written as results arrive. Signals, a closed
-- stdout and write errors stop the intake of rows at once; what is in flight is finished and
-- recorded before the process exits.
--
-- A run is cxone.bulk.cli_class's Run: prepared (cli_prepare), sent (cli_send), reported
-- (cli_report); its stop state is a cxone.bulk.run_stop and its files a cxone.bulk.run_outputs.
local args = require "cxone.bulk.args"
local K = require "cxone.bulk.cli_class"
local run_stop = require "cxone.bulk.run_stop"
local run_outputs = require "cxone.bulk.run_outputs"
require "cxone.bulk.cli_prepare"
require "cxone.bulk.cli_send"
require "cxone.bulk.cli_report"

local M = {}
for k, v in pairs(K) do
    if k:match("^[A-Z][A-Z_]+$") then M[k] = v end -- the exit codes and limits
end
M.strip_label = K.strip_label
local Run, stderr = K.Run, K.stderr

-- Entry point: argv is the array of command-line arguments. Returns the exit status.
function M.main(argv)
    local opts, err = args.parse(argv)
    if not opts then
        stderr("%s", err)
        io.stderr:write("Try 'cxone-bulk --help' for the options and examples.\n")
        return M.EXIT_USAGE
    end
    if opts.help then
        io.stdout:write(args.usage())
        return M.EXIT_OK
    end
    if opts.version then
        local ok, bulk = pcall(require, "cxone.bulk")
        io.stdout:write("cxone-bulk ", ok and bulk._VERSION or "(engine not found)", "\n")
        return M.EXIT_OK
    end
    local run = setmetatable({ opts = opts, argv = argv, invalid_shown = 0, stop = run_stop.new(),
        out = run_outputs.new(opts) }, Run)
    local status = run:execute()
    run:cleanup() -- whatever happened: the --strict copy of stdin is removed, outputs closed
    return status
end

return M
