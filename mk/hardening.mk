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

# The spec suite (make spec / make test) runs the hostile and TLS specs: build the server first.
spec: hostile-bin
