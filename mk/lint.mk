# Lint: luacheck (Debian lua-check; settings in .luacheckrc) over every Lua file of the project,
# the Redis script of the fleet limiter (src/limiter/gcra.lua) included.
LUACHECK   ?= luacheck
LINT_PATHS ?= lua spec bench bin examples src/limiter/gcra.lua

.PHONY: lint
lint:
	@command -v $(LUACHECK) >/dev/null || { echo "lint: $(LUACHECK) not found (apt-get install lua-check, or make deps)" >&2; exit 1; }
	$(LUACHECK) --no-color -q $(LINT_PATHS)
