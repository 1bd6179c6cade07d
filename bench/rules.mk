# bench/rules.mk - `make bench`: throughput and idle-connection figures of every stage,
# against a minimal reference server, in one run (bench/run.sh). Not part of `make test`.
#
# Included by the top-level Makefile, which sets BUILD, CC, CFLAGS, LDLIBS, STAGES and the
# targets `servers` and `deps`. Paths are found from this file's own place.
#   $(BUILD)/bench/reference.exe   the reference IOCP hello server (Windows, like the stages)
#   $(BUILD)/bench/idle            the idle-connection client (native Linux, over tests/client)
#   $(BUILD)/bench/06+V/server.exe 06 with bench/variants/V.patch applied to a copy of its
#                                  server.c (06+A+B: A's patch, then B's); never in the stage
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

# 06's I/O path, tried: each variant is 06-shutdown/server.c copied and patched (with fuzz,
# so that an edit elsewhere in 06 does not stop it). A patch that no longer applies is said
# and its variant skipped (run.sh reports it as not built): bench/variants/refresh.py
# writes the patches again from 06 as it is.
BENCH_VARIANTS ?= skip gqcsex skip-gqcsex read skip+read
BENCH_VARIANT_EXES := $(foreach v,$(BENCH_VARIANTS),$(BUILD)/bench/06+$(v)/server.exe)

$(BUILD)/bench/06+%/server.exe: 06-shutdown/server.c $(wildcard $(BENCH_TOP)bench/variants/*.patch) \
		$(call STAGE_C,06-shutdown) $(COMMON) $(HEADERS) | deps
	@mkdir -p $(@D)
	@rm -f $@; cp 06-shutdown/server.c $(@D)/server.c
	@for p in $(subst +, ,$*); do \
	    patch -s -F3 --no-backup-if-mismatch -r - $(@D)/server.c $(BENCH_TOP)bench/variants/$$p.patch \
	        || { echo "bench: bench/variants/$$p.patch no longer applies to 06-shutdown/server.c:" \
	                  "variant 06+$* skipped (python3 bench/variants/refresh.py writes it again)"; exit 0; }; \
	done; \
	echo "$(CC) ... -o $@ $(@D)/server.c"; \
	$(CC) $(CFLAGS) -o $@ $(@D)/server.c $(call STAGE_C,06-shutdown) $(COMMON) $(LDLIBS) -lntdll

.PHONY: bench
ifeq ($(OS),Windows_NT)
bench:
	@echo "make bench runs on Linux only (it drives the servers with wrk and reads /proc)"; exit 2
else
bench: servers $(BUILD)/bench/reference.exe $(BUILD)/bench/idle $(BUILD)/tests/scenarios \
		$(BENCH_VARIANT_EXES) | deps-wrk+curl
	@BUILD_DIR=$(abspath $(BUILD)) BENCH_VARIANTS="$(BENCH_VARIANTS)" \
	    bash $(BENCH_TOP)bench/run.sh $(STAGES)
endif
