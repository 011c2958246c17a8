-- Measure 5: CPU per request, counted in instructions under valgrind --tool=callgrind (the same
-- count on a busy machine as on an idle one, unlike seconds). Every thread of the client process
-- is counted; --separate-threads splits the owner (Lua) thread from the workers (libcurl).
local U = require "bench.lib.util"

local P = {}

-- Self cost (Ir) per object file from one callgrind output file. The cost line right after a
-- `calls=` line is the inclusive cost of that call, so it is skipped (counted at the callee).
local function self_cost_by_object(path, into)
  local names, cur, skip_next = {}, "?", false
  local total
  for line in io.lines(path) do
    local c = line:sub(1, 1)
    if c:match("[%d+%-*]") then
      if skip_next then
        skip_next = false
      else
        local ir = line:match("^%S+%s+(%d+)")
        if ir then into[cur] = (into[cur] or 0) + tonumber(ir) end
      end
    elseif line:sub(1, 3) == "ob=" then
      local id, name = line:match("^ob=%((%d+)%)%s*(.*)$")
      if id then
        if name ~= "" then names[id] = name end
        cur = names[id] or ("ob " .. id)
      else
        cur = line:sub(4)
      end
    elseif line:sub(1, 4) == "cob=" then
      -- Defines a name used later by ob= lines; does not change the current object.
      local id, name = line:match("^cob=%((%d+)%)%s*(.+)$")
      if id then names[id] = name end
    elseif line:sub(1, 6) == "calls=" then
      skip_next = true
    elseif line:sub(1, 8) == "summary:" then
      total = tonumber(line:match("(%d+)"))
    end
  end
  return total
end

local function short_object(path)
  local base = path:match("([^/]+)$") or path
  return (base:gsub("%.so[%.%d]*$", ".so"))
end

-- One engine batch under callgrind; returns total Ir, owner-thread Ir, Ir by object.
function P.callgrind_run(ctx, mock, tasks, callback, queue_size, gc_stop)
  mock:reset()
  local dir = ctx.scratch .. ".cg-" .. callback .. (queue_size and "-q" or "")
  local extra = (queue_size and (" --queue-size " .. queue_size) or "") .. (gc_stop and " --gc stop" or "")
  U.sh("rm -rf " .. U.q(dir) .. " && mkdir -p " .. U.q(dir))
  local shown = string.format("valgrind --tool=callgrind --fair-sched=yes --separate-threads=yes %s bench/engine_batch.lua --url %s --tasks %d --workers %d --callback %s%s",
    ctx.lua, mock.url, tasks, ctx.connections, callback, extra)
  local cmd = string.format("%s valgrind --tool=callgrind --fair-sched=yes --separate-threads=yes --callgrind-out-file=%s/cg.out %s bench/engine_batch.lua --url %s --tasks %d --workers %d --callback %s --batch-id cg%s >%s/out 2>%s/err",
    ctx.lua_env, U.q(dir), ctx.lua, U.q(mock.url), tasks, ctx.connections, callback, extra, U.q(dir), U.q(dir))
  io.stderr:write(string.format("bench: callgrind: %d tasks, callback %s%s\n", tasks, callback, extra))
  local ok = U.sh(cmd)
  local r = U.tagged_json(U.read(dir .. "/out") or "", "BENCH-JSON ")
  if not ok or not r then
    U.fail("callgrind run failed: %s", (U.read(dir .. "/err") or ""):sub(-2000))
  end
  local by_object, total, owner = {}, 0, nil
  local files = U.capture("ls " .. U.q(dir) .. " | grep '^cg.out-[0-9]' | sort")
  for name in files:gmatch("[^\n]+") do
    local objs = {}
    local t = self_cost_by_object(dir .. "/" .. name, objs)
    if not t then U.fail("callgrind file %s has no summary", name) end
    total = total + t
    if name:match("%-01$") then owner = t end
    for ob, ir in pairs(objs) do
      local k = short_object(ob)
      by_object[k] = (by_object[k] or 0) + ir
    end
  end
  U.sh("rm -rf " .. U.q(dir))
  return { tasks = tasks, callback = callback, queue_size = queue_size, total_ir = total,
           owner_ir = owner, workers_ir = owner and total - owner, by_object = by_object,
           command = shown }
end

-- Instructions per request with the trivial callback (default settings), and the callback's
-- overhead per result: trivial vs none on the owner thread, both with a queue that holds the
-- whole batch and the Lua collector stopped, so the owner's work does not depend on thread
-- timing (no refused submits, no refill cycles, no collector steps falling differently).
function P.per_request(ctx, mock)
  local n = ctx.cg_tasks
  local main = P.callgrind_run(ctx, mock, n, "trivial", nil)
  local none = P.callgrind_run(ctx, mock, n, "none", n, true)
  local trivial = P.callgrind_run(ctx, mock, n, "trivial", n, true)
  return {
    tasks = n, workers = ctx.connections,
    ir_per_request = main.total_ir / n,
    owner_ir_per_request = main.owner_ir / n,
    workers_ir_per_request = main.workers_ir / n,
    callback_ir_per_result = (trivial.owner_ir - none.owner_ir) / n,
    callback_total_ir_per_result = (trivial.total_ir - none.total_ir) / n,
    runs = { main = main, none = none, trivial = trivial },
  }
end

return P
