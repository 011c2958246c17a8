# mk/lua-matrix.mk — one C source tree, every Lua ABI (see docs/portability.md).
#   make matrix-build   build build/<lua>/cxone/bulk/core.so for lua5.1 lua5.2 lua5.3 lua5.4 luajit
#   make matrix-smoke   lua5.2 and lua5.3: build, then spec/lua_compat_spec.lua
#   make matrix-test    the whole spec suite under lua5.1 and luajit (lua5.4 is `make spec`)
# LuaJIT is OpenResty's fork as Debian packages it (luajit2 + libluajit2-5.1-dev, pkg-config
# name `luajit`): the LuaJIT that Debian's nginx Lua module links.

MATRIX_LUAS       ?= lua5.1 lua5.2 lua5.3 lua5.4 luajit
MATRIX_SMOKE_LUAS ?= lua5.2 lua5.3
MATRIX_FULL_LUAS  ?= lua5.1 luajit
# Every spec but the mock's own, the docs' and the slow ones, and those about processes and
# hosts (PROCESS_SPECS in mk/spec.mk: their children run the same code whatever runs busted).
MATRIX_SPECS      ?= $(filter-out $(PROCESS_SPECS),$(ENGINE_SPECS))

.PHONY: matrix-build matrix-smoke matrix-test

matrix-build:
	@for l in $(MATRIX_LUAS); do \
	  echo "== $$l"; \
	  $(MAKE) --no-print-directory LUA=$$l BUILD=build/$$l module || exit 1; \
	done
	@for l in $(MATRIX_LUAS); do \
	  printf '%-8s ' $$l; \
	  LUA_PATH="lua/?.lua;;" LUA_CPATH="build/$$l/?.so;;" $$l -e \
	    'local b = require "cxone.bulk"; print((jit and jit.version or _VERSION) .. " loads build/'$$l'/cxone/bulk/core.so, cxone.bulk " .. b._VERSION)' \
	    || exit 1; \
	done

matrix-smoke: mock-bin
	@for l in $(MATRIX_SMOKE_LUAS); do \
	  $(MAKE) --no-print-directory LUA=$$l BUILD=build/$$l module || exit 1; \
	  sh .ci/run-specs $$l build/$$l spec/lua_compat_spec.lua || exit 1; \
	done

# Runs every interpreter even when one fails, then fails if any did.
matrix-test: mock-bin
	@rc=0; for l in $(MATRIX_FULL_LUAS); do \
	  $(MAKE) --no-print-directory LUA=$$l BUILD=build/$$l module || exit 1; \
	  sh .ci/run-specs $$l build/$$l $(MATRIX_SPECS) || rc=1; \
	done; exit $$rc

# The LuaJIT build nginx loads (spec/nginx_spec.lua and spec/shared_limit_spec.lua run it first).
.PHONY: luajit-module
luajit-module:
	@$(MAKE) --no-print-directory LUA=luajit BUILD=build/luajit module

# The rockspec under luarocks for every ABI, into a throwaway tree (no network: --deps-mode=none).
# Debian keeps curl/curl.h under the multiarch include dir, which luarocks does not search.
MATRIX_ROCK_TREE   ?= build/rock-tree
MATRIX_CURL_INCDIR ?= $(firstword $(foreach d,/usr/include /usr/include/$(shell $(CC) -print-multiarch 2>/dev/null),$(if $(wildcard $(d)/curl/curl.h),$(d))))
.PHONY: matrix-rock
matrix-rock:
	@for v in 5.1 5.2 5.3 5.4 jit; do \
	  if [ $$v = jit ]; then lv=5.1; lua=luajit; inc="LUA_INCDIR=$$(pkg-config --cflags-only-I luajit | sed "s/^ *-I//; s/ *$$//")"; \
	  else lv=$$v; lua=lua$$v; inc=; fi; \
	  rm -rf build/rock; \
	  echo "== luarocks make for $$lua"; \
	  luarocks --lua-version=$$lv make --deps-mode=none --tree $(MATRIX_ROCK_TREE)/$$v \
	    rockspec/cxone-bulk-0.1.0-1.rockspec CURL_INCDIR=$(MATRIX_CURL_INCDIR) $$inc \
	    >$(MATRIX_ROCK_TREE).$$v.log 2>&1 \
	    || { tail -20 $(MATRIX_ROCK_TREE).$$v.log; exit 1; }; \
	  LUA_PATH="$(MATRIX_ROCK_TREE)/$$v/share/lua/$$lv/?.lua;;" LUA_CPATH="$(MATRIX_ROCK_TREE)/$$v/lib/lua/$$lv/?.so;;" \
	    $$lua -e 'local b = require "cxone.bulk"; print("   " .. (jit and jit.version or _VERSION) .. " loads the installed rock, cxone.bulk " .. b._VERSION)' || exit 1; \
	done
