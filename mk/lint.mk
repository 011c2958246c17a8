# Lint: luacheck (Debian lua-check; settings in .luacheckrc) over the Lua that is not the library.
# lua/ is configured in .luacheckrc but not listed yet (`luacheck lua` shows what is left).
LUACHECK   ?= luacheck
LINT_PATHS ?= spec bench bin examples

.PHONY: lint
lint:
	@command -v $(LUACHECK) >/dev/null || { echo "lint: $(LUACHECK) not found (apt-get install lua-check, or make deps)" >&2; exit 1; }
	$(LUACHECK) --no-color -q $(LINT_PATHS)
