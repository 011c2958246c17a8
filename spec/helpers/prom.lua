-- Reading Prometheus text exposition in specs (job:metrics(), --metrics-file, nginx's /metrics).
local P = {}

--- The sum of name's samples whose labels include every `want` label (label = value).
function P.sum_where(text, name, want)
  local total = 0
  for line in text:gmatch("[^\n]+") do
    local n, labels, value = line:match("^([%w_]+){(.-)}%s+(%S+)$")
    if n == name then
      local ok = true
      for k, v in pairs(want) do
        if not labels:find(k .. '="' .. v .. '"', 1, true) then ok = false end
      end
      if ok then total = total + tonumber(value) end
    end
  end
  return total
end

return P
