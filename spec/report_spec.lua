-- The HTML run report (--report, bulk.report): one self-contained file, its numbers held to the
-- mock's own counts, no secret in it, and its charts rendered by a real browser (Debian's
-- chromium, headless: one run that lays the page out, measures the drawn SVG and takes a
-- screenshot). The run behind it has 429s from the tenant limit, one pool-wide pause (a long
-- Retry-After), 404s and an invalid row.
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local U = require "spec.helpers.util"
local cjson = require "cjson"
local bulk = require "cxone.bulk"

local CHROMIUM = os.getenv("CHROMIUM") or "chromium"
local have_chromium = U.run("command -v " .. CHROMIUM .. " >/dev/null")

-- A per-run secret: found anywhere in the outputs, it leaked.
local SECRET = ("s3cr3t-%d-%d"):format(os.time(), math.random(1e6))
local CLIENT = "report-spec-client"

-- The headline tiles of a report: label -> value.
local function tiles(html)
    local t = {}
    for value, label in html:gmatch('<div class="tile"><b>(.-)</b><span>(.-)</span></div>') do t[label] = value end
    return t
end

-- Appended to a copy of the report for the browser run only: after the page's own layout it
-- measures what was drawn and writes it into the DOM, which --dump-dom then prints.
local MEASURE = [[
<script>
addEventListener('load', function () {
  var out = {charts: {}, series: {}, marks: {}, bars: {}};
  document.querySelectorAll('svg[data-chart]').forEach(function (s) {
    var r = s.getBoundingClientRect(); out.charts[s.dataset.chart] = {w: r.width, h: r.height};
  });
  document.querySelectorAll('[data-series]').forEach(function (p) {
    var b = p.getBBox(), r = p.getBoundingClientRect(), cs = getComputedStyle(p);
    out.series[p.dataset.series] = {points: p.points.numberOfItems, w: b.width, h: b.height, screen_w: r.width,
      stroke: cs.stroke, visibility: cs.visibility, plot_w: p.ownerSVGElement.viewBox.baseVal.width};
  });
  ['mark-429', 'pause'].forEach(function (c) {
    var list = document.querySelectorAll('rect.' + c), area = 0;
    list.forEach(function (r) { var b = r.getBBox(); area += b.width * b.height; });
    out.marks[c] = {count: list.length, area: area, fill: list.length ? getComputedStyle(list[0]).fill : ''};
  });
  document.querySelectorAll('rect.bar').forEach(function (r) { out.bars[r.dataset.outcome] = r.getBBox().width; });
  var pre = document.createElement('pre'); pre.id = 'render-check'; pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>
]]

-- The width and height in a PNG's IHDR chunk (bytes 17-24), after checking its signature.
local function png_size(bytes)
    assert(bytes and bytes:sub(1, 8) == "\137PNG\r\n\26\n", "not a PNG")
    local function u32(i)
        local a, b, c, d = bytes:byte(i, i + 3)
        return ((a * 256 + b) * 256 + c) * 256 + d
    end
    return u32(17), u32(21)
end

describe("the run report", function()
    local m, dir, files, stats, html

    m = Mock.shared { "--rate", "25", "--burst", "5", "--contacts", "100", "--client-id", CLIENT,
        "--client-secret", SECRET }
    lazy_setup(function()
        dir = C.tmpdir()
        local rows = C.rows(70)
        for i = 1, 4 do rows[#rows + 1] = { ("missing-%d"):format(i), "Contacted", "Information Provided" } end
        rows[#rows + 1] = { "", "Contacted", "Information Provided" } -- invalid: line 76
        files = { input = dir .. "/in.csv", report = dir .. "/report.html", results = dir .. "/results.jsonl",
            summary = dir .. "/summary.json", journal = dir .. "/run.journal" }
        C.write(files.input, C.csv(rows))
        local h = C.spawn({ "--base-url", m.url, "--rate", "50", "--burst", "10", "--max-retries", "20",
            "--backoff-base", "0.2", "--backoff-max", "0.5", "--pause-threshold", "1", "--quiet",
            "--output", files.results, "--summary-json", files.summary, "--journal", files.journal,
            "--report", files.report, files.input }, { env = { CXONE_CLIENT_ID = CLIENT, CXONE_CLIENT_SECRET = SECRET } })
        U.sleep(1)
        m:config { once_429_retry_after = 2 } -- a long Retry-After: the whole pool pauses 2 s
        files.code = h.wait(60)
        files.err = C.read(h.err)
        h.cleanup()
        stats = m:stats("mutations=0")
        html = U.read_file(files.report)
    end)

    lazy_teardown(function()
        C.rmdir(dir)
    end)

    it("is written by --report, one self-contained file: no script, nothing to fetch", function()
        assert.are.equal(1, files.code, files.err) -- the 404s and the invalid row fail
        assert.truthy(html, "no report written")
        assert.matches("^<!DOCTYPE html>", html)
        assert.is_nil(html:lower():find("<script", 1, true))
        assert.is_nil(html:lower():find("<link", 1, true))
        assert.is_nil(html:lower():find("<img", 1, true))
        assert.is_nil(html:find("src=", 1, true))
        assert.is_nil(html:find("href=", 1, true))
        assert.is_nil(html:find("url(", 1, true))
        assert.is_nil(html:find("@import", 1, true))
        assert.truthy(html:find('<svg viewBox=', 1, true))
    end)

    it("never holds the secret or a token", function()
        for _, name in ipairs({ "report", "results", "summary", "journal" }) do
            local text = U.read_file(files[name])
            assert.is_nil(text:find(SECRET, 1, true), name .. " holds the client secret")
            assert.is_nil(text:find(SECRET:sub(1, 12), 1, true), name .. " holds a prefix of the secret")
        end
        -- The mock's tokens are 43 base64url characters; nothing in the report is that long a word.
        assert.is_nil(html:find(("[%w_%-]"):rep(40)), "a token-like string in the report")
        assert.is_nil(html:lower():find("bearer", 1, true))
    end)

    it("counts what the mock counted: requests, 429s, the pause; failures with their lines", function()
        local t = tiles(html)
        local puts = stats.requests.by_route["PUT /api/v2/contacts"]
        assert.is_true(stats.rate_limited > 1, "the tenant limit should have answered 429s")
        assert.are.equal(("%d"):format(puts), t["API requests"])
        assert.are.equal(("%d"):format(stats.rate_limited), t["429 answers"])
        assert.are.equal("1", t["pauses"])
        assert.are.equal("75", t["rows"])
        assert.are.equal(("%d"):format(stats.distinct_mutated), t["succeeded"])
        assert.are.equal("5", t["not succeeded"])
        local failures = html:match('<table id="failures">(.-)</table>')
        assert.truthy(failures)
        assert.matches("not_found</td><td>HTTP 404</td><td class=\"n\">4</td>", failures)
        assert.matches("line 72, contact <code>missing%-1</code>: HTTP 404", failures)
        assert.matches("input</td><td>not sent</td><td class=\"n\">1</td>", failures)
        assert.matches("line 76: contact_id is empty", failures)
        local params = html:match('<table id="parameters">(.-)</table>')
        assert.matches("<td>rate</td><td>50</td>", params)
        assert.truthy(params:find("<td>client_id</td><td>" .. CLIENT .. "</td>", 1, true), params)
        assert.matches("Contacted / Information Provided</td><td class=\"n\">75</td><td class=\"n\">70</td>", html)
    end)

    it("renders in a real browser: the rate and latency series, 429 marks, the pause, outcome bars", function()
        if not have_chromium then return pending("chromium not found (apt-get install chromium)") end
        local check, shot, dom = dir .. "/check.html", dir .. "/shot.png", dir .. "/dom.html"
        C.write(check, (html:gsub("</body>", function() return MEASURE .. "</body>" end)))
        local ok, out = U.run(("timeout 90 %s --headless --no-sandbox --disable-gpu --disable-quic "
            .. "--disable-background-networking --disable-component-update --disable-sync --no-first-run "
            .. "--user-data-dir=%s --window-size=1100,1600 --hide-scrollbars --screenshot=%s --dump-dom "
            .. "file://%s > %s"):format(CHROMIUM, U.quote(dir .. "/profile"), U.quote(shot), check, U.quote(dom)))
        assert.is_true(ok, "chromium failed: " .. out)
        local json = (U.read_file(dom) or ""):match('<pre id="render%-check">(.-)</pre>')
        assert.truthy(json, "the page did not lay out (no measurements in the DOM): " .. out)
        local r = cjson.decode((json:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&amp;", "&")))
        for _, id in ipairs({ "rate-chart", "latency-chart", "outcome-chart" }) do
            assert.is_true(r.charts[id] and r.charts[id].w > 500 and r.charts[id].h > 100, id .. " not laid out")
        end
        local req = r.series.requests
        assert.truthy(req, "no requests/s series drawn")
        assert.is_true(req.points >= 4, "requests/s: " .. req.points .. " points")
        assert.is_true(req.w > 0.5 * req.plot_w and req.h > 20 and req.screen_w > 300, cjson.encode(req))
        assert.are_not.equal("none", req.stroke)
        assert.are.equal("visible", req.visibility)
        assert.truthy(r.series["limit-configured"], "no configured-limit line")
        assert.is_true(r.series["limit-configured"].w > 0.9 * req.plot_w - 80)
        for _, q in ipairs({ "p50", "p90", "p99" }) do
            assert.is_true(r.series[q] and r.series[q].points >= 3 and r.series[q].w > 0, q .. " not drawn")
        end
        assert.is_true(r.marks["mark-429"].count >= 1 and r.marks["mark-429"].area > 0, cjson.encode(r.marks))
        assert.are_not.equal("none", r.marks["mark-429"].fill)
        assert.are.equal(1, r.marks.pause.count)
        assert.is_true(r.marks.pause.area > 0)
        assert.is_true(r.bars.succeeded > 300 and r.bars.failed > 0 and r.bars.invalid > 0, cjson.encode(r.bars))
        local png = U.read_file(shot)
        local w, h = png_size(png)
        assert.are.equal(1100, w)
        assert.are.equal(1600, h)
        assert.is_true(#png > 40000, "screenshot of " .. #png .. " bytes: a blank page?")
    end)

    it("is built again from the results file and the run's summary, or from the journal (bulk.report)", function()
        local from_results, from_journal = dir .. "/again.html", dir .. "/journal.html"
        assert(bulk.report(files.results, from_results, { summary = files.summary }))
        assert(bulk.report(files.journal, from_journal))
        local live, again, journal = tiles(html), tiles(U.read_file(from_results)), tiles(U.read_file(from_journal))
        for _, k in ipairs({ "API requests", "429 answers", "pauses", "rows", "succeeded", "not succeeded" }) do
            assert.are.equal(live[k], again[k], k)
        end
        for _, k in ipairs({ "API requests", "429 answers", "pauses", "succeeded" }) do
            assert.are.equal(live[k], journal[k], k .. " (journal)")
        end
        -- The journal holds what reached the engine: the invalid row is only in the results.
        assert.are.equal("74", journal["rows"])
        for _, f in ipairs({ from_results, from_journal }) do
            local text = U.read_file(f)
            assert.matches("<td>rate</td><td>50</td>", text)
            assert.matches("<td>pause_threshold</td><td>1</td>", text)
            assert.is_nil(text:find(SECRET, 1, true))
        end
    end)

    it("--summary-json has rows by outcome and the parameters, no secret", function()
        local s = cjson.decode(U.read_file(files.summary))
        local o = s.by_outcome["Contacted / Information Provided"]
        assert.are.same({ rows = 75, succeeded = 70, failed = 4, invalid = 1, cancelled = 0, skipped = 0 }, o)
        assert.are.equal(50, s.params.rate)
        assert.are.equal(CLIENT, s.params.client_id)
        assert.is_nil(s.params.client_secret)
    end)

    it("--report refuses the input's path, stdout and an unwritable path before anything is sent", function()
        local input = dir .. "/small.csv"
        local text = C.csv(C.rows(2))
        C.write(input, text)
        local before = m:stats("mutations=0").requests.total
        for _, case in ipairs({
            { input, "%-%-report " .. input:gsub("%p", "%%%0") .. " is the same file as the input" },
            { "-", "%-%-report needs a file path" },
            { dir .. "/no/such/dir/r.html", "cannot open report file" },
        }) do
            local code, _, err = C.run({ "--base-url", m.url, "--quiet", "--output", dir .. "/o.jsonl", "--report",
                case[1], input }, { env = { CXONE_CLIENT_ID = CLIENT, CXONE_CLIENT_SECRET = SECRET } })
            assert.are.equal(2, code, err)
            assert.matches(case[2], err)
        end
        assert.are.equal(text, C.read(input))
        assert.are.equal(before, m:stats("mutations=0").requests.total)
    end)

    it("bulk.report names what is wrong: an unreadable source, a bad line, a bad option", function()
        local ok, err = bulk.report(dir .. "/none.jsonl", dir .. "/x.html")
        assert.is_nil(ok)
        assert.are.equal("input", err.kind)
        assert.matches("none%.jsonl", tostring(err))
        C.write(dir .. "/bad.jsonl", '{"ok":true}\nnot json\n')
        ok, err = bulk.report(dir .. "/bad.jsonl", dir .. "/x.html")
        assert.is_nil(ok)
        assert.matches("bad%.jsonl line 2 is not a JSON object", tostring(err))
        ok, err = bulk.report(files.journal, dir .. "/x.html", { run = 3 })
        assert.is_nil(ok)
        assert.matches("holds 1 run%(s%): there is no run 3", tostring(err))
        ok, err = bulk.report(files.results, dir .. "/no/such/dir/x.html")
        assert.is_nil(ok)
        assert.are.equal("output", err.kind)
        ok, err = bulk.report(files.results, dir .. "/x.html", { run = 0 })
        assert.is_nil(ok)
        assert.are.equal("options", err.kind)
    end)
end)
