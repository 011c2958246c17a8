-- Measures 1 and 2: unthrottled throughput (engine vs wrk vs the Go peer vs curl --parallel vs the
-- libcurl floor at the same number of connections) and the engine's scaling with its worker count. Contenders alternate within
-- every round and the starting contender rotates from round to round; medians are reported.
local U = require "bench.lib.util"
local C = require "bench.lib.contenders"

local T = {}

local function log(fmt, ...)
  io.stderr:write(string.format("bench: " .. fmt .. "\n", ...))
end

local function rotate(list, by)
  local out = {}
  for i = 1, #list do out[i] = list[(i - 1 + by) % #list + 1] end
  return out
end

local function summarize(runs)
  return {
    server_rps = U.median_of(runs, "server_rps"),
    client_rps = U.median_of(runs, "client_rps"),
    client_us_per_request = U.median_of(runs, "client_us_per_request"),
    mock_us_per_request = U.median_of(runs, "mock_us_per_request"),
    runs = runs,
  }
end

-- 1. Unthrottled throughput at ctx.connections connections.
function T.unthrottled(ctx, mock)
  local conns, tasks = ctx.connections, ctx.tasks
  local runners = {
    engine = function() return C.engine(ctx, mock, conns, tasks, "trivial") end,
    wrk = function() return C.wrk(ctx, mock, conns, ctx.wrk_seconds) end,
    go = function() return C.go(ctx, mock, conns, tasks) end,
    curl = function() return C.curl(ctx, mock, conns, ctx.curl_tasks) end,
    curlfloor = function() return C.curlfloor(ctx, mock, conns, ctx.floor_tasks) end,
  }
  local runs = { engine = {}, wrk = {}, go = {}, curl = {}, curlfloor = {} }
  for round = 1, ctx.rounds do
    for _, name in ipairs(rotate({ "engine", "wrk", "go", "curl", "curlfloor" }, round - 1)) do
      local r = runners[name]()
      r.round = round
      table.insert(runs[name], r)
      log("throughput round %d/%d %-9s %8.0f req/s (client %.0f us/req, mock %.0f us/req, load %s)",
        round, ctx.rounds, name, r.server_rps, r.client_us_per_request or 0, r.mock_us_per_request, r.loadavg)
    end
  end
  local res = { connections = conns, engine_tasks = tasks, curl_tasks = ctx.curl_tasks,
                floor_tasks = ctx.floor_tasks, wrk_seconds = ctx.wrk_seconds }
  for name, rs in pairs(runs) do res[name] = summarize(rs) end
  res.engine_vs_wrk = res.engine.server_rps / res.wrk.server_rps
  res.curl_vs_wrk = res.curl.server_rps / res.wrk.server_rps
  res.engine_vs_curl = res.engine.server_rps / res.curl.server_rps
  res.engine_vs_go = res.engine.server_rps / res.go.server_rps
  res.engine_vs_curlfloor = res.engine.server_rps / res.curlfloor.server_rps
  res.curlfloor_vs_wrk = res.curlfloor.server_rps / res.wrk.server_rps
  res.commands = { engine = runs.engine[1].command, wrk = runs.wrk[1].command, go = runs.go[1].command,
                   curl = runs.curl[1].command, curlfloor = runs.curlfloor[1].command }
  return res
end

-- 2. Engine throughput against its worker count; wrk at the same connection count beside it
-- as the ceiling for each point of the plot.
function T.scaling(ctx, mock)
  local per = {}
  for _, w in ipairs(ctx.scaling_workers) do per[w] = { engine = {}, wrk = {} } end
  for round = 1, ctx.rounds do
    for _, w in ipairs(ctx.scaling_workers) do
      for _, name in ipairs(rotate({ "engine", "wrk" }, round - 1)) do
        local r
        if name == "engine" then
          r = C.engine(ctx, mock, w, ctx.scaling_tasks, "trivial")
        else
          r = C.wrk(ctx, mock, w, ctx.scaling_wrk_seconds)
        end
        r.round = round
        table.insert(per[w][name], r)
        log("scaling round %d/%d %3d %-6s %8.0f req/s (load %s)", round, ctx.rounds, w, name,
          r.server_rps, r.loadavg)
      end
    end
  end
  local points = {}
  for _, w in ipairs(ctx.scaling_workers) do
    local e, k = summarize(per[w].engine), summarize(per[w].wrk)
    points[#points + 1] = { workers = w, engine_rps = e.server_rps, wrk_rps = k.server_rps,
                            engine = e, wrk = k }
  end
  return { tasks = ctx.scaling_tasks, wrk_seconds = ctx.scaling_wrk_seconds, points = points }
end

return T
