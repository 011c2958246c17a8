--- The run report's page (cxone/bulk/report.lua holds the figures): headline numbers, the rate
-- and latency charts (cxone/bulk/report_svg.lua), results by outcome and by disposition,
-- failures by reason with examples, the parameters. One HTML file with its CSS inline; no script,
-- no font, no image fetched. Every text that came from the run (ids, messages, values) is made
-- printable (cxone/bulk/text.lua) and escaped.
local svg = require "cxone.bulk.report_svg"
local bins = require "cxone.bulk.report_bins"
local quantile = bins.quantile
local printable = require("cxone.bulk.text").printable

local M = {}

local fmt, concat, floor, max, min = string.format, table.concat, math.floor, math.max, math.min
local esc = svg.escape

-- At most this many points per chart: the bucket width grows with the run's length.
M.MAX_POINTS = 300

local COLORS = {
    requests = "#1f6fb4", configured = "#6b6b6b", found = "#2e9e44", current = "#e07b00",
    p50 = "#1f6fb4", p90 = "#8a4fbf", p99 = "#d1495b",
}

local CSS = [[
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1d2329;
margin:0;background:#f5f6f8}
main{max-width:1000px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:22px;margin:4px 0}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#59636e;margin:0 0 16px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:10px}
.tile{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:8px 12px}
.tile b{display:block;font-size:20px}.tile span{color:#59636e;font-size:12px}
.chart{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:12px 0;padding:10px 12px}
figcaption{font-weight:600;margin-bottom:4px}
svg text{font-size:11px;fill:#59636e}svg .unit{font-size:11px;fill:#1d2329}
.grid{stroke:#e6e9ed;stroke-width:1}.axis{stroke:#9aa3ad;stroke-width:1}
.pause{fill:#9aa3ad;fill-opacity:.28}.mark-429{fill:#d1495b}
.bar.succeeded{fill:#2e9e44}.bar.failed{fill:#d1495b}.bar.invalid{fill:#e07b00}
.bar.cancelled{fill:#8a4fbf}.bar.skipped{fill:#9aa3ad}svg .bar-label,svg .bar-value{font-size:12px;fill:#1d2329}
.legend{font-size:12px;color:#3b444d}.key{margin-right:16px;white-space:nowrap}.key svg{vertical-align:middle;margin-right:4px}
.swatch{display:inline-block;width:12px;height:10px;margin-right:4px;vertical-align:middle}
.swatch.pause{background:#9aa3ad;opacity:.5}.swatch.mark-429{background:#d1495b}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #dde1e6;font-size:13px}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid #eceef1;vertical-align:top}
th{background:#f0f2f5}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ex{color:#3b444d;font-size:12px}.ex code{background:#f0f2f5;padding:0 3px;border-radius:3px}
.none{color:#59636e;font-style:italic}footer{color:#59636e;font-size:12px;margin-top:28px}
]]

-- Text from the run, safe to show: printable (no control or bidi characters) and escaped.
local function text(v)
    return esc(printable(tostring(v)))
end

local function utc(t)
    return os.date("!%Y-%m-%d %H:%M:%S UTC", floor(t))
end

local function ms_number(v)
    if not v then return "–" end
    if v >= 100 then return fmt("%d", floor(v + 0.5)) end
    return fmt("%.1f", v)
end

-- The run's span: first request to last answer, in whole seconds from t0.
local function span(r)
    if not r.t_min then return nil end
    local t0 = floor(r.t_min)
    return t0, max(1, r.t_max - t0)
end

-- The seconds of the run grouped into chart buckets of w seconds: {x, seconds, n, n429, lat}.
local function buckets(r, t0, len)
    local w = max(1, math.ceil(len / M.MAX_POINTS))
    local out = {}
    for key, b in pairs(r.sec) do
        local j = floor((key - t0) / w)
        local o = out[j]
        if not o then
            o = { x = j * w, n = 0, n429 = 0, lat = {} }
            out[j] = o
        end
        o.n, o.n429 = o.n + b.n, o.n429 + b.n429
        for k, c in pairs(b.lat) do o.lat[k] = (o.lat[k] or 0) + c end
    end
    local list = {}
    for j = 0, floor(len / w) do
        local o = out[j] or { x = j * w, n = 0, n429 = 0, lat = {} }
        o.seconds = min(w, max(1, len - o.x))
        list[#list + 1] = o
    end
    return list, w
end

local function configured_rate(r)
    for _, kv in ipairs(r.params) do
        if kv[1] == "rate" and type(kv[2]) == "number" then return kv[2] end
    end
end

-- The limit in force over time, from the rate events (a step line), or nil without any.
local function current_limit(r, t0, len, configured)
    if #r.rates == 0 then return nil end
    local pts = {}
    if configured and r.rates[1].at > t0 then pts[1] = { 0, configured } end
    for _, e in ipairs(r.rates) do pts[#pts + 1] = { max(0, min(len, e.at - t0)), e.rate } end
    return pts
end

local function rate_chart(r, t0, len)
    local list, w = buckets(r, t0, len)
    local pts, marks, top = {}, {}, 1
    for _, b in ipairs(list) do
        local v = b.n / b.seconds
        pts[#pts + 1] = { b.x + b.seconds / 2, v }
        top = max(top, v)
        if b.n429 > 0 then
            marks[#marks + 1] = { x = b.x, w = b.seconds, value = b.n429 / b.seconds, class = "mark-429",
                title = fmt("%s: %d × 429", svg.clock(b.x), b.n429) }
        end
    end
    local configured = configured_rate(r)
    local cur = current_limit(r, t0, len, configured)
    local series = { { name = "requests", label = fmt("requests/s (per %d s)", w), color = COLORS.requests, points = pts, width = 2 } }
    local function flat(name, label, color, v, dash)
        if not v then return end
        top = max(top, v)
        series[#series + 1] = { name = name, label = label, color = color, dash = dash, points = { { 0, v }, { len, v } } }
    end
    flat("limit-configured", fmt("configured limit %g/s", configured or 0), COLORS.configured, configured, "6 4")
    flat("limit-found", fmt("limit found ≈ %.1f/s", r.found or 0), COLORS.found, r.found, "3 3")
    if cur then
        for _, p in ipairs(cur) do top = max(top, p[2]) end
        series[#series + 1] = { name = "limit-current", label = "limit in force", color = COLORS.current,
            points = cur, step = true, until_x = len }
    end
    local bands = {}
    for _, p in ipairs(r.pauses) do
        bands[#bands + 1] = { x0 = p.at - t0, x1 = p.at - t0 + p.seconds, class = "pause",
            title = fmt("paused %.1f s at %s (%s)", p.seconds, svg.clock(p.at - t0), p.by and "set by " .. text(p.by) or "") }
    end
    local keys = {}
    if #marks > 0 then keys[#keys + 1] = { class = "mark-429", label = "429 answers" } end
    if #bands > 0 then keys[#keys + 1] = { class = "pause", label = "pause (whole pool)" } end
    return svg.time_chart({ id = "rate-chart", title = "Requests per second", y_label = "requests/s",
        x_max = len, y_max = top * 1.15, series = series, bands = bands, marks = marks, keys = keys })
end

local function latency_chart(r, t0, len)
    local list = buckets(r, t0, len)
    local series, top = {}, 1
    for _, q in ipairs({ { "p50", 0.5 }, { "p90", 0.9 }, { "p99", 0.99 } }) do
        local pts = {}
        for _, b in ipairs(list) do
            local v = quantile(b.lat, q[2])
            if v then
                pts[#pts + 1] = { b.x + b.seconds / 2, v }
                top = max(top, v)
            end
        end
        series[#series + 1] = { name = q[1], label = q[1] .. " latency", color = COLORS[q[1]], points = pts }
    end
    return svg.time_chart({ id = "latency-chart", title = "Request latency (send to answer)", y_label = "ms",
        x_max = len, y_max = top * 1.15, series = series })
end

local function tiles(r, len)
    local items = {
        { r.rows, "rows" }, { r.counts.succeeded, "succeeded" },
        { r.counts.failed + r.counts.invalid + r.counts.cancelled, "not succeeded" },
        { r.counts.skipped, "skipped" }, { r.requests, "API requests" }, { r.n429, "429 answers" },
        { #r.pauses, "pauses" },
    }
    if len then
        items[#items + 1] = { svg.clock(len), "first request to last answer" }
        items[#items + 1] = { fmt("%.1f/s", r.requests / len), "requests per second" }
    end
    items[#items + 1] = { ms_number(quantile(r.lat, 0.5)) .. " / " .. ms_number(quantile(r.lat, 0.99)),
        "latency p50 / p99 (ms)" }
    if r.found then items[#items + 1] = { fmt("≈ %.1f/s", r.found), "limit found" } end
    local out = {}
    for _, t in ipairs(items) do out[#out + 1] = fmt('<div class="tile"><b>%s</b><span>%s</span></div>', esc(t[1]), esc(t[2])) end
    return '<div class="tiles">' .. concat(out) .. "</div>"
end

local CLASS_LABEL = { succeeded = "succeeded", failed = "failed", invalid = "invalid (not sent)",
    cancelled = "cancelled", skipped = "skipped" }

local function outcomes(r)
    local bars = {}
    for _, c in ipairs(bins.CLASSES) do
        bars[#bars + 1] = { name = c, label = CLASS_LABEL[c], value = r.counts[c], class = c }
    end
    local out = { svg.bar_chart("outcome-chart", "Results by outcome", bars) }
    local keys = {}
    for i, k in ipairs(r.target_order) do keys[i] = k end
    table.sort(keys, function(a, b)
        if r.targets[a].rows ~= r.targets[b].rows then return r.targets[a].rows > r.targets[b].rows end
        return a < b
    end)
    out[#out + 1] = '<table id="dispositions"><tr><th>outcome / disposition</th><th>rows</th><th>succeeded</th>'
        .. "<th>failed</th><th>invalid</th><th>cancelled</th><th>skipped</th></tr>"
    for _, k in ipairs(keys) do
        local t = r.targets[k]
        out[#out + 1] = fmt('<tr><td>%s</td><td class="n">%d</td><td class="n">%d</td><td class="n">%d</td>'
            .. '<td class="n">%d</td><td class="n">%d</td><td class="n">%d</td></tr>', text(k), t.rows, t.succeeded,
            t.failed, t.invalid, t.cancelled, t.skipped)
    end
    out[#out + 1] = "</table>"
    return concat(out, "\n")
end

local function example(e)
    local where = e.line and fmt("line %d", e.line) or "line ?"
    if e.contact_id and e.contact_id ~= "" then where = where .. ", contact <code>" .. text(e.contact_id) .. "</code>" end
    local msg = printable(tostring(e.error or "?"):gsub("%s+", " "))
    if #msg > 300 then msg = msg:sub(1, 297) .. "..." end
    return fmt('<div class="ex">%s: %s</div>', where, esc(msg))
end

local function failures(r)
    if #r.reason_order == 0 then return '<p class="none">No failures.</p>' end
    local keys = {}
    for i, k in ipairs(r.reason_order) do keys[i] = k end
    table.sort(keys, function(a, b)
        if r.reasons[a].count ~= r.reasons[b].count then return r.reasons[a].count > r.reasons[b].count end
        return a < b
    end)
    local out = { '<table id="failures"><tr><th>reason (error kind)</th><th>last status</th><th>rows</th>'
        .. "<th>examples (input line, contact, message)</th></tr>" }
    for _, k in ipairs(keys) do
        local g = r.reasons[k]
        local ex = {}
        for _, e in ipairs(g.examples) do ex[#ex + 1] = example(e) end
        out[#out + 1] = fmt('<tr><td>%s</td><td>%s</td><td class="n">%d</td><td>%s</td></tr>', text(g.kind),
            g.status > 0 and fmt("HTTP %d", g.status) or (g.class == "invalid" and "not sent" or "no answer"),
            g.count, concat(ex))
    end
    out[#out + 1] = "</table>"
    if r.unknown > 0 then
        out[#out + 1] = fmt('<p>%d row(s) have an <b>unknown outcome</b> (an attempt may have been applied without '
            .. "an answer): a rerun with the same journal or batch id is safe.</p>", r.unknown)
    end
    return concat(out, "\n")
end

-- A parameter's value as written: whole numbers without ".0" (JSON decoders may give floats).
local function value_text(v)
    if type(v) == "number" and v == floor(v) and v > -2 ^ 53 and v < 2 ^ 53 then return fmt("%d", v) end
    return text(v)
end

local function parameters(r)
    if #r.params == 0 then return '<p class="none">The run\'s parameters were not recorded with these files.</p>' end
    local out = { '<table id="parameters"><tr><th>parameter</th><th>value</th></tr>' }
    for _, kv in ipairs(r.params) do
        out[#out + 1] = fmt("<tr><td>%s</td><td>%s</td></tr>", text(kv[1]), value_text(kv[2]))
    end
    out[#out + 1] = "</table>"
    return concat(out, "\n")
end

local function charts(r, t0, len)
    if not t0 then return '<p class="none">No request was sent: nothing to chart.</p>' end
    return rate_chart(r, t0, len) .. "\n" .. latency_chart(r, t0, len)
end

--- The whole page for report r (a cxone.bulk.report aggregate).
function M.page(r)
    local t0, len = span(r)
    local sub = t0 and fmt("First request %s · %s from first request to last answer", utc(r.t_min), svg.clock(len))
        or "No request was sent"
    local body = {
        "<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        "<title>cxone-bulk run report</title><style>" .. CSS .. "</style></head><body><main>",
        "<h1>cxone-bulk run report</h1>", '<p class="sub">' .. esc(sub) .. "</p>",
        tiles(r, len), "<h2>Rate and latency</h2>", charts(r, t0, len),
        "<h2>Results</h2>", outcomes(r), "<h2>Failures by reason</h2>", failures(r),
        "<h2>Parameters</h2>", parameters(r),
        "<footer>Written by cxone-bulk" .. (r.source and (" from " .. text(r.source)) or "")
            .. ". Self-contained: no script, nothing loaded from the network.</footer>",
        "</main></body></html>",
    }
    return concat(body, "\n") .. "\n"
end

return M
