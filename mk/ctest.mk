# C unit tests for the core primitives (tests/test_*.c).
#   make ctest                                   build into $(BUILD)/tests/ and run every test
#   make ctest SAN="-fsanitize=address,undefined"  (any $(CC)); SAN=-fsanitize=thread works too
#   make ctest-valgrind                          run every test binary under valgrind
# Each test links only the core sources it exercises, compiled straight from src/, so the tests
# never depend on the rest of the core being buildable.

CTEST_DIR   = $(BUILD)/tests
CTEST_UNITS = limiter limiter_rate shm_limiter redis_limiter backoff idempotency discovery disposition redact \
              error_message text_fit ledger gcra_script request fork_guard
CTEST_LIMITER_SRCS = src/limiter/limiter.c src/limiter/limiter_rate.c src/limiter/rate_ctl.c src/common/text_fit.c
CTEST_SRCS_limiter     = $(CTEST_LIMITER_SRCS)
CTEST_SRCS_limiter_rate = $(CTEST_LIMITER_SRCS) src/limiter/shm_limiter.c src/limiter/limiter_open.c src/limiter/redis_limiter.c \
                          src/limiter/redis_url.c src/common/redact.c
CTEST_SRCS_shm_limiter = $(CTEST_LIMITER_SRCS) src/limiter/shm_limiter.c src/limiter/limiter_open.c src/limiter/redis_limiter.c src/limiter/redis_url.c src/common/redact.c
CTEST_SRCS_redis_limiter = $(CTEST_LIMITER_SRCS) src/limiter/shm_limiter.c src/limiter/limiter_open.c src/limiter/redis_limiter.c \
                           src/limiter/redis_url.c src/common/redact.c
CTEST_SRCS_text_fit    = src/common/text_fit.c
CTEST_SRCS_fork_guard  = src/common/fork_guard.c
CTEST_SRCS_backoff     = src/net/backoff.c
CTEST_SRCS_idempotency = src/profile/idempotency.c
CTEST_SRCS_discovery   = src/net/discovery.c
CTEST_SRCS_disposition = src/profile/disposition.c
CTEST_SRCS_request     = src/profile/request.c src/profile/disposition.c src/profile/cxone_request.c \
                         src/profile/idempotency.c src/net/discovery.c
CTEST_SRCS_redact      = src/common/redact.c
CTEST_SRCS_error_message = src/net/http.c src/net/backoff.c src/common/redact.c
# The Redis script alone (src/limiter/gcra.lua, embedded as $(GCRA_H)), against a redis-server it starts.
CTEST_SRCS_gcra_script =
CTEST_SRCS_ledger      = src/engine/ledger.c src/engine/task.c src/common/kind.c src/common/text_fit.c
CTEST_BINS  = $(CTEST_UNITS:%=$(CTEST_DIR)/test_%)
CTEST_CMD   = $(CC) $(CFLAGS) $(SAN) $(WARN) $(DEFS) $(SRC_INC) $(DEP_CFLAGS)
# Fails fast (error exit 99) on any memory error; leaks count as errors.
CTEST_VALGRIND = valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect

.PHONY: ctest ctest-valgrind ctest-flags-check

# The binaries depend on the exact compile command, so switching SAN or CC rebuilds them
# (the stamp is rewritten only when the command changes).
$(CTEST_DIR)/.flags: ctest-flags-check
	@mkdir -p $(@D)
	@echo '$(CTEST_CMD)' | cmp -s - $@ || echo '$(CTEST_CMD)' > $@

define CTEST_RULE
$(CTEST_DIR)/test_$(1): tests/test_$(1).c $(CTEST_SRCS_$(1)) $(wildcard tests/*.h) $(SRC_HDRS) $(GCRA_H) $(CTEST_DIR)/.flags
	@mkdir -p $$(@D)
	$$(CTEST_CMD) -o $$@ tests/test_$(1).c $(CTEST_SRCS_$(1)) $$(DEP_LIBS)
endef
$(foreach u,$(CTEST_UNITS),$(eval $(call CTEST_RULE,$(u))))

# Runs every binary (even after a failure), then prints one combined "N passed, N failed" line.
# A binary that crashes before its own summary line counts as one failure.
# $(1): optional runner prefix (valgrind).
define CTEST_RUN
	@pass=0; fail=0; for t in $(CTEST_BINS); do \
	  echo "== $$t"; \
	  $(1) $$t > $$t.log 2>&1; rc=$$?; cat $$t.log; \
	  line=$$(grep -E '^[0-9]+ passed, [0-9]+ failed$$' $$t.log | tail -n 1); \
	  p=$$(echo "$$line" | cut -d' ' -f1); f=$$(echo "$$line" | cut -d' ' -f3); \
	  [ -n "$$line" ] || { p=0; f=1; echo "$$t: no summary line (exit $$rc)"; }; \
	  [ $$rc -eq 0 ] || [ $$f -gt 0 ] || { f=1; echo "$$t: exit $$rc"; }; \
	  pass=$$((pass + p)); fail=$$((fail + f)); \
	done; \
	echo "$$pass passed, $$fail failed"; [ $$fail -eq 0 ]
endef

ctest: $(CTEST_BINS)
	$(call CTEST_RUN,)

ctest-valgrind: $(CTEST_BINS)
	$(call CTEST_RUN,$(CTEST_VALGRIND))
