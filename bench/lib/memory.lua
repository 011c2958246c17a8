-- Measure 4: memory. The CLI streams a CSV of N rows (at the highest rate the option table allows, 100,000/s) into a results file; peak
-- RSS comes from /usr/bin/time -v. Run at two sizes to show the peak does not grow with N.
local U = require "bench.lib.util"

local M = {}

local OUTCOMES = {
  "Contacted,Information Provided", "Contacted,Callback Requested",
  "Not Contacted,No Answer", "Not Contacted,Voicemail",
}

local function write_csv(path, rows)
  local f = assert(io.open(path, "wb"))
  assert(f:write("contact_id,category,subcategory\n"))
  local buf = {}
  for i = 1, rows do
    buf[#buf + 1] = string.format("contact-%07d,%s\n", i, OUTCOMES[i % 4 + 1])
    if #buf == 4096 then
      assert(f:write(table.concat(buf)))
      buf = {}
    end
  end
  assert(f:write(table.concat(buf)))
  assert(f:close())
end

local function count_lines(path)
  return tonumber(U.capture("wc -l < " .. U.q(path)))
end

-- One CLI run over `rows` rows; returns its peak RSS and timing.
function M.cli_run(ctx, mock, rows)
  mock:reset()
  local input, output = ctx.scratch .. ".rows.csv", ctx.scratch .. ".results.jsonl"
  write_csv(input, rows)
  local shown = string.format("%s bin/cxone-bulk --input ROWS.csv --output RESULTS.jsonl --rate 100000 --burst 100000 --quiet --base-url %s",
    ctx.lua, mock.url)
  local verbose = ctx.scratch .. ".timev"
  local cmd = string.format("CXONE_CLIENT_ID=demo-client CXONE_CLIENT_SECRET=demo-secret %s /usr/bin/time -v -o %s %s bin/cxone-bulk --input %s --output %s --rate 100000 --burst 100000 --quiet --base-url %s 2>%s.err",
    ctx.lua_env, U.q(verbose), ctx.lua, U.q(input), U.q(output), U.q(mock.url), U.q(output))
  io.stderr:write(string.format("bench: memory: the CLI streams %d rows\n", rows))
  local ok = U.sh(cmd)
  local tv = U.read(verbose) or ""
  local rss = tonumber(tv:match("Maximum resident set size %(kbytes%): (%d+)"))
  local wall = tv:match("Elapsed %(wall clock%) time %(h:mm:ss or m:ss%): (%S+)")
  local user = tonumber(tv:match("User time %(seconds%): ([%d.]+)"))
  local sys = tonumber(tv:match("System time %(seconds%): ([%d.]+)"))
  local lines = count_lines(output)
  os.remove(input)
  os.remove(output)
  os.remove(verbose)
  if not ok or not rss then
    U.fail("CLI over %d rows failed: %s", rows, (U.read(output .. ".err") or ""):sub(1, 1000))
  end
  if lines ~= rows then U.fail("CLI over %d rows wrote %d results", rows, lines) end
  local st = mock:stats("mutations=0")
  for status, count in pairs(st.requests.by_status or {}) do
    if status ~= "200" and count > 0 then U.fail("CLI over %d rows: %d answers were %s", rows, count, status) end
  end
  if st.total_mutations ~= rows then
    U.fail("CLI over %d rows: the mock recorded %d mutations", rows, st.total_mutations or 0)
  end
  -- m:ss.ss or h:mm:ss
  local secs = 0
  for part in wall:gmatch("[%d.]+") do secs = secs * 60 + tonumber(part) end
  return { rows = rows, max_rss_kb = rss, wall_seconds = secs, user = user, sys = sys,
           rows_per_second = rows / secs, command = shown }
end

function M.streaming(ctx, mock)
  local small = M.cli_run(ctx, mock, ctx.rows_small)
  local big = M.cli_run(ctx, mock, ctx.rows)
  return { small = small, big = big, growth = big.max_rss_kb / small.max_rss_kb }
end

return M
