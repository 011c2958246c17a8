rockspec_format = "3.0"
package = "cxone-bulk"
version = "0.1.0-1"
source = { url = "git+https://example.invalid/cxone-bulk.git", tag = "v0.1.0" }
description = {
  summary = "Bulk-update NICE CXone outbound contact outcomes: rate-limited, idempotent, resumable",
  detailed = [[
A C core (pthread worker pool, token-bucket limiter, libcurl, OAuth2 client credentials,
deterministic Idempotency-Keys) under a thin Lua facade, plus the cxone-bulk operator CLI.]],
  license = "MIT",
}
dependencies = { "lua >= 5.1, < 5.5", "lua-cjson" }
-- libcurl, libuuid, jansson and hiredis are found with pkg-config by the Makefile (Debian keeps
-- curl/curl.h under the multiarch include directory, where LuaRocks' header probe does not look).
external_dependencies = {
  UUID = { header = "uuid/uuid.h" },
  JANSSON = { header = "jansson.h" },
  HIREDIS = { header = "hiredis/hiredis.h" },
}
build = {
  type = "make",
  makefile = "Makefile",
  build_target = "module",
  build_variables = {
    CFLAGS = "$(CFLAGS)",
    LIBFLAG = "$(LIBFLAG)",
    LUA_INCDIR = "$(LUA_INCDIR)",
    LUA = "$(LUA)",
    BUILD = "build/rock",
  },
  install_target = "install",
  install_variables = {
    BUILD = "build/rock",
    INST_LIBDIR = "$(LIBDIR)",
    INST_LUADIR = "$(LUADIR)",
    INST_BINDIR = "$(BINDIR)",
  },
}
