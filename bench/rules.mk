# bench/rules.mk - `make bench`: throughput and idle-connection figures of every stage,
# against a minimal reference server, in one run (bench/run.sh). Not part of `make test`.
#
# Included by the top-level Makefile, which sets BUILD, CC, CFLAGS, LDLIBS, STAGES and the
# targets `servers` and `deps`. Paths are found from this file's own place.
#   $(BUILD)/bench/reference.exe   the reference IOCP hello server (Windows, like the stages)
#   $(BUILD)/bench/idle            the idle-connection client (native Linux, over tests/client)
# Writes $(BUILD)/bench.md (the table) and $(BUILD)/bench.svg (req/s per server).

CC_HOST ?= cc

# "" when included as bench/rules.mk from the top, else the path to the top with a '/'.
BENCH_TOP := $(patsubst %bench/,%,$(dir $(lastword $(MAKEFILE_LIST))))

$(BUILD)/bench/reference.exe: $(BENCH_TOP)bench/reference.c | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/bench/idle: $(BENCH_TOP)bench/idle.c $(CLIENT_DEP) | deps-cc
	@mkdir -p $(@D)
	$(CC_HOST) $(CLIENT_HOST_CFLAGS) -o $@ $< $(CLIENT_SRC)

.PHONY: bench
ifeq ($(OS),Windows_NT)
bench:
	@echo "make bench runs on Linux only (it drives the servers with wrk and reads /proc)"; exit 2
else
bench: servers $(BUILD)/bench/reference.exe $(BUILD)/bench/idle $(BUILD)/tests/scenarios | deps-wrk+curl
	@BUILD_DIR=$(abspath $(BUILD)) bash $(BENCH_TOP)bench/run.sh $(STAGES)
endif
