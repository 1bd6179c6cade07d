# tests/clients/rules.mk - the clients people use (ab -k, curl --http1.0, wget, Python's
# http.client) against every stage: tests/clients/run.sh.
#
# Included by the top-level Makefile, which sets BUILD, STAGES and the target `servers`;
# uses $(SCENARIOS) (the ledger probe) and SCENARIO_ENV from tests/scenario/rules.mk.
#   make clients-test
CLIENTS_TOP := $(patsubst %tests/clients/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: clients-test
clients-test: servers $(SCENARIOS) | deps-ab+wget+curl+python3
	$(SCENARIO_ENV) bash $(CLIENTS_TOP)tests/clients/run.sh $(STAGES)
