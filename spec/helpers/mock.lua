-- Spec helper: run build/cxone-mock (or $CXONE_MOCK) on 127.0.0.1 and talk to it over real HTTP
-- with the curl CLI. Plain Lua + lua-cjson, so it works on Lua 5.1-5.4 and LuaJIT.
--
--   local Mock = require "spec.helpers.mock"
--   local m = Mock.start{ "--rate", "0", "--contacts", "2000" }  -- argv; --port 0 unless given
--   m.port, m.url, m.pid
--   m:stats([query])      GET /_mock/stats (e.g. m:stats("mutations=0")), decoded
--   m:config{...}         POST /_mock/config, returns the decoded config; raises on non-200
--   m:reset()             POST /_mock/reset
--   m:request(method, path, {headers=, body=, timeout=}) -> status, body, headers (lower-case
--                         names), curl error (status 0 when no HTTP answer came back)
--   m:spawn(method, path, opts) -> handle; handle:wait() -> same as m:request (runs in background)
--   m:token([{id=, secret=}]) -> a fresh access token (raises on failure)
--   m:stderr()            what the mock wrote to stderr so far
--   m:stop()              SIGTERM, waits for the exit (bounded), returns the exit code; idempotent
--
-- In a describe block, instead of starting and stopping one by hand:
--   local m = Mock.shared { "--rate", "0" }  -- started before the block's first test, stopped after its last
--   local m = Mock.each { "--rate", "0" }    -- a fresh one for each test of the block
-- (m is the Mock itself, started later: read m.url and the rest inside the tests.)
local cjson = require "cjson"
local U = require "spec.helpers.util"

local Mock = {}
Mock.__index = Mock

local function bin()
    return os.getenv("CXONE_MOCK") or "build/cxone-mock"
end
Mock.bin = bin

local q, read, write, sleep, exists, poll = U.quote, U.read_file, U.write_file, U.sleep, U.exists, U.poll
Mock.quote = q
Mock.sleep = sleep

-- Starts this (not yet running or stopped) mock with its argv. Raises with the mock's stderr
-- when it does not come up within 10 s.
function Mock:launch()
    local argv = self.argv
    local base = os.tmpname()
    self.base, self.seq, self.stopped, self.exit_code, self.final_out, self.final_err = base, 0, nil, nil, nil, nil
    self.out, self.err, self.pidf, self.rcf = base .. ".out", base .. ".err", base .. ".pid", base .. ".rc"
    self.pid, self.port, self.url = nil, nil, nil
    local args, has_port = {}, false
    for _, a in ipairs(argv) do
        a = tostring(a)
        if a == "--port" or a:match("^%-%-port=") then has_port = true end
        args[#args + 1] = q(a)
    end
    if not has_port then args[#args + 1] = "--port 0" end
    -- A wrapper shell keeps the mock's pid and records its exit code when it ends.
    local inner = string.format(
        "%s %s >%s 2>%s </dev/null & echo $! >%s.tmp && mv %s.tmp %s; wait $!; echo $? >%s.tmp && mv %s.tmp %s",
        q(bin()), table.concat(args, " "), q(self.out), q(self.err),
        q(self.pidf), q(self.pidf), q(self.pidf), q(self.rcf), q(self.rcf), q(self.rcf))
    os.execute("sh -c " .. q(inner) .. " >/dev/null 2>&1 </dev/null &")
    local got = poll(10, function()
        local line = (read(self.out) or ""):match("^(%d+)\n")
        if line then return tonumber(line) end
        if exists(self.rcf) then return "exited" end
    end)
    local port = type(got) == "number" and got or nil
    -- The wrapper writes the pid file right after forking, but on a loaded machine the mock
    -- can print its port first: wait for the pid too, or stop() could not signal it.
    self.pid = poll(10, function() return tonumber(read(self.pidf) or "") end)
    if not port then
        local rc = read(self.rcf)
        local err = read(self.err) or ""
        self:stop()
        error(string.format("cxone-mock did not start (%s; exit %s): %s", table.concat(argv, " "),
            rc and rc:gsub("%s+$", "") or "none yet", err), 2)
    end
    self.port = port
    self.url = "http://127.0.0.1:" .. port
    return self
end

local function new(argv)
    return setmetatable({ argv = argv or {} }, Mock)
end

-- Starts the mock. argv: array of strings (flags).
function Mock.start(argv)
    return new(argv):launch()
end

-- busted's hooks: this module does not run in a spec file's environment, so take them from busted.
local function hooks()
    return require "busted"
end

-- One mock for the enclosing describe block: started before its first test, stopped after its last.
function Mock.shared(argv)
    local m, b = new(argv), hooks()
    b.lazy_setup(function() m:launch() end)
    b.lazy_teardown(function() m:stop() end)
    return m
end

-- A fresh mock for each test of the enclosing describe block.
function Mock.each(argv)
    local m, b = new(argv), hooks()
    b.before_each(function() m:launch() end)
    b.after_each(function() m:stop() end)
    return m
end

-- What the mock wrote so far (after stop: everything it wrote).
function Mock:stderr()
    return self.final_err or read(self.err) or ""
end

function Mock:stdout()
    return self.final_out or read(self.out) or ""
end

-- Parses a curl -D dump: the last response's headers, names lower-cased.
local function parse_headers(text)
    local blocks, cur = {}, nil
    for line in (text or ""):gmatch("([^\r\n]*)\r?\n") do
        if line:match("^HTTP/") then
            cur = {}
            blocks[#blocks + 1] = cur
        elseif cur and line ~= "" then
            local k, v = line:match("^([^:]+):%s*(.-)%s*$")
            if k then cur[k:lower()] = v end
        end
    end
    return blocks[#blocks] or {}
end

-- The curl command line for one request and the files it uses.
function Mock:_curl(method, path, opts)
    opts = opts or {}
    self.seq = self.seq + 1
    local f = {
        hdr = self.base .. ".h" .. self.seq, body = self.base .. ".b" .. self.seq,
        req = self.base .. ".q" .. self.seq, code = self.base .. ".c" .. self.seq,
        cerr = self.base .. ".e" .. self.seq,
    }
    local cmd = { "curl", "-s", "-S", "--path-as-is", "-X", q(method), "-D", q(f.hdr), "-o", q(f.body),
        "-w", q("%{http_code}"), "--max-time", tostring(opts.timeout or 15), "-H", q("Expect:") }
    for k, v in pairs(opts.headers or {}) do
        cmd[#cmd + 1] = "-H"
        -- curl drops "Name:" headers; "Name;" sends the header with an empty value.
        cmd[#cmd + 1] = q(v == "" and (k .. ";") or (k .. ": " .. v))
    end
    if opts.body then
        write(f.req, opts.body)
        cmd[#cmd + 1] = "--data-binary"
        cmd[#cmd + 1] = q("@" .. f.req)
    end
    cmd[#cmd + 1] = q(self.url .. path)
    return table.concat(cmd, " "), f
end

local function collect(f, code)
    local status = tonumber(code) or 0
    local body = read(f.body) or ""
    local headers = parse_headers(read(f.hdr))
    local cerr = read(f.cerr)
    for _, p in pairs(f) do os.remove(p) end
    return status, body, headers, status == 0 and (cerr or "no answer") or nil
end

function Mock:request(method, path, opts)
    local cmd, f = self:_curl(method, path, opts)
    local p = io.popen(cmd .. " 2>" .. q(f.cerr))
    local code = p:read("*a")
    p:close()
    return collect(f, code)
end

-- Starts a request in the background; handle:wait([seconds]) returns what m:request would.
function Mock:spawn(method, path, opts)
    local cmd, f = self:_curl(method, path, opts)
    os.execute("sh -c " .. q(cmd .. " >" .. q(f.code .. ".tmp") .. " 2>" .. q(f.cerr) ..
        "; mv " .. q(f.code .. ".tmp") .. " " .. q(f.code)) .. " >/dev/null 2>&1 &")
    local handle = {}
    function handle.wait(_, seconds)
        local ok = poll(seconds or 20, function() return exists(f.code) end)
        assert(ok, "background request did not finish: " .. method .. " " .. path)
        return collect(f, read(f.code))
    end
    return handle
end

local function decode(status, body, what)
    if status ~= 200 then
        error(string.format("%s: HTTP %s: %s", what, tostring(status), body), 3)
    end
    return cjson.decode(body)
end

function Mock:stats(query)
    local path = "/_mock/stats" .. (query and ("?" .. query) or "")
    local status, body = self:request("GET", path)
    return decode(status, body, "GET " .. path)
end

function Mock:config(t)
    local status, body = self:request("POST", "/_mock/config", {
        headers = { ["Content-Type"] = "application/json" }, body = cjson.encode(t or {}) })
    return decode(status, body, "POST /_mock/config")
end

function Mock:reset()
    local status, body = self:request("POST", "/_mock/reset")
    return decode(status, body, "POST /_mock/reset")
end

-- A fresh access token via the form-field client authentication.
function Mock:token(creds)
    creds = creds or {}
    local function enc(s)
        return (tostring(s):gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", c:byte()) end))
    end
    local status, body = self:request("POST", "/oauth2/token", {
        headers = { ["Content-Type"] = "application/x-www-form-urlencoded" },
        body = "grant_type=client_credentials&client_id=" .. enc(creds.id or "demo-client") ..
            "&client_secret=" .. enc(creds.secret or "demo-secret") })
    return decode(status, body, "POST /oauth2/token").access_token
end

-- Stops the mock with SIGTERM (SIGKILL after 10 s) and returns its exit code.
function Mock:stop()
    if self.stopped or not self.base then return self.exit_code end
    self.stopped = true
    self.pid = self.pid or tonumber(read(self.pidf) or "")
    if self.pid then
        os.execute("kill -TERM " .. self.pid .. " 2>/dev/null")
        if not poll(10, function() return exists(self.rcf) end) then
            os.execute("kill -KILL " .. self.pid .. " 2>/dev/null")
            poll(5, function() return exists(self.rcf) end)
        end
    else
        poll(2, function() return exists(self.rcf) end)
    end
    self.exit_code = tonumber((read(self.rcf) or ""):match("%d+"))
    self.final_out, self.final_err = read(self.out) or "", read(self.err) or ""
    for _, p in ipairs({ self.out, self.err, self.pidf, self.rcf, self.base }) do os.remove(p) end
    return self.exit_code
end

-- Runs the binary to completion (for --help / bad flags): returns exit code, stdout, stderr.
function Mock.run(argv)
    local base = os.tmpname()
    local args = {}
    for _, a in ipairs(argv or {}) do args[#args + 1] = q(a) end
    local cmd = string.format("%s %s >%s 2>%s </dev/null; echo $?", q(bin()), table.concat(args, " "),
        q(base .. ".out"), q(base .. ".err"))
    local p = io.popen(cmd)
    local rc = tonumber((p:read("*a") or ""):match("%d+"))
    p:close()
    local out, err = read(base .. ".out") or "", read(base .. ".err") or ""
    os.remove(base .. ".out")
    os.remove(base .. ".err")
    os.remove(base)
    return rc, out, err
end

return Mock
