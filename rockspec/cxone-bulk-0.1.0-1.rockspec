rockspec_format = "3.0"
package = "cxone-bulk"
version = "0.1.0-1"
-- There is no public repository or release archive: this rockspec builds the source tree it sits
-- in, with `luarocks make` run from the root of that tree (README.md, "Build, test, layout"). The
-- URL says just that ("this directory"); `luarocks build` and `install`, which download a
-- source, cannot use it.
source = { url = "file://." }
description = {
  summary = "Bulk-update NICE CXone outbound contact outcomes: rate-limited, idempotent, resumable",
  detailed = [[
A C core (pthread worker pool, token-bucket limiter, libcurl, OAuth2 client credentials,
deterministic Idempotency-Keys) under a thin Lua facade, plus the cxone-bulk operator CLI.]],
  license = "MIT",
}
dependencies = { "lua >= 5.1, < 5.5", "lua-cjson" }
-- libcurl, libuuid, nettle, jansson and hiredis are found with pkg-config by the Makefile (Debian keeps
-- curl/curl.h under the multiarch include directory, where LuaRocks' header probe does not look).
external_dependencies = {
  -- `luarocks make` builds the current directory, and it removes an installed cxone-bulk of this
  -- version before it builds: run from anywhere but the source root, it would fail only after
  -- that. This check is one LuaRocks makes before removing anything (the header directories
  -- are absolute, so the path climbs to / and back into the current directory; Linux's
  -- /proc/self/cwd is that directory): outside the tree the command stops here, naming it.
  RUN_FROM_THE_CXONE_BULK_SOURCE_ROOT = { header = "../../../../../../proc/self/cwd/src/binding/lua_core.c" },
  UUID = { header = "uuid/uuid.h" },
  NETTLE = { header = "nettle/sha1.h" },
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
