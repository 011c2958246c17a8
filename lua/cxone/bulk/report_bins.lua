--- cxone.bulk.report_bins: what the run report (cxone.bulk.report) and its page
-- (cxone.bulk.report_html) both read: the latency bins and their percentiles, and the classes
-- results are counted in. Its own module, so that neither requires the other.
local M = {}

local floor, log = math.floor, math.log

-- Latency bins: each 10 % wider than the last, from 10 µs up (the percentiles' resolution).
local BIN_BASE = log(1.1)

--- The bin of a latency in seconds.
function M.bin_of(seconds)
    local ms = seconds * 1000
    if ms < 0.01 then ms = 0.01 end
    return floor(log(ms) / BIN_BASE)
end

-- A bin's middle, in milliseconds.
local function bin_ms(bin) return 1.1 ^ (bin + 0.5) end

--- The q-quantile (0..1) in milliseconds of a histogram bin -> count, or nil when it is empty.
function M.quantile(bins, q)
    local keys, total = {}, 0
    for k, n in pairs(bins) do
        keys[#keys + 1] = k
        total = total + n
    end
    if total == 0 then return nil end
    table.sort(keys)
    local want, seen = q * total, 0
    for _, k in ipairs(keys) do
        seen = seen + bins[k]
        if seen >= want then return bin_ms(k) end
    end
    return bin_ms(keys[#keys])
end

--- The classes results are counted in, in the order the report shows them.
M.CLASSES = { "succeeded", "failed", "invalid", "cancelled", "skipped" }

return M
