# Specs: busted against the mock over loopback. `make test` is the README's test command.
BUSTED      ?= /usr/bin/busted
SPEC_ENV     = LUA_PATH="lua/?.lua;lua/?/init.lua;./?.lua;;" LUA_CPATH="$(BUILD)/?.so;;" CXONE_MOCK=build/cxone-mock
SPEC_FILES  ?= spec
# Specs of the mock server itself (C, not the module): they say nothing about a Lua ABI or the
# module's memory safety, so the matrix and sanitizer runs leave them to `make test`.
MOCK_SPECS   = spec/mock_spec.lua spec/mock_cxone_spec.lua spec/mock_values_spec.lua
# What a reader runs (the docs' blocks, the rockspec) runs under lua5.4 with its build, whatever
# interpreter runs busted: these say nothing about another ABI or a sanitized module.
DOCS_SPECS   = spec/docs_check_spec.lua spec/rockspec_spec.lua
# Specs that measure behaviour over a minute of wall-clock time (the adaptive rate against a
# tenant limit): `make test` runs them once, on Lua 5.4 (their Lua side is the same on every
# ABI); the 5.1/LuaJIT matrix and the sanitizer runs leave them out (ENGINE_SPECS).
SLOW_SPECS   = spec/adaptive_rate_spec.lua
# Specs whose subject is processes and hosts: their children run lua5.4 with the plain build, or
# nginx with the LuaJIT one, or a browser or promtool, whatever interpreter runs busted; the
# 5.1/LuaJIT matrix and the sanitizer runs would only repeat them (`make test` runs them).
PROCESS_SPECS = spec/shared_limit_spec.lua spec/redis_limit_spec.lua spec/slot_per_request_spec.lua \
               spec/nginx_spec.lua spec/nginx_resume_spec.lua spec/nginx_journal_spec.lua spec/nginx_control_spec.lua \
               spec/spec_runner_spec.lua spec/report_spec.lua
ENGINE_SPECS = $(filter-out $(MOCK_SPECS) $(DOCS_SPECS) $(SLOW_SPECS),$(sort $(wildcard spec/*_spec.lua)))
SPEC_LUAS   ?= lua5.4

.PHONY: spec spec-one test

# Runs every spec file under one interpreter; prints a closing "N passed, N failed, N skipped"
# line. A skipped spec fails the run unless SPEC_ALLOW_SKIP=1 (.ci/run-specs).
spec: module mock-bin
	@sh .ci/run-specs "$(LUA)" "$(BUILD)" $(SPEC_FILES)

# The README's test command: packages, lint, build (the module nginx loads too: the nginx specs
# run on LuaJIT), C unit tests, every spec on Lua 5.4, and the smoke spec on 5.2/5.3. The whole
# suite on 5.1 and LuaJIT is `make matrix-test` (CI runs it).
test: deps
	$(MAKE) lint
	$(MAKE) all
	$(MAKE) luajit-module
	$(MAKE) ctest
	@for l in $(SPEC_LUAS); do $(MAKE) LUA=$$l module spec || exit 1; done
	$(MAKE) matrix-smoke
