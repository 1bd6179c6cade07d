# tests/scenario/rules.mk - the end-to-end tests, against the servers running under Wine.
#
# Included by the top-level Makefile, which sets BUILD, STAGES (the stage directories that
# exist) and the target `servers`. Paths are found from this file's own place.
#   make scenario-test   tests/scenario/run.sh: the scenario suite against every stage
#   make browser-test    tests/browser/run.sh: headless Chromium loads every stage's page
# The scenario client is native C (POSIX sockets), built with the host compiler.

CC_HOST ?= cc

# "" when included as tests/scenario/rules.mk from the top, else the path to the top with a '/'.
SCENARIO_TOP := $(patsubst %tests/scenario/,%,$(dir $(lastword $(MAKEFILE_LIST))))
SCENARIO_SRC := $(addprefix $(SCENARIO_TOP),tests/scenario/scenarios.c common/http.c common/buffer.c)

$(BUILD)/tests/scenarios: $(SCENARIO_SRC) $(SCENARIO_TOP)common/http.h $(SCENARIO_TOP)common/buffer.h
	@mkdir -p $(@D)
	$(CC_HOST) -std=c11 -O2 -g -Wall -Wextra -Werror -I$(SCENARIO_TOP)common -o $@ $(SCENARIO_SRC)

# The scripts find the servers and the client through these.
SCENARIO_ENV = BUILD_DIR=$(abspath $(BUILD)) SCENARIOS=$(abspath $(BUILD)/tests/scenarios)

.PHONY: scenario-test browser-test
scenario-test: servers $(BUILD)/tests/scenarios
	$(SCENARIO_ENV) bash $(SCENARIO_TOP)tests/scenario/run.sh $(STAGES)

browser-test: servers $(BUILD)/tests/scenarios
	$(SCENARIO_ENV) bash $(SCENARIO_TOP)tests/browser/run.sh $(STAGES)
