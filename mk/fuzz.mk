# libFuzzer harnesses (fuzz/<target>_fuzz.c, seeds in fuzz/corpus/<target>/).
#   make fuzz          each target for FUZZ_TIME seconds (default 120); new inputs go to
#                      $(BUILD)/fuzz/work-<target>/, crashes to $(BUILD)/fuzz/artifacts/
#   make fuzz-smoke    each target ~10 s over the seed corpus; non-zero exit on any crash
# Needs clang (libFuzzer); FUZZ_CC overrides it.

FUZZ_CC         ?= clang
FUZZ_TIME       ?= 120
FUZZ_SMOKE_TIME ?= 10
FUZZ_DIR         = $(BUILD)/fuzz
FUZZ_FLAGS       = -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                   $(WARN) $(DEFS) $(SRC_INC) $(DEP_CFLAGS)
FUZZ_NAMES       =

# $(1): target name, $(2): the core sources its harness links.
define FUZZ_TARGET
FUZZ_NAMES += $(1)
$(FUZZ_DIR)/$(1): fuzz/$(1)_fuzz.c $(2) $(SRC_HDRS) $(GCRA_H)
	@mkdir -p $$(@D)
	$$(FUZZ_CC) $$(FUZZ_FLAGS) -o $$@ fuzz/$(1)_fuzz.c $(2) $$(DEP_LIBS)
endef

# Adding a target is one line here (plus its harness and seed directory).
$(eval $(call FUZZ_TARGET,retry_after,src/net/backoff.c))
$(eval $(call FUZZ_TARGET,idempotency,src/profile/idempotency.c))
$(eval $(call FUZZ_TARGET,token,src/net/auth.c src/net/auth_discovery.c src/net/discovery.c src/net/http.c src/net/backoff.c src/limiter/limiter.c src/limiter/limiter_rate.c src/limiter/rate_ctl.c src/common/text_fit.c src/common/redact.c src/common/kind.c))
$(eval $(call FUZZ_TARGET,header,src/net/http.c src/net/backoff.c src/common/redact.c))
$(eval $(call FUZZ_TARGET,error_message,src/net/http.c src/net/backoff.c src/common/redact.c))

# $(1): target name, $(2): seconds, $(3): corpus directory that receives new inputs.
# libFuzzer's chatter goes to a log; on failure its tail (with the crash report) is shown.
define FUZZ_RUN
	@mkdir -p $(3) $(FUZZ_DIR)/artifacts
	@echo "fuzz $(1): $(2) s"; \
	if $(FUZZ_DIR)/$(1) -max_total_time=$(2) -print_final_stats=1 \
	     -artifact_prefix=$(FUZZ_DIR)/artifacts/$(1)- $(3) fuzz/corpus/$(1) \
	     > $(FUZZ_DIR)/$(1).log 2>&1; then \
	  grep -a -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' $(FUZZ_DIR)/$(1).log; \
	else \
	  tail -n 60 $(FUZZ_DIR)/$(1).log; echo "fuzz $(1): FAILED (see $(FUZZ_DIR)/$(1).log)"; exit 1; \
	fi

endef

.PHONY: fuzz fuzz-smoke fuzz-build
fuzz-build: $(FUZZ_NAMES:%=$(FUZZ_DIR)/%)

fuzz: fuzz-build
	$(foreach t,$(FUZZ_NAMES),$(call FUZZ_RUN,$(t),$(FUZZ_TIME),$(FUZZ_DIR)/work-$(t)))

# A fresh scratch corpus each time, so the smoke run starts from the committed seeds only.
fuzz-smoke: fuzz-build
	@rm -rf $(FUZZ_DIR)/smoke
	$(foreach t,$(FUZZ_NAMES),$(call FUZZ_RUN,$(t),$(FUZZ_SMOKE_TIME),$(FUZZ_DIR)/smoke/$(t)))
