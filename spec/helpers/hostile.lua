-- Spec helper for build/cxone-hostile (hostile/): start a broken server, read what it saw, stop it.
-- Also: self-signed certificates for the TLS spec, the process's RSS, shell quoting.
local U = require "spec.helpers.util"

local H = {}

H.BIN = os.getenv("CXONE_HOSTILE") or "build/cxone-hostile"
H.TOKEN = "hostile-token-0123456789abcdef" -- what the server issues unless told otherwise

local q = U.quote
H.quote = q

local Server = {}
Server.__index = Server

--- Starts the hostile server. opts: mode (required), status, location, token, expires_in,
-- token_body, size, pad (echo modes: filler before the echo), drops (drop-first: requests left
-- unanswered), tls = {cert=, key=}. Every request is logged to a temporary file.
function H.start(opts)
  local f = io.open(H.BIN, "rb")
  assert(f, H.BIN .. " is missing: run `make hostile-bin` first")
  f:close()
  local log = os.tmpname()
  local argv = { H.BIN, "--mode", opts.mode, "--log", log }
  local function add(flag, v) if v ~= nil then argv[#argv + 1] = flag; argv[#argv + 1] = v end end
  add("--status", opts.status)
  add("--location", opts.location)
  add("--token", opts.token)
  add("--expires-in", opts.expires_in)
  add("--token-body", opts.token_body)
  add("--size", opts.size)
  add("--pad", opts.pad)
  add("--drops", opts.drops)
  if opts.tls then
    add("--tls-cert", opts.tls.cert)
    add("--tls-key", opts.tls.key)
  end
  local ok, srv = pcall(H.spawn, argv)
  if not ok then
    os.remove(log)
    error(srv, 0)
  end
  srv.log, srv.mode = log, opts.mode
  srv.url = (opts.tls and "https" or "http") .. "://127.0.0.1:" .. srv.port
  return setmetatable(srv, Server)
end

--- Starts any server that prints its port as the first stdout line (cxone-hostile, cxone-mock).
-- Returns {fh=, pid=, port=}; stop it with H.stop(srv) (Server:stop for hostile servers).
function H.spawn(argv)
  local parts = {}
  for i, a in ipairs(argv) do parts[i] = q(a) end
  -- `echo $$` prints the shell's pid; exec keeps it for the server, so we can signal it.
  local fh = assert(io.popen("echo $$; exec " .. table.concat(parts, " ") .. " 2>/dev/null", "r"))
  local pid = tonumber(fh:read("*l"))
  local port = tonumber(fh:read("*l") or "")
  if not port then
    fh:close()
    error(argv[1] .. " did not start")
  end
  return { fh = fh, pid = pid, port = port }
end

function H.stop(srv)
  if srv.fh then
    os.execute("kill " .. srv.pid .. " 2>/dev/null")
    srv.fh:close() -- waits for the server to exit
    srv.fh = nil
  end
end

--- The mock CXone server with extra flags: {url=, port=, pid=}; stop with H.stop.
function H.mock(flags)
  local argv = { os.getenv("CXONE_MOCK") or "build/cxone-mock", "--quiet" }
  for _, f in ipairs(flags or {}) do argv[#argv + 1] = f end
  local srv = H.spawn(argv)
  srv.url = "http://127.0.0.1:" .. srv.port
  return srv
end

--- The requests seen so far: array of {method=, path=, auth="bearer"|"basic"|"none"}.
function Server:requests()
  local out = {}
  local fh = io.open(self.log, "rb")
  if not fh then return out end
  for line in fh:lines() do
    local m, p, a = line:match("^(%S+) (%S+) auth=(%S+)$")
    if m then out[#out + 1] = { method = m, path = p, auth = a } end
  end
  fh:close()
  return out
end

function Server:stop()
  if self.fh then
    H.stop(self)
    os.remove(self.log)
  end
end

--- Resident set size of this process in KiB (Linux /proc).
function H.rss_kb()
  local fh = assert(io.open("/proc/self/status", "rb"))
  local s = fh:read("*a")
  fh:close()
  return tonumber(s:match("VmRSS:%s*(%d+)"))
end

--- A fresh temporary directory (removed by H.rmdir).
function H.tmpdir() return U.tmpdir("hostile") end
H.rmdir = U.rmdir

--- Writes a self-signed certificate into dir: {cert=, key=}. It names localhost and 127.0.0.1,
-- or only `cn` when another name is given (to test host name checks).
function H.self_signed(dir, cn)
  local cert, key = dir .. "/cert.pem", dir .. "/key.pem"
  local cmd = ("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2"
    .. " -subj %s -addext %s -keyout %s -out %s >/dev/null 2>&1"):format(
      q("/CN=" .. (cn or "localhost")), q("subjectAltName=" .. (cn and cn ~= "localhost" and "DNS:" .. cn or "DNS:localhost,IP:127.0.0.1")), q(key), q(cert))
  local ok = os.execute(cmd)
  assert(ok == true or ok == 0, "openssl could not create a certificate (is the openssl package installed?)")
  return { cert = cert, key = key }
end

--- Reads a whole file (nil when missing).
H.slurp = U.read_file

return H
