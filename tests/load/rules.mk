# tests/load/rules.mk - the load suite: a short wrk run against every stage under Wine.
#
# Included by the top-level Makefile, which sets BUILD, CC (mingw-w64), STAGES and the
# target `servers`; uses $(BUILD)/tests/scenarios from tests/scenario/rules.mk (the
# ledger probe). Paths are found from this file's own place.
#   make load-test                 keep-alive and Connection: close, 3 s each, per stage
#   make load-test HEAP_CHECK=1    the same with Wine's heap warnings on (double frees)
#   make load-test LOAD_SECONDS=10

# "" when included as tests/load/rules.mk from the top, else the path to the top with a '/'.
LOAD_TOP := $(patsubst %tests/load/,%,$(dir $(lastword $(MAKEFILE_LIST))))

# A mingw program that frees a block twice: proves the heap check can fail.
$(BUILD)/tests/heap-selftest.exe: $(LOAD_TOP)tests/load/heap-selftest.c | deps
	@mkdir -p $(@D)
	$(CC) -std=c11 -Wall -Wextra -Werror -O0 -o $@ $<

LOAD_ENV = BUILD_DIR=$(abspath $(BUILD)) SCENARIOS=$(abspath $(SCENARIOS)) \
           HEAP_CHECK=$(HEAP_CHECK) LOAD_SECONDS=$(LOAD_SECONDS)
HEAP_CHECK   ?= 0
LOAD_SECONDS ?= 3

.PHONY: load-test
load-test: servers $(SCENARIOS) $(BUILD)/tests/heap-selftest.exe | deps-wrk+curl+python3
	$(LOAD_ENV) bash $(LOAD_TOP)tests/load/run.sh $(STAGES)
