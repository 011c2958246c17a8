-- cxone-bulk --dry-run: every row is read, checked and described (method, URL, key, body) as the
-- real run would send it; nothing is sent.
--
-- With --validate-outcomes and credentials in the environment, rows are also put to the
-- engine's outcome check (cxone.bulk.outcome_probe: one token request and the hierarchy or
-- skill fetches, exactly the reads the real run makes first), so a dry run never counts as
-- "would send" a row the real run would refuse. Without credentials the check is skipped and
-- the run says so, on stderr at once and in the summary.
local probe_mod = require "cxone.bulk.outcome_probe"

local M = {}

-- The probe for --validate-outcomes, or nil: not asked for, skipped (run.unchecked says why),
-- or the check could not start (run.stop.fatal says why: the real run would stop the same way).
local function open_probe(run, cli)
    if not run.engine_opts.validate_outcomes then return nil end
    local probe, err, skipped, kind = probe_mod.open(run.bulk, run.engine_opts, function()
        run:check_signal()
        return run.stop:draining()
    end)
    if skipped then
        run.unchecked = skipped
        run:warn(skipped)
    elseif not probe and not run.stop.interrupted then
        run.stop:fail(cli.strip_label(err), kind)
    end
    return probe
end

-- One row the reader accepted: described, and checked by the probe when there is one. Returns
-- false when the run must stop (the check itself failed).
local function describe_row(run, row, describe, probe, cli)
    local d, err = describe(row.task)
    local why, perr, pkind
    if d and probe then why, perr, pkind = probe:check(row.task) end
    if perr then
        if not run.stop.interrupted then run.stop:fail(cli.strip_label(perr), pkind) end
        return false
    end
    if not d then
        row.error = cli.strip_label(err)
        run:finish_local(row)
    elseif why then -- the real run's engine would refuse this outcome: the same result
        run:finish(row, { contact_id = row.task.contact_id, ok = false, status = 0, error = why,
            attempts = 0, invalid = true })
    else
        run:write_out("results", function()
            run.out.results:write({ line = row.line, contact_id = row.task.contact_id,
                category = row.task.category, subcategory = row.task.subcategory,
                method = d.method, url = d.url, idempotency_key = d.idempotency_key, body = d.body })
        end)
        run.tally:add({ ok = true, line = row.line })
    end
    return true
end

local function describe_rows(run, describe, probe, cli)
    local inp, n = run.inp, 0
    while not run.stop:draining() do
        n = n + 1
        if n % cli.budget == 0 then run:check_signal() end
        local row = inp:next()
        if not row then break end
        if run:classify(row) == "local" then
            run:finish_local(row)
        elseif not describe_row(run, row, describe, probe, cli) then
            break
        end
        run.progress:update(run:progress_state())
    end
    run:write_out("results", function() run.out.results:flush() end)
end

-- Runs the dry run of `run` (the CLI's Run). cli: {strip_label = cli an engine message as
-- the CLI's, budget = rows read between looks at signals}.
function M.run(run, cli)
    -- Options checked once, not per row; without a base URL the URLs show the placeholder.
    local describe = run.bulk.describer(run.engine_opts, run.target.placeholder)
    local probe = open_probe(run, cli)
    if run.stop.fatal then return end
    local ok, err = pcall(describe_rows, run, describe, probe, cli)
    if probe then probe:close() end
    if not ok then error(err, 0) end
end

return M
