# The docs as a reader uses them.
#   eval "$(make -s env)"  LUA_PATH and LUA_CPATH for require "cxone.bulk" from any directory, and
#                          PATH for bin/cxone-bulk (and build/cxone-mock), for this checkout
#   make docs-check        spec/docs_check_spec.lua and spec/rockspec_spec.lua: every sh and lua
#                          block of README.md and docs/*.md run against a fresh mock, and the
#                          rockspec installed as README.md says (`make test` runs both too)
DOCS_LUA ?= lua5.4

.PHONY: env docs-check

env:
	@echo "export LUA_PATH='$(abspath lua)/?.lua;$(abspath lua)/?/init.lua;;'"
	@echo "export LUA_CPATH='$(abspath $(BUILD))/?.so;;'"
	@echo 'export PATH="$(abspath bin):$(abspath build):$$PATH"'

# The blocks run under $(DOCS_LUA) with its build, whatever LUA this make was given.
docs-check: mock-bin
	@$(MAKE) --no-print-directory LUA=$(DOCS_LUA) BUILD=build/$(DOCS_LUA) module
	@sh .ci/run-specs $(DOCS_LUA) build/$(DOCS_LUA) $(DOCS_SPECS)
