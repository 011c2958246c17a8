-- job:metrics() and the CLI's --metrics-file: the Prometheus text exposition format, parsed by a
-- real parser (promtool check metrics, Debian's prometheus package), and the counters held to what
-- the mock itself counted (GET /_mock/stats), never to client-side counters alone.
local Mock = require "spec.helpers.mock"
local C = require "spec.helpers.cli"
local U = require "spec.helpers.util"
local bulk = require "cxone.bulk"

local PROMTOOL = os.getenv("PROMTOOL") or "promtool"
local have_promtool = U.run("command -v " .. PROMTOOL .. " >/dev/null")

-- promtool's verdict on a metrics text: ok, its output (lint problems, parse errors).
local function promtool_check(text)
    local dir = U.tmpdir("metrics")
    local path = dir .. "/m.prom"
    U.write_file(path, text)
    local ok, out = U.run(PROMTOOL .. " check metrics < " .. U.quote(path))
    U.rmdir(dir)
    return ok and not out:match("%S"), out
end

-- The samples of a metrics text: name{labels} -> value, and name -> sum over its label sets.
local function samples(text)
    local by_key, sums = {}, {}
    for line in text:gmatch("[^\n]+") do
        if not line:match("^#") then
            local key, value = line:match("^(%S+)%s+(%S+)$")
            assert(key, "not a sample line: " .. line)
            local v = value == "+Inf" and math.huge or tonumber(value)
            by_key[key] = v
            local name = key:match("^([%w_]+)")
            sums[name] = (sums[name] or 0) + v
        end
    end
    return by_key, sums
end

local sum_where = require("spec.helpers.prom").sum_where

local function tasks_for(ids)
    local t = {}
    for i, id in ipairs(ids) do t[i] = { contact_id = id, category = "Contacted", subcategory = "Information Provided" } end
    return t
end

describe("job:metrics()", function()
    if not have_promtool then
        it("needs promtool", function() pending("promtool not found (apt-get install prometheus)") end)
        return
    end

    local m
    -- A tenant limit below the client's rate: 429s and retries; one 503 in ten.
    m = Mock.shared { "--rate", "40", "--burst", "5", "--contacts", "200", "--error-rate", "0.1",
        "--error-statuses", "503" }

    it("is valid exposition text whose counters match the mock's own counts", function()
        local ids = {}
        for i = 1, 120 do ids[i] = ("contact-%06d"):format(i) end
        for i = 1, 4 do ids[#ids + 1] = ("missing-%d"):format(i) end -- 404s
        local tasks = tasks_for(ids)
        tasks[#tasks + 1] = { contact_id = "", category = "Contacted", subcategory = "Information Provided" } -- invalid
        local job = bulk.start(tasks, { base_url = m.url, client_id = "demo-client", client_secret = "demo-secret",
            rate = 80, burst = 10, max_retries = 20, backoff_base = 0.05, backoff_max = 0.2 })
        local live
        while not job:done() do
            job:poll(0.2)
            live = live or job:metrics() -- a snapshot mid-run parses too
        end
        job:close()
        local text = job:metrics()
        for _, t in ipairs({ live, text }) do
            local ok, out = promtool_check(t)
            assert.is_true(ok, "promtool check metrics: " .. out .. "\n" .. t)
        end
        local s = m:stats("mutations=0")
        local by, sums = samples(text)
        local puts = s.requests.by_route["PUT /api/v2/contacts"]
        assert.is_true(puts > 125, "the run should have retried: " .. puts)
        assert.are.equal(puts, sum_where(text, "cxone_bulk_requests_total", { method = "PUT" }))
        assert.are.equal(puts, sums.cxone_bulk_requests_total)
        assert.are.equal(s.rate_limited, sum_where(text, "cxone_bulk_requests_total", { status = "429" }))
        assert.is_true(s.rate_limited > 0, "the tenant limit should have answered 429")
        assert.are.equal(s.rate_limited, by.cxone_bulk_rate_limited_total)
        assert.are.equal(s.injected_errors, sum_where(text, "cxone_bulk_requests_total", { status = "503" }))
        assert.are.equal(s.requests.by_status["404"], sum_where(text, "cxone_bulk_requests_total", { status = "404" }))
        -- 200s: the PUTs' here, the token endpoint's too at the mock.
        assert.are.equal(s.requests.by_status["200"] - s.tokens_issued,
            sum_where(text, "cxone_bulk_requests_total", { status = "200" }))
        assert.are.equal(s.tokens_issued, by.cxone_bulk_token_refreshes_total)
        -- Every request sent took one limiter slot, and came back into the histogram.
        assert.are.equal(puts, by.cxone_bulk_limiter_slots_total)
        assert.are.equal(puts, by.cxone_bulk_request_duration_seconds_count)
        assert.are.equal(puts, by['cxone_bulk_request_duration_seconds_bucket{le="+Inf"}'])
        -- Results by outcome and kind: each task once.
        assert.are.equal(s.distinct_mutated, by['cxone_bulk_results_total{outcome="succeeded",kind="none"}'])
        assert.are.equal(120, s.distinct_mutated)
        assert.are.equal(4, by['cxone_bulk_results_total{outcome="failed",kind="not_found"}'])
        assert.are.equal(1, by['cxone_bulk_results_total{outcome="invalid",kind="input"}'])
        assert.are.equal(125, sums.cxone_bulk_results_total)
        assert.are.equal(125, by.cxone_bulk_tasks_total)
        -- A retry is every request beyond a sent task's first.
        assert.are.equal(puts - 124, by.cxone_bulk_retries_total)
        assert.are.equal(0, by.cxone_bulk_tasks_queued)
        assert.are.equal(0, by.cxone_bulk_tasks_in_flight)
        assert.are.equal(80, by.cxone_bulk_rate_requests_per_second)
        assert.are.equal(80, by.cxone_bulk_rate_configured_requests_per_second)
        assert.is_true(by.cxone_bulk_limiter_wait_seconds_total > 0)
        assert.is_true(math.abs(by.cxone_bulk_start_time_seconds - os.time()) < 120)
    end)

    it("keeps the histogram cumulative, and escapes the caller's labels", function()
        local job = bulk.start(tasks_for({ "contact-000001", "contact-000002" }), { base_url = m.url,
            client_id = "demo-client", client_secret = "demo-secret", max_retries = 20, backoff_base = 0.05 })
        while not job:done() do job:poll(0.2) end
        local text = job:metrics({ run = 'night "A"\\1\n', shard = 3 })
        job:close()
        local ok, out = promtool_check(text)
        assert.is_true(ok, out)
        assert.truthy(text:find('run="night \\"A\\"\\\\1\\n",shard="3"', 1, true), text)
        local prev = -1
        for le, v in text:gmatch('cxone_bulk_request_duration_seconds_bucket{le="([^"]+)".-} (%d+)') do
            assert.is_true(tonumber(v) >= prev, "bucket le=" .. le .. " below the one before")
            prev = tonumber(v)
        end
        for _, bad in ipairs({ { ["1x"] = "a" }, { __name__ = "x" }, { ok = {} } }) do
            local okc, err = pcall(job.metrics, job, bad)
            assert.is_false(okc)
            assert.matches("job:metrics%(%)", tostring(err))
        end
    end)
end)

describe("bulk.metrics(list)", function()
    if not have_promtool then
        it("needs promtool", function() pending("promtool not found (apt-get install prometheus)") end)
        return
    end

    it("renders several jobs as one exposition, each family once, and refuses a repeated series", function()
        local m = Mock.start { "--rate", "0", "--contacts", "20" }
        local opts = { base_url = m.url, client_id = "demo-client", client_secret = "demo-secret" }
        local a = bulk.start(tasks_for({ "contact-000001", "contact-000002" }), opts)
        local b = bulk.start(tasks_for({ "contact-000003", "missing-1" }), opts)
        while not (a:done() and b:done()) do
            a:poll(0.05)
            b:poll(0.05)
        end
        local text = bulk.metrics({ { a, { job = "a" } }, { b, { job = "b" } } })
        local ok, out = promtool_check(text)
        assert.is_true(ok, out .. "\n" .. text)
        local _, n = text:gsub("# TYPE cxone_bulk_requests_total counter", "")
        assert.are.equal(1, n)
        assert.truthy(text:find('cxone_bulk_requests_total{method="PUT",status="200",job="a"} 2', 1, true), text)
        assert.truthy(text:find('cxone_bulk_requests_total{method="PUT",status="404",job="b"} 1', 1, true), text)
        local okd, err = pcall(bulk.metrics, { { a, { job = "x" } }, { b, { job = "x" } } })
        assert.is_false(okd)
        assert.matches("given twice", tostring(err))
        a:close()
        b:close()
        m:stop()
    end)
end)

describe("cxone-bulk --metrics-file", function()
    if not have_promtool then
        it("needs promtool", function() pending("promtool not found (apt-get install prometheus)") end)
        return
    end

    it("rewrites the file atomically while the run goes on and leaves the final figures", function()
        local m = Mock.start { "--rate", "0", "--contacts", "200" }
        local dir = C.tmpdir()
        local input, prom = dir .. "/in.csv", dir .. "/run.prom"
        C.write(input, C.csv(C.rows(130)))
        -- 130 rows at 20/s: about 6 s, so one rewrite (every 5 s) falls inside the run.
        local h = C.spawn({ "--base-url", m.url, "--rate", "20", "--burst", "5", "--quiet", "--output",
            dir .. "/out.jsonl", "--metrics-file", prom, input })
        local mid = U.poll(15, function()
            local text = U.read_file(prom)
            if not U.exists(h.dir .. "/rc") and text then
                local by = samples(text)
                if (by['cxone_bulk_requests_total{method="PUT",status="200"}'] or 0) > 0 then return text end
            end
        end)
        local code = h.wait(30)
        assert.are.equal(0, code, C.read(h.err))
        assert.truthy(mid, "no metrics file with requests while the run was going on")
        local ok, out = promtool_check(mid)
        assert.is_true(ok, out)
        local final = U.read_file(prom)
        ok, out = promtool_check(final)
        assert.is_true(ok, out)
        local by = samples(final)
        local s = m:stats("mutations=0")
        assert.are.equal(s.requests.by_route["PUT /api/v2/contacts"], by['cxone_bulk_requests_total{method="PUT",status="200"}'])
        assert.are.equal(130, by['cxone_bulk_results_total{outcome="succeeded",kind="none"}'])
        local _, listing = U.run("ls -A " .. U.quote(dir))
        assert.is_nil(listing:find("run.prom.tmp", 1, true), "a temporary file was left: " .. listing)
        h.cleanup()
        C.rmdir(dir)
        m:stop()
    end)

    it("refuses a path it cannot write before anything is sent (exit 2)", function()
        local m = Mock.start { "--rate", "0", "--contacts", "20" }
        local dir = C.tmpdir()
        C.write(dir .. "/in.csv", C.csv(C.rows(3)))
        local code, _, err = C.run(C.fast(m, { "--quiet", "--output", dir .. "/out.jsonl", "--metrics-file",
            dir .. "/no/such/dir/run.prom", dir .. "/in.csv" }))
        assert.are.equal(2, code)
        assert.matches("cannot write the metrics file " .. dir:gsub("%p", "%%%0") .. "/no/such/dir/run%.prom", err)
        assert.are.equal(0, m:stats("mutations=0").requests.total)
        C.rmdir(dir)
        m:stop()
    end)
end)
