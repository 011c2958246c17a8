# mk/mock.mk — the mock CXone server, build/cxone-mock (see docs/mock.md).
#   make mock-bin      build it
#   make mock-spec     run the mock's own specs (MOCK_SPECS, mk/spec.mk) against it
#   make mock-bench    wrk benchmark of keep-alive PUTs (needs wrk)
#   make mock-valgrind short run under valgrind --leak-check=full
#   make mock-deps     fails when two files of mock/ depend on each other in a loop

MOCK_BIN    = build/cxone-mock
MOCK_SRCS   = $(sort $(wildcard mock/*.c))
MOCK_OBJS   = $(MOCK_SRCS:mock/%.c=build/mock-obj/%.o)
MOCK_CFLAGS = $(CFLAGS) $(SAN) $(WARN) $(DEFS) $(shell $(PKG_CONFIG) --cflags libmicrohttpd jansson)
MOCK_LIBS   = $(shell $(PKG_CONFIG) --libs libmicrohttpd jansson) -lpthread -lm

.PHONY: mock-bin mock-spec mock-bench mock-valgrind mock-deps
mock-bin: $(MOCK_BIN)

build/mock-obj/%.o: mock/%.c $(wildcard mock/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(MOCK_CFLAGS) -c $< -o $@

$(MOCK_BIN): $(MOCK_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(SAN) -o $@ $^ $(MOCK_LIBS)

mock-spec: $(MOCK_BIN)
	$(LUA) /usr/bin/busted $(MOCK_SPECS)

mock-bench: $(MOCK_BIN)
	sh mock/bench/run.sh

mock-valgrind: $(MOCK_BIN)
	sh mock/bench/valgrind.sh

mock-deps: $(MOCK_BIN)
	sh mock/bench/deps.sh build/mock-obj
