# Reliability and security hardening (docs/hardening.md).
#   make hostile-bin   build/cxone-hostile, the deliberately broken server the hostile/TLS specs use
#   make sanitize      ASan+UBSan: the whole spec suite against build/asan; then TSan: the C driver
#   make valgrind      a 2,000-task batch with retries and token refreshes under memcheck
# Fuzzers (token, header, error_message) are registered in mk/fuzz.mk.

HOSTILE_BIN  = build/cxone-hostile
HOSTILE_SRCS = hostile/hostile.c hostile/conn.c hostile/modes.c
HOSTILE_LIBS = -lssl -lcrypto -lpthread

.PHONY: hostile-bin
hostile-bin: $(HOSTILE_BIN)

$(HOSTILE_BIN): $(HOSTILE_SRCS) $(wildcard hostile/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(DEFS) -o $@ $(HOSTILE_SRCS) $(HOSTILE_LIBS)

# The spec suite (make spec / make test, and the Lua matrix) runs the hostile, TLS and secrets
# specs: build the server first.
spec matrix-test: hostile-bin

# ---- sanitizers -----------------------------------------------------------------------------
# ASan+UBSan: the core module built into build/asan and the whole spec suite run against it.
# lua5.4 is not instrumented, so it runs through the wrapper build/asan/lua5.4, which preloads
# the ASan runtime (it must be the first DSO) and hostile/asan_noinherit.c (drops LD_PRELOAD again
# so the servers and tools the specs start stay uninstrumented). Specs that start Lua
# subprocesses use the wrapper too ($CXONE_SPEC_LUA, $CXONE_CLI_LUA).
# LeakSanitizer is off (docs/hardening.md): leaks are valgrind's job below, where they are fatal.
# -O2: gcc 12 at -O1 with UBSan raises a false -Wformat-truncation in src/binding/lua_results.c.
ASAN_BUILD     = build/asan
ASAN_SAN       = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_RUNTIME   = $(shell $(CC) -print-file-name=libasan.so)
ASAN_LUA       = $(ASAN_BUILD)/lua5.4
ASAN_NOINHERIT = $(ASAN_BUILD)/asan-noinherit.so
ASAN_ENV       = ASAN_OPTIONS=detect_leaks=0:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1 \
                 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                 CXONE_SPEC_LUA=$(CURDIR)/$(ASAN_LUA) CXONE_CLI_LUA=$(CURDIR)/$(ASAN_LUA)
SANITIZE_SPECS ?= $(filter-out $(PROCESS_SPECS),$(ENGINE_SPECS))

# TSan: a C driver (hostile/tsan_driver.c) linked with the core objects built with -fsanitize=thread.
TSAN_BUILD   = build/tsan
TSAN_CFLAGS  = -O1 -g -fsanitize=thread $(WARN) $(DEFS) $(SRC_INC) $(DEP_CFLAGS)
TSAN_OBJS    = $(CORE_SRCS:src/%.c=$(TSAN_BUILD)/obj/%.o)
TSAN_DRIVER  = $(TSAN_BUILD)/tsan-driver
TSAN_ENV     = TSAN_OPTIONS=halt_on_error=1:exitcode=66:second_deadlock_stack=1

.PHONY: sanitize sanitize-asan sanitize-tsan
# Both halves run even when the first fails, so one report shows every problem.
sanitize:
	@rc=0; $(MAKE) --no-print-directory sanitize-asan || rc=1; \
	$(MAKE) --no-print-directory sanitize-tsan || rc=1; exit $$rc

sanitize-asan: mock-bin hostile-bin $(ASAN_LUA)
	$(MAKE) --no-print-directory LUA=lua5.4 BUILD=$(ASAN_BUILD) OPT="-O2 -g" SAN="$(ASAN_SAN)" module
	$(ASAN_ENV) sh .ci/run-specs $(ASAN_LUA) $(ASAN_BUILD) $(SANITIZE_SPECS)

$(ASAN_NOINHERIT): hostile/asan_noinherit.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(WARN) $(DEFS) -fPIC -shared -o $@ $<

$(ASAN_LUA): $(ASAN_NOINHERIT) mk/hardening.mk
	@test -f "$(ASAN_RUNTIME)" || { echo "sanitize: $(CC) has no libasan.so"; exit 1; }
	@printf '#!/bin/sh\n# lua5.4 with the ASan runtime preloaded (make sanitize)\nLD_PRELOAD="%s %s" exec lua5.4 "$$@"\n' \
	  "$(ASAN_RUNTIME)" "$(CURDIR)/$(ASAN_NOINHERIT)" > $@
	@chmod +x $@

$(TSAN_BUILD)/obj/%.o: src/%.c $(SRC_HDRS)
	@mkdir -p $(@D)
	$(CC) $(TSAN_CFLAGS) -c $< -o $@

$(TSAN_BUILD)/obj/limiter/redis_limiter.o: $(GCRA_H)

$(TSAN_DRIVER): hostile/tsan_driver.c $(TSAN_OBJS)
	$(CC) $(TSAN_CFLAGS) -o $@ hostile/tsan_driver.c $(TSAN_OBJS) $(DEP_LIBS)

sanitize-tsan: $(TSAN_DRIVER) mock-bin
	$(TSAN_ENV) $(TSAN_DRIVER) build/cxone-mock

# ---- valgrind -------------------------------------------------------------------------------
# memcheck over a 2,000-task batch (retries, token refreshes, revocations) through lua5.4: any
# memory error or definite/indirect leak fails. lua5.4 itself is clean under memcheck.
VALGRIND_TASKS ?= 2000
VALGRIND_CMD    = valgrind -q --error-exitcode=1 --leak-check=full \
                  --errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect

.PHONY: valgrind
valgrind: module mock-bin
	LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" \
	  $(VALGRIND_CMD) $(LUA) hostile/valgrind_batch.lua build/cxone-mock $(VALGRIND_TASKS)
