# tests/shutdown/rules.mk - the shutdown suite: Ctrl+C, drain deadline, idle timeout.
#
# Included by the top-level Makefile, which sets BUILD, STAGES and the target `servers`;
# uses $(BUILD)/tests/scenarios from tests/scenario/rules.mk (the ledger probe).
#   make shutdown-test              tests/shutdown/run.sh against 01-blocking (its linger),
#                                   05-acceptex and 06-shutdown
#   make shutdown-test HEAP_CHECK=1 the same with Wine's heap warnings on (double frees)
#   make shutdown-test SHUTDOWN_REPEAT=50   ctrl-c-repeat 50 times instead of 10 (races)
#   make shutdown-test STORM_REPEAT=20      ctrl-c-storm 20 times instead of 5
# The clients (idle, slowloris, slow and signalling downloads, a small window, a slow
# upload, a trickle after the answer, half a request) are native C over the test
# clients' library (tests/client), like scenarios.

CC_HOST ?= cc
SHUTDOWN_TOP := $(patsubst %tests/shutdown/,%,$(dir $(lastword $(MAKEFILE_LIST))))

$(BUILD)/tests/shutdown-client: $(SHUTDOWN_TOP)tests/shutdown/client.c $(CLIENT_DEP) \
                                $(SHUTDOWN_TOP)common/http.c $(SHUTDOWN_TOP)common/buffer.c | deps-cc
	@mkdir -p $(@D)
	$(CC_HOST) $(CLIENT_HOST_CFLAGS) -o $@ $< $(CLIENT_SRC) \
	    $(SHUTDOWN_TOP)common/http.c $(SHUTDOWN_TOP)common/buffer.c

HEAP_CHECK ?= 0
SHUTDOWN_REPEAT ?= 10
STORM_REPEAT ?= 5
SHUTDOWN_ENV = BUILD_DIR=$(abspath $(BUILD)) SCENARIOS=$(abspath $(SCENARIOS)) \
               SHUTDOWN_CLIENT=$(abspath $(BUILD)/tests/shutdown-client) HEAP_CHECK=$(HEAP_CHECK) \
               SHUTDOWN_REPEAT=$(SHUTDOWN_REPEAT) STORM_REPEAT=$(STORM_REPEAT) \
               DEBUG_BUILD_DIR=$(abspath $(DEBUG_BUILD))

.PHONY: shutdown-test
# ctrl-c-storm runs 06's debug build (the guard of common/opcheck.h on every io_op).
shutdown-test: servers $(filter %/06-shutdown/server.exe,$(DEBUG_SERVERS)) $(SCENARIOS) \
               $(BUILD)/tests/shutdown-client | deps-curl+python3
	$(SHUTDOWN_ENV) bash $(SHUTDOWN_TOP)tests/shutdown/run.sh 01-blocking 05-acceptex 06-shutdown
