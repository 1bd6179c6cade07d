# tests/fixed/rules.mk - make fixed-test: "Your program, fixed" (NOTES.md) built for x86_64
# and i686 with -Werror, then run under Wine against real clients (tests/fixed/run.sh).
#
# Included by the top-level Makefile, which sets BUILD, CC, CC32 and the rule that extracts
# $(BUILD)/yours-fixed.c from NOTES.md.
#   make fixed-test [FIXED_ONLY="reset fin-mid"]
FIXED_TOP := $(patsubst %tests/fixed/,%,$(dir $(lastword $(MAKEFILE_LIST))))

.PHONY: fixed-test
fixed-test: $(BUILD)/yours-fixed.c | deps deps-python3
	BUILD_DIR=$(abspath $(BUILD)) FIXED_CC="$(CC)" FIXED_CC32="$(CC32)" \
	    bash $(FIXED_TOP)tests/fixed/run.sh
