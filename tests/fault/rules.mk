# tests/fault/rules.mk - make fault-test: every "post failed" branch run, on the debug build
# with the fault switch (common/fault.h, IOCP_FAULT), against the stages that post (02-06).
#
# Included by the top-level Makefile, which sets BUILD, DEBUG_BUILD, DEBUG_SERVERS and
# STAGES; uses the scenario client (the ledger probe) and the shutdown client (the storm).
FAULT_TOP := $(patsubst %tests/fault/,%,$(dir $(lastword $(MAKEFILE_LIST))))
FAULT_STAGES := $(filter-out 01-%,$(STAGES))
FAULT_ENV = BUILD_DIR=$(abspath $(BUILD)) DEBUG_BUILD_DIR=$(abspath $(DEBUG_BUILD)) \
            SCENARIOS=$(abspath $(SCENARIOS)) SHUTDOWN_CLIENT=$(abspath $(BUILD)/tests/shutdown-client) \
            HEAP_CHECK=$(HEAP_CHECK)

.PHONY: fault-test
fault-test: $(filter-out $(DEBUG_BUILD)/01-%,$(DEBUG_SERVERS)) $(SCENARIOS) $(BUILD)/tests/shutdown-client | deps-curl
	$(FAULT_ENV) bash $(FAULT_TOP)tests/fault/run.sh $(FAULT_STAGES)
