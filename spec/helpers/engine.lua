-- Shared helpers for engine specs: task generators, thread counting, option sets.
local H = {}

H.CREDS = { client_id = "demo-client", client_secret = "demo-secret" }

--- n tasks for contact-000001.. with a valid outcome.
function H.tasks(n, first, category, subcategory)
  local t = {}
  first = first or 1
  for i = 1, n do
    t[i] = { contact_id = string.format("contact-%06d", first + i - 1),
             category = category or "Contacted", subcategory = subcategory or "Information Provided" }
  end
  return t
end

--- Options for a fast batch against mock m (limiter far above what the test needs).
function H.opts(m, extra)
  local o = { base_url = m.url, client_id = H.CREDS.client_id, client_secret = H.CREDS.client_secret,
              rate = 5000, burst = 200, workers = 8, backoff_base = 0.01, backoff_max = 0.05,
              timeout = 5 }
  for k, v in pairs(extra or {}) do o[k] = v end
  return o
end

--- A function extra -> options for a batch that gives up fast (2 workers, short backoff): the
-- spec's own settings `base` (credentials, max_retries, timeout), then extra's.
function H.fast_with(base)
  return function(extra)
    local o = { workers = 2, backoff_base = 0.01, backoff_max = 0.02 }
    for k, v in pairs(base) do o[k] = v end
    for k, v in pairs(extra or {}) do o[k] = v end
    return o
  end
end

--- Threads of this process right now (Linux /proc).
function H.thread_count()
  local p = io.popen("ls /proc/" .. require("cxone.bulk").sys.getpid() .. "/task | wc -l")
  local n = tonumber(p:read("*a"))
  p:close()
  return n
end

--- Waits (bounded) until the process is back to `want` threads; returns the last count seen.
function H.wait_threads(want, seconds)
  local sys = require("cxone.bulk").sys
  local deadline = sys.monotime() + (seconds or 2)
  local n
  repeat
    n = H.thread_count()
    if n <= want then return n end
    os.execute("sleep 0.05")
  until sys.monotime() > deadline
  return n
end

--- Runs a batch collecting every result by index.
function H.run(tasks, opts)
  local results, count = {}, 0
  opts.on_result = function(r)
    assert(results[r.index] == nil, "two results for task " .. r.index)
    results[r.index] = r
    count = count + 1
  end
  local summary = require("cxone.bulk").batch_update(tasks, opts)
  return summary, results, count
end

function H.max_in_window(times_ms, window_ms)
  local best, j = 0, 1
  for i = 1, #times_ms do
    while times_ms[i] - times_ms[j] >= window_ms do j = j + 1 end
    if i - j + 1 > best then best = i - j + 1 end
  end
  return best
end

return H
