-- Progress on stderr: a redrawn bar on a terminal (at most every TTY_INTERVAL seconds), a plain
-- line every PLAIN_INTERVAL seconds otherwise. The rate is measured over the last RATE_WINDOW
-- seconds, so the ETA follows pauses and slow-downs instead of the whole-run average. It is
-- measured against the limit: the first burst is not counted as rate, and a window that still
-- holds more than the limit allows says "burst", so the figure never reads as the limit ignored.
local options = require "cxone.bulk.options"

local M = {}

M.TTY_INTERVAL = 0.1
M.PLAIN_INTERVAL = 5
M.RATE_WINDOW = 5

-- "1:02:03" / "2:03" / "--:--" for unknown.
function M.duration(s)
    if not s or s ~= s or s == math.huge or s < 0 then return "--:--" end
    s = math.floor(s + 0.5)
    local h, m, sec = math.floor(s / 3600), math.floor(s / 60) % 60, s % 60
    if h > 0 then return ("%d:%02d:%02d"):format(h, m, sec) end
    return ("%d:%02d"):format(m, sec)
end

local Progress = {}
Progress.__index = Progress

-- Window rates up to this much above the limit are the jitter of answers arriving, not a burst.
M.JITTER = 1.05

-- The run's limit {rate=, burst=} from its engine options (defaults from cxone.bulk.options).
-- rate = "auto": the rate moves, so the figure shown is bounded by max_rate (auto = true).
function M.limit_of(engine_opts)
    local spec = options.rate_spec(engine_opts.rate or options.BY_NAME.rate.default) or {}
    local limit = { rate = spec.start, burst = engine_opts.burst or options.BY_NAME.burst.default }
    if spec.auto then
        limit.auto = true
        limit.rate = engine_opts.max_rate or options.BY_NAME.max_rate.derive({ rate = engine_opts.rate })
    end
    return limit
end

-- opts: out (file handle), tty (bool), quiet (bool), now (monotonic clock), total (rows or nil),
-- width (columns for the bar line), limit ({rate=, burst=} or nil).
function M.new(opts)
    local now = opts.now()
    return setmetatable({
        limit = opts.limit,
        out = opts.out, tty = opts.tty, quiet = opts.quiet, now = opts.now, total = opts.total,
        width = opts.width or 80, start = now, last_draw = nil, samples = { { now, 0 } },
        drawn = false, line_len = 0,
    }, Progress)
end

-- Done per second over the last RATE_WINDOW seconds (whole run while shorter); nil while the
-- window holds a burst (see the top of this file).
function Progress:rate(t, done)
    local s = self.samples
    s[#s + 1] = { t, done }
    while #s > 2 and t - s[2][1] >= M.RATE_WINDOW do table.remove(s, 1) end
    -- At least a second of history, so the first redraws do not show a burst as the rate.
    local dt = math.max(t - s[1][1], 1)
    local n, limit = done - s[1][2], self.limit
    if not limit or n == 0 then return n / dt end
    if s[1][1] == self.start then n = n - limit.burst end -- the window holds the first burst
    local rate = n / dt
    if n <= 0 or rate > limit.rate * M.JITTER then return nil end
    return math.min(rate, limit.rate)
end

-- The one-line status. st: done, ok, failed, skipped, retries, paused (seconds left or nil).
function Progress:render(st, t)
    local rate = self:rate(t, st.done)
    local total = self.total
    if total and st.done > total then total = st.done end
    local pace = rate or (self.limit and self.limit.rate) or 0 -- during a burst: the limit ahead
    local eta = (total and pace > 0) and (total - st.done) / pace or nil
    local counts = ("%s  %s  ok %d  failed %d"):format(
        total and ("%d/%d"):format(st.done, total) or ("%d"):format(st.done),
        rate and ("%.1f/s"):format(rate) or "burst", st.ok, st.failed)
    if st.skipped > 0 then counts = counts .. ("  skipped %d"):format(st.skipped) end
    counts = counts .. ("  retries %d"):format(st.retries)
    if st.paused and st.paused > 0 then counts = counts .. ("  paused %.0fs (429)"):format(st.paused) end
    counts = counts .. "  ETA " .. (total and M.duration(eta) or "--:--")
    if not self.tty then
        return ("cxone-bulk: %s  elapsed %s"):format(counts, M.duration(t - self.start))
    end
    -- The line must fit the terminal (one column spare): a wrapped line cannot be redrawn in
    -- place with a carriage return. The bar shrinks first, then goes, then the text is cut.
    local pct = total and total > 0 and st.done / total or 0
    local text = ("%3d%% %s"):format(math.floor(pct * 100), counts)
    local room = self.width - 1 - #text - 3
    if room >= 10 then
        local barw = math.min(40, room)
        local fill = math.floor(pct * barw + 0.5)
        return ("[%s%s] %s"):format(("#"):rep(fill), ("."):rep(barw - fill), text)
    end
    return text:sub(1, math.max(self.width - 1, 20))
end

-- Columns of the terminal on stderr: $COLUMNS, else `stty size` on the controlling terminal,
-- else 80.
function M.terminal_width()
    local n = tonumber(os.getenv("COLUMNS") or "")
    if n and n > 0 then return n end
    local p = io.popen("{ stty size < /dev/tty; } 2> /dev/null")
    if p then
        local out = p:read("*a") or ""
        p:close()
        n = tonumber(out:match("^%s*%d+%s+(%d+)"))
        if n and n > 0 then return n end
    end
    return 80
end

-- Redraws when due (or always with force).
function Progress:update(st, force)
    if self.quiet then return end
    local t = self.now()
    local every = self.tty and M.TTY_INTERVAL or M.PLAIN_INTERVAL
    if not force then
        if self.last_draw == nil then
            if not self.tty and t - self.start < every then return end
        elseif t - self.last_draw < every then
            return
        end
    end
    self.last_draw = t
    local text = self:render(st, t)
    if self.tty then
        local pad = self.line_len > #text and (" "):rep(self.line_len - #text) or ""
        self.out:write("\r", text, pad)
        self.line_len = #text
        self.drawn = true
    else
        self.out:write(text, "\n")
    end
    self.out:flush()
end

-- Clears the bar so that a message can be printed on stderr; the next update redraws it.
function Progress:clear()
    if self.tty and self.drawn then
        self.out:write("\r", (" "):rep(self.line_len), "\r")
        self.drawn, self.line_len = false, 0
    end
end

-- Draws the final state and ends the bar line, so the summary starts on a clean line.
function Progress:finish(st)
    if self.quiet then return end
    if self.tty then
        self:update(st, true)
        self.out:write("\n")
        self.out:flush()
    end
end

return M
