-- luacheck configuration (Debian package lua-check). `make lint` (mk/lint.mk) checks every Lua
-- file of the project: lua/, spec/, bench/, bin/ and examples/.
std = "max"              -- code runs on Lua 5.1-5.4 and LuaJIT
codes = true
max_line_length = false  -- long test names and command lines read better unwrapped
include_files = { "**/*.lua", "bin/cxone-bulk" }
exclude_files = { "build/**" }

files["spec/**/*_spec.lua"] = { std = "+busted" }

-- wrk's scripting API: wrk calls these globals and provides `wrk` and the thread id.
files["bench/wrk_put.lua"] = {
  globals = { "setup", "init", "request", "response", "done", "not_ok", "tid" },
  read_globals = { "wrk" },
  unused_args = false, -- the callbacks keep wrk's signatures
}

-- OpenResty provides `ngx`.
files["examples/nginx/**/*.lua"] = { globals = { "ngx" } }  -- ngx.status, ngx.header are set
files["spec/nginx_spec.lua"] = { read_globals = { "ngx" } }

-- The fleet limiter's script runs inside Redis (src/limiter/gcra.lua): Lua 5.1 with Redis's
-- globals (`redis`, the command's KEYS and ARGV) and nothing else.
files["src/limiter/gcra.lua"] = { std = "lua51", read_globals = { "redis", "KEYS", "ARGV" } }
