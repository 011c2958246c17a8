# Lint: luacheck (Debian lua-check; settings in .luacheckrc) over every Lua file of the project,
# the Redis script of the fleet limiter (src/limiter/gcra.lua) included.
LUACHECK   ?= luacheck
LINT_PATHS ?= lua spec bench bin examples tools src/limiter/gcra.lua

.PHONY: lint check-size
lint: check-size
	@command -v $(LUACHECK) >/dev/null || { echo "lint: $(LUACHECK) not found (apt-get install lua-check, or make deps)" >&2; exit 1; }
	$(LUACHECK) --no-color -q $(LINT_PATHS)

# No file over 600 lines, no function over 60, no include loop (tools/check_layout.lua), in the C
# core, the mock and the Lua modules; tools/size_debts.txt lists the known debts.
CHECK_SIZE_DIRS ?= src mock lua
check-size:
	@$(LUA) tools/check_layout.lua --allow tools/size_debts.txt $(CHECK_SIZE_DIRS)
