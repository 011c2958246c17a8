-- The table (measure, value, target, met), the raw-results JSON and the scaling plot.
local U = require "bench.lib.util"

local Rep = {}

local function thousands(n)
  local s = string.format("%.0f", n)
  local out = s:reverse():gsub("(%d%d%d)", "%1,"):reverse()
  return (out:gsub("^,", ""))
end

local function yesno(b)
  if b == nil then return "–" end
  return b and "yes" or "no"
end

local function mb(kb) return string.format("%.1f MB", kb / 1024) end

-- "median (min–max)" of the server-side rates of a contender's runs.
local function spread(summary)
  local lo, hi
  for _, r in ipairs(summary.runs) do
    lo = math.min(lo or r.server_rps, r.server_rps)
    hi = math.max(hi or r.server_rps, r.server_rps)
  end
  if #summary.runs < 2 then return thousands(summary.server_rps) end
  return string.format("%s (%s–%s)", thousands(summary.server_rps), thousands(lo), thousands(hi))
end

-- Rows of the table from whatever measures ran.
function Rep.rows(res)
  local rows = {}
  local function add(measure, value, target, met)
    rows[#rows + 1] = { measure, value, target or "–", yesno(met) }
  end
  local t = res.throughput
  if t then
    local c = t.connections
    add(string.format("1. engine, %d workers, trivial on_result (req/s, median (min–max))", c), spread(t.engine))
    add(string.format("1. wrk, %d connections (req/s)", c), spread(t.wrk))
    add(string.format("1. Go peer (bench/peers/seedgo), %d goroutines (req/s)", c), spread(t.go))
    add(string.format("1. curl --parallel --parallel-max %d (req/s)", c), spread(t.curl))
    add(string.format("1. libcurl floor (bench/peers/curlfloor), %d threads (req/s)", c), spread(t.curlfloor))
    add("1. engine / wrk", string.format("%.2f×", t.engine_vs_wrk), "≥ 0.8× (stretch 0.9×)", t.engine_vs_wrk >= 0.8)
    add("1. engine / Go peer", string.format("%.2f×", t.engine_vs_go), "≥ 2×", t.engine_vs_go >= 2)
    add("1. curl --parallel / wrk", string.format("%.2f×", t.curl_vs_wrk))
    add("1. engine / curl --parallel", string.format("%.2f×", t.engine_vs_curl), "≥ 5×", t.engine_vs_curl >= 5)
    add("1. engine / libcurl floor", string.format("%.2f×", t.engine_vs_curlfloor))
    add("1. libcurl floor / wrk", string.format("%.2f×", t.curlfloor_vs_wrk))
    add("1. client CPU per request: engine / wrk / Go peer / curl / libcurl floor (µs)",
      string.format("%.0f / %.0f / %.0f / %.0f / %.0f", t.engine.client_us_per_request, t.wrk.client_us_per_request,
        t.go.client_us_per_request, t.curl.client_us_per_request, t.curlfloor.client_us_per_request))
  end
  local s = res.scaling
  if s then
    for _, p in ipairs(s.points) do
      add(string.format("2. engine at workers = %d (req/s; wrk at as many connections)", p.workers),
        string.format("%s (%s)", thousands(p.engine_rps), thousands(p.wrk_rps)))
    end
  end
  local r = res.rate
  if r then
    local lo, hi = r.rate * 0.99, r.rate * 1.01
    add(string.format("3. achieved rate, server side (rate %g burst %g, %d tasks, mock %g/s)", r.rate, r.burst,
      r.tasks, r.mock_rate), string.format("%.2f/s", r.achieved_rate), string.format("%.2f–%.2f/s", lo, hi),
      r.achieved_rate >= lo and r.achieved_rate <= hi)
    add(string.format("3. steady rate after the first %g requests (the burst)", r.burst),
      string.format("%.2f/s", r.steady_rate))
    add("3. most requests in any 1 s window", string.format("%d", r.max_in_1s), "≤ 65", r.max_in_1s <= 65)
    add("3. longest gap between arrivals (ms; 1/45 s = 22 without stalls)", string.format("%d", r.max_gap_ms))
    add("3. 429 answers", string.format("%d", r.http_429), "0", r.http_429 == 0)
  end
  local m = res.memory
  if m then
    add(string.format("4. CLI peak RSS, %s rows", thousands(m.small.rows)), mb(m.small.max_rss_kb), "≤ 64 MB",
      m.small.max_rss_kb <= 64 * 1024)
    add(string.format("4. CLI peak RSS, %s rows", thousands(m.big.rows)), mb(m.big.max_rss_kb),
      string.format("≤ 64 MB, ≤ 1.10× the %s-row run", thousands(m.small.rows)),
      m.big.max_rss_kb <= 64 * 1024 and m.growth <= 1.10)
    add(string.format("4. CLI rows/s, %s rows (--rate 100000)", thousands(m.big.rows)), thousands(m.big.rows_per_second))
  end
  local c = res.cpu
  if c then
    add(string.format("5. instructions per request (all client threads, %s requests)", thousands(c.tasks)),
      thousands(c.ir_per_request))
    add("5.   of which the owner (Lua) thread / the workers", string.format("%s / %s",
      thousands(c.owner_ir_per_request), thousands(c.workers_ir_per_request)))
    add("5. trivial on_result overhead (instructions per result)", thousands(c.callback_ir_per_result))
  end
  if res.adaptive then require("bench.lib.adaptive").rows(res.adaptive, add) end
  return rows
end

function Rep.markdown(rows)
  local out = { "| measure | value | target | met |", "| --- | --- | --- | --- |" }
  for _, r in ipairs(rows) do
    out[#out + 1] = "| " .. table.concat(r, " | ") .. " |"
  end
  return table.concat(out, "\n") .. "\n"
end

-- gnuplot: engine and wrk throughput against workers (connections), log2 x axis.
function Rep.plot(res, png, scratch)
  local dat = scratch .. ".scaling.dat"
  local lines = { "# workers engine_rps wrk_rps" }
  for _, p in ipairs(res.scaling.points) do
    lines[#lines + 1] = string.format("%d %.1f %.1f", p.workers, p.engine_rps, p.wrk_rps)
  end
  U.write(dat, table.concat(lines, "\n") .. "\n")
  local title = string.format("PUT /api/v2/contacts over loopback, %s, %d cores (medians of %d rounds)",
    res.machine.cpu_model, res.machine.cores, res.config.rounds)
  local ok = U.sh(string.format("gnuplot -e %s -e %s -e %s bench/plot.gp", U.q("datafile='" .. dat .. "'"),
    U.q("outfile='" .. png .. "'"), U.q("plottitle='" .. title:gsub("'", "") .. "'")))
  os.remove(dat)
  if not ok then U.fail("gnuplot failed writing %s", png) end
end

return Rep
