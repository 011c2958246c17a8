--- Inline SVG charts for the run report (cxone/bulk/report.lua): a time chart of line series with
-- shaded bands (pauses) and marks (429s), and a horizontal bar chart. Plain strings, no script:
-- the report opens in any browser, offline. Every drawn series carries data-series="<name>" and
-- every mark its class, so a test can find them in the rendered page.
local M = {}

local fmt, concat, floor, max = string.format, table.concat, math.floor, math.max

--- &, <, >, " and ' as entities: for text and attribute values alike.
function M.escape(s)
    return (tostring(s):gsub("[&<>\"']", { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
        ["'"] = "&#39;" }))
end
local esc = M.escape

local function num(v) return fmt("%.1f", v) end

-- A "nice" step (1, 2 or 5 times a power of ten) that cuts 0..span into about n parts.
local function nice_step(span, n)
    if span <= 0 then return 1 end
    local raw = span / n
    local p = 10 ^ floor(math.log(raw) / math.log(10))
    for _, m in ipairs({ 1, 2, 5, 10 }) do
        if raw <= m * p then return m * p end
    end
    return 10 * p
end
M.nice_step = nice_step

-- Steps of the time axis, in seconds: round minutes and hours.
local TIME_STEPS = { 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400 }

local function time_step(span, n)
    for _, s in ipairs(TIME_STEPS) do
        if span / s <= n then return s end
    end
    return TIME_STEPS[#TIME_STEPS] * math.ceil(span / n / 86400)
end

--- Seconds as m:ss, or h:mm:ss from an hour on.
function M.clock(t)
    t = floor(t + 0.5)
    local h, m, s = floor(t / 3600), floor(t % 3600 / 60), t % 60
    if h > 0 then return fmt("%d:%02d:%02d", h, m, s) end
    return fmt("%d:%02d", m, s)
end

-- The value text of a y tick: no needless decimals.
local function tick_label(v)
    if v == floor(v) then return fmt("%d", v) end
    return fmt("%g", v)
end

-- The plot area of a chart and the scales from data to pixels.
local function frame(c)
    local f = { left = 56, right = 16, top = 12, bottom = 34, w = c.width or 900, h = c.height or 240 }
    f.pw, f.ph = f.w - f.left - f.right, f.h - f.top - f.bottom
    f.x = function(v) return f.left + f.pw * (c.x_max > 0 and v / c.x_max or 0) end
    f.y = function(v) return f.top + f.ph * (1 - (c.y_max > 0 and v / c.y_max or 0)) end
    return f
end

local function axes(out, c, f)
    local ystep = nice_step(c.y_max, 4)
    local v = 0
    while v <= c.y_max + 1e-9 do
        local y = f.y(v)
        out[#out + 1] = fmt('<line class="grid" x1="%s" y1="%s" x2="%s" y2="%s"/>', num(f.left), num(y),
            num(f.left + f.pw), num(y))
        out[#out + 1] = fmt('<text class="tick" x="%s" y="%s" text-anchor="end">%s</text>', num(f.left - 6),
            num(y + 4), tick_label(v))
        v = v + ystep
    end
    local xstep = time_step(c.x_max, 8)
    local t = 0
    while t <= c.x_max + 1e-9 do
        local x = f.x(t)
        out[#out + 1] = fmt('<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>', num(x), num(f.top + f.ph),
            num(x), num(f.top + f.ph + 4))
        out[#out + 1] = fmt('<text class="tick" x="%s" y="%s" text-anchor="middle">%s</text>', num(x),
            num(f.top + f.ph + 17), M.clock(t))
        t = t + xstep
    end
    out[#out + 1] = fmt('<line class="axis" x1="%s" y1="%s" x2="%s" y2="%s"/>', num(f.left), num(f.top + f.ph),
        num(f.left + f.pw), num(f.top + f.ph))
    out[#out + 1] = fmt('<text class="unit" x="%s" y="%s">%s</text>', num(f.left - 50), num(f.top - 2),
        esc(c.y_label or ""))
    out[#out + 1] = fmt('<text class="unit" x="%s" y="%s" text-anchor="end">time since the first request</text>',
        num(f.left + f.pw), num(f.h - 2))
end

-- Points of a series as a polyline's points attribute (a step line holds each value until the
-- next point).
local function points_attr(s, f)
    local pts = {}
    local prev
    for _, p in ipairs(s.points) do
        if s.step and prev then pts[#pts + 1] = num(f.x(p[1])) .. "," .. num(f.y(prev)) end
        pts[#pts + 1] = num(f.x(p[1])) .. "," .. num(f.y(p[2]))
        prev = p[2]
    end
    if s.step and prev and s.until_x then pts[#pts + 1] = num(f.x(s.until_x)) .. "," .. num(f.y(prev)) end
    return concat(pts, " ")
end

local function draw_series(out, c, f)
    for _, s in ipairs(c.series) do
        if #s.points > 0 then
            out[#out + 1] = fmt('<polyline class="series" data-series="%s" points="%s" stroke="%s" fill="none" '
                .. 'stroke-width="%s"%s><title>%s</title></polyline>', esc(s.name), points_attr(s, f), s.color,
                s.width or 1.6, s.dash and (' stroke-dasharray="' .. s.dash .. '"') or "", esc(s.label))
        end
    end
end

local function draw_bands(out, c, f)
    for _, b in ipairs(c.bands or {}) do
        local x0, x1 = f.x(max(0, b.x0)), f.x(math.min(c.x_max, b.x1))
        out[#out + 1] = fmt('<rect class="%s" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>',
            esc(b.class), num(x0), num(f.top), num(max(1.5, x1 - x0)), num(f.ph), esc(b.title or ""))
    end
end

-- Marks stand on the x axis, as tall as their share of the chart (at least 4 px, at most a third).
local function draw_marks(out, c, f)
    for _, m in ipairs(c.marks or {}) do
        local h = math.min(f.ph / 3, max(4, f.ph * (c.y_max > 0 and m.value / c.y_max or 0)))
        out[#out + 1] = fmt('<rect class="%s" x="%s" y="%s" width="%s" height="%s"><title>%s</title></rect>',
            esc(m.class), num(f.x(m.x) - 1.5), num(f.top + f.ph - h), num(max(3, f.pw * m.w / c.x_max)), num(h),
            esc(m.title or ""))
    end
end

local function legend(c)
    local items = {}
    for _, s in ipairs(c.series) do
        if #s.points > 0 then
            items[#items + 1] = fmt('<span class="key"><svg width="22" height="10" aria-hidden="true"><line x1="0" '
                .. 'y1="5" x2="22" y2="5" stroke="%s" stroke-width="2.5"%s/></svg>%s</span>', s.color,
                s.dash and (' stroke-dasharray="' .. s.dash .. '"') or "", esc(s.label))
        end
    end
    for _, k in ipairs(c.keys or {}) do
        items[#items + 1] = fmt('<span class="key"><span class="swatch %s"></span>%s</span>', esc(k.class),
            esc(k.label))
    end
    return '<div class="legend">' .. concat(items) .. "</div>"
end

--- A time chart. c: {id, title, y_label, x_max (seconds), y_max, width, height, series = {{name,
-- label, color, points = {{x, y}, ...}, dash, step, until_x}}, bands = {{x0, x1, class, title}},
-- marks = {{x, w, value, class, title}}, keys = {{class, label}} (legend entries for bands and
-- marks)}. Returns the figure's HTML (a heading, the SVG, a legend).
function M.time_chart(c)
    local f = frame(c)
    local out = { fmt('<figure class="chart" id="%s"><figcaption>%s</figcaption>', esc(c.id), esc(c.title)),
        fmt('<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" data-chart="%s">', f.w, f.h,
            esc(c.title), esc(c.id)) }
    draw_bands(out, c, f)
    axes(out, c, f)
    draw_marks(out, c, f)
    draw_series(out, c, f)
    out[#out + 1] = "</svg>" .. legend(c) .. "</figure>"
    return concat(out, "\n")
end

--- A horizontal bar chart. bars: {{name, label, value, class}}; returns the figure's HTML.
function M.bar_chart(id, title, bars)
    local w, row = 900, 26
    local h = row * #bars + 8
    local top = 0
    for _, b in ipairs(bars) do top = max(top, b.value) end
    local out = { fmt('<figure class="chart" id="%s"><figcaption>%s</figcaption>', esc(id), esc(title)),
        fmt('<svg viewBox="0 0 %d %d" width="100%%" role="img" aria-label="%s" data-chart="%s">', w, h, esc(title),
            esc(id)) }
    local left, right = 170, 90
    for i, b in ipairs(bars) do
        local y = (i - 1) * row + 4
        local bw = top > 0 and (w - left - right) * b.value / top or 0
        out[#out + 1] = fmt('<text class="bar-label" x="%d" y="%s" text-anchor="end">%s</text>', left - 8,
            num(y + 15), esc(b.label))
        out[#out + 1] = fmt('<rect class="bar %s" data-outcome="%s" x="%d" y="%s" width="%s" height="%d">'
            .. '<title>%s: %d</title></rect>', esc(b.class), esc(b.name), left, num(y), num(max(b.value > 0 and 2 or 0, bw)),
            row - 8, esc(b.label), b.value)
        out[#out + 1] = fmt('<text class="bar-value" x="%s" y="%s">%d</text>', num(left + bw + 6), num(y + 15), b.value)
    end
    out[#out + 1] = "</svg></figure>"
    return concat(out, "\n")
end

return M
