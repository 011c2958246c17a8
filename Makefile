# cxone-bulk — top-level build.
#   make                 build the C core for $(LUA) and the mock server
#   make test            install missing Debian packages, build, run every spec
#   make demo            install, build, start the mock, run a real batch, print the summary
#   make LUA=lua5.1|lua5.2|lua5.3|lua5.4|luajit   build for another Lua ABI
# Each area owns a fragment in mk/.

LUA        ?= lua5.4
BUILD      ?= build/$(LUA)
CC         ?= cc
PKG_CONFIG ?= pkg-config
OPT        ?= -O2 -g
SAN        ?=
CFLAGS     ?= $(OPT)
WARN        = -std=c11 -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
DEFS        = -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE
SRC_INC     = -Isrc
LUA_PC     ?= $(LUA)
LUA_INCDIR ?=
ifeq ($(LUA_INCDIR),)
LUA_CFLAGS ?= $(shell $(PKG_CONFIG) --cflags $(LUA_PC))
else
LUA_CFLAGS ?= -I$(LUA_INCDIR)
endif
LIBFLAG    ?= -shared
DEP_CFLAGS  = $(shell $(PKG_CONFIG) --cflags libcurl uuid jansson hiredis)
DEP_LIBS    = $(shell $(PKG_CONFIG) --libs libcurl uuid jansson hiredis) -lpthread -lm
ALL_CFLAGS  = $(CFLAGS) $(SAN) $(WARN) $(DEFS) $(SRC_INC) -fPIC -fvisibility=hidden $(DEP_CFLAGS)

PREFIX     ?= /usr/local
LUA_VER    ?= $(shell $(LUA) -e 'print(_VERSION:match("%d+%.%d+"))' 2>/dev/null || echo 5.1)
INST_LIBDIR ?= $(PREFIX)/lib/lua/$(LUA_VER)
INST_LUADIR ?= $(PREFIX)/share/lua/$(LUA_VER)
INST_BINDIR ?= $(PREFIX)/bin

# Core sources that do not touch Lua (also linked into C tests, fuzzers, benchmarks), by area
# (README.md, "Build, test, layout"). Every include names its area from src/: "engine/job.h".
COMMON_SRCS  = src/common/kind.c src/common/redact.c src/common/text_fit.c
LIMITER_SRCS = src/limiter/limiter.c src/limiter/limiter_rate.c src/limiter/rate_ctl.c \
               src/limiter/shm_limiter.c src/limiter/limiter_open.c src/limiter/redis_limiter.c \
               src/limiter/redis_url.c
NET_SRCS     = src/net/http.c src/net/backoff.c src/net/auth.c src/net/auth_discovery.c src/net/discovery.c
PROFILE_SRCS = src/profile/idempotency.c src/profile/plain_task.c src/profile/tutorial_request.c \
               src/profile/cxone_request.c src/profile/disposition.c
ENGINE_SRCS  = src/engine/queue.c src/engine/pool.c src/engine/task.c src/engine/attempt.c src/engine/job.c \
               src/engine/ledger.c src/engine/durable.c
CORE_SRCS    = $(COMMON_SRCS) $(LIMITER_SRCS) $(NET_SRCS) $(PROFILE_SRCS) $(ENGINE_SRCS)
CORE_OBJS    = $(CORE_SRCS:src/%.c=$(BUILD)/obj/%.o)
# The Lua binding: the only sources that see a lua_State.
BINDING_SRCS = $(sort $(wildcard src/binding/*.c))
LUA_OBJS     = $(BINDING_SRCS:src/%.c=$(BUILD)/obj/%.o)
SRC_HDRS     = $(wildcard src/*/*.h)
MODULE       = $(BUILD)/cxone/bulk/core.so

.PHONY: all module deps test demo bench clean install sanitize valgrind fuzz
all: module mock-bin

module: $(MODULE)

$(BUILD)/obj/%.o: src/%.c $(SRC_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/obj/binding/%.o: src/binding/%.c $(SRC_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LUA_CFLAGS) -c $< -o $@

# Never link liblua into the module: the host (lua, luajit, nginx) provides its symbols.
$(MODULE): $(CORE_OBJS) $(LUA_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) $(LIBFLAG) -o $@ $^ $(DEP_LIBS) -ldl

# Install missing Debian packages (idempotent; needs root or sudo only when something is missing).
deps:
	@sh .ci/deps

install: module
	install -d $(DESTDIR)$(INST_LIBDIR)/cxone/bulk $(DESTDIR)$(INST_LUADIR)/cxone/bulk $(DESTDIR)$(INST_BINDIR)
	install -m 0755 $(MODULE) $(DESTDIR)$(INST_LIBDIR)/cxone/bulk/core.so
	install -m 0644 lua/cxone/bulk.lua $(DESTDIR)$(INST_LUADIR)/cxone/bulk.lua
	for f in lua/cxone/bulk/*.lua; do [ -e "$$f" ] && install -m 0644 "$$f" $(DESTDIR)$(INST_LUADIR)/cxone/bulk/; done; true
	[ -e bin/cxone-bulk ] && install -m 0755 bin/cxone-bulk $(DESTDIR)$(INST_BINDIR)/cxone-bulk; true
	[ -e build/cxone-mock ] && install -m 0755 build/cxone-mock $(DESTDIR)$(INST_BINDIR)/cxone-mock; true

clean:
	rm -rf build

# Area fragments (mk/mock.mk, mk/ctest.mk, mk/spec.mk, mk/cli.mk, mk/bench.mk, mk/fuzz.mk ...).
-include $(sort $(wildcard mk/*.mk))
