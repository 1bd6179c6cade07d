# tests/scenario/rules.mk - the end-to-end tests, against the servers.
#
# Included by the top-level Makefile, which sets BUILD, STAGES (the stage directories that
# exist), CC and CFLAGS (the Windows compiler) and the target `servers`. Paths are found
# from this file's own place.
#   make scenario-test     tests/scenario/run.sh: the scenario suite against every stage
#   make win-client-test   (Linux) the same suite driven by the Windows build of the client,
#                          run under Wine, against WIN_CLIENT_STAGES: it works as a Windows
#                          program. Lines "PASS win-client/03-recv-send/keep-alive-100".
# The scenario client is one portable C source over the test clients' library (tests/client,
# tests/client/rules.mk): on Linux built natively with the host compiler and, for
# win-client-test, with mingw-w64; under MSYS2 it is built with gcc as a Windows program,
# and scenario-test uses it.

# "" when included as tests/scenario/rules.mk from the top, else the path to the top with a '/'.
SCENARIO_TOP := $(patsubst %tests/scenario/,%,$(dir $(lastword $(MAKEFILE_LIST))))
SCENARIO_SRC := $(addprefix $(SCENARIO_TOP),tests/scenario/scenarios.c common/http.c common/buffer.c) $(CLIENT_SRC)
SCENARIO_DEP := $(SCENARIO_SRC) $(CLIENT_DEP) $(SCENARIO_TOP)common/buffer.h
SCENARIO_WIN := -std=c11 -O2 -g -Wall -Wextra -Werror -D_WIN32_WINNT=0x0600 -D__USE_MINGW_ANSI_STDIO=1

ifeq ($(OS),Windows_NT)
CC_HOST   ?= gcc
SCENARIOS := $(BUILD)/tests/scenarios.exe
$(SCENARIOS): $(SCENARIO_DEP)
	@mkdir -p $(@D)
	$(CC_HOST) $(SCENARIO_WIN) $(CLIENT_INC) -o $@ $(SCENARIO_SRC) -lws2_32
else
CC_HOST   ?= cc
SCENARIOS := $(BUILD)/tests/scenarios
$(SCENARIOS): $(SCENARIO_DEP) | deps-cc
	@mkdir -p $(@D)
	$(CC_HOST) $(CLIENT_HOST_CFLAGS) -o $@ $(SCENARIO_SRC)
endif

# The same client as a Windows program, from Linux (mingw-w64).
WIN_CLIENT := $(BUILD)/tests/win/scenarios.exe
$(WIN_CLIENT): $(SCENARIO_DEP)
	@mkdir -p $(@D)
	$(CC) $(SCENARIO_WIN) $(CLIENT_INC) -o $@ $(SCENARIO_SRC) -lws2_32
# Which stages win-client-test drives: one with a single worker, one with everything.
WIN_CLIENT_STAGES ?= 03-recv-send 06-shutdown

# The scripts find the servers and the client through these.
SCENARIO_ENV = BUILD_DIR=$(abspath $(BUILD)) SCENARIOS=$(abspath $(SCENARIOS))

.PHONY: scenario-test win-client-test
scenario-test: servers $(SCENARIOS) | deps-python3
	$(SCENARIO_ENV) bash $(SCENARIO_TOP)tests/scenario/run.sh $(STAGES)

ifeq ($(OS),Windows_NT)
win-client-test:
	@echo "SKIP win-client-test: on Windows scenario-test already runs the client as a Windows program"
else
win-client-test: servers $(WIN_CLIENT) | deps-python3
	BUILD_DIR=$(abspath $(BUILD)) SCENARIOS=$(abspath $(WIN_CLIENT)) RESULT_PREFIX=win-client/ \
	LOG_PREFIX=win-client- bash $(SCENARIO_TOP)tests/scenario/run.sh $(filter $(WIN_CLIENT_STAGES),$(STAGES))
endif
