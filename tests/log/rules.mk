# tests/log/rules.mk - make log-test: the log never stops a server (tests/log/run.sh).
#
# Included by the top-level Makefile, which sets BUILD, STAGES and the target `servers`.
#   make log-test                    every stage, -v, its stderr a pipe nobody reads
#   make log-test LOG_REQUESTS=20000 more keep-alive requests than the default 5000
LOGTEST_TOP := $(patsubst %tests/log/,%,$(dir $(lastword $(MAKEFILE_LIST))))
LOG_REQUESTS ?= 5000

.PHONY: log-test
log-test: servers | deps-python3
	BUILD_DIR=$(abspath $(BUILD)) LOG_REQUESTS=$(LOG_REQUESTS) \
	    bash $(LOGTEST_TOP)tests/log/run.sh $(STAGES)
