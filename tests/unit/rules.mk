# tests/unit/rules.mk - unit tests and the fuzz target for common/, built natively.
#
# Included by the top-level Makefile, which sets BUILD (the build directory). Paths are
# found from this file's own place, so it works whatever directory make runs in.
#   make unit-test                  both suites under ASan+UBSan, one PASS/FAIL line a case
#   make fuzz-test FUZZ_SECONDS=60  libFuzzer on http_frame() for a bounded time

CC_HOST      ?= cc
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 30

# "" when included as tests/unit/rules.mk from the top, else the path to the top with a '/'.
UNIT_TOP := $(patsubst %tests/unit/,%,$(dir $(lastword $(MAKEFILE_LIST))))
UNIT_SANITIZE := -fsanitize=address,undefined -fno-sanitize-recover=all
UNIT_CFLAGS := -std=c11 -Wall -Wextra -Werror -g $(UNIT_SANITIZE) -I$(UNIT_TOP)common
UNIT_BUFFER := $(UNIT_TOP)common/buffer.c $(UNIT_TOP)common/buffer.h
UNIT_HTTP := $(UNIT_BUFFER) $(UNIT_TOP)common/http.c $(UNIT_TOP)common/http.h
UNIT_CHECK := $(UNIT_TOP)tests/unit/check.h
FUZZ_CORPUS := $(UNIT_TOP)tests/fuzz/corpus

$(BUILD)/unit/test_buffer: $(UNIT_TOP)tests/unit/test_buffer.c $(UNIT_CHECK) $(UNIT_BUFFER) | deps-cc
	@mkdir -p $(@D)
	$(CC_HOST) $(UNIT_CFLAGS) -o $@ $(filter %.c,$^)

$(BUILD)/unit/test_http: $(UNIT_TOP)tests/unit/test_http.c $(UNIT_CHECK) $(UNIT_HTTP) | deps-cc
	@mkdir -p $(@D)
	$(CC_HOST) $(UNIT_CFLAGS) -o $@ $(filter %.c,$^)

$(BUILD)/fuzz/fuzz_http: $(UNIT_TOP)tests/fuzz/fuzz_http.c $(UNIT_HTTP) | deps-clang+libfuzzer
	@mkdir -p $(@D)
	$(FUZZ_CC) -std=c11 -Wall -Wextra -Werror -g -O1 -fsanitize=fuzzer $(UNIT_SANITIZE) \
	    -I$(UNIT_TOP)common -o $@ $(filter %.c,$^)

# Every suite runs even when one fails; the exit status says whether any did. A suite
# that dies (a sanitizer report, a crash) has no line for the case it died in, so it
# gets one here: the sanitizers exit with 99 to tell that apart from failed checks (1).
.PHONY: unit-test
unit-test: $(BUILD)/unit/test_buffer $(BUILD)/unit/test_http
	@failed=0; \
	for suite in $^; do \
	    ASAN_OPTIONS="exitcode=99:$$ASAN_OPTIONS" \
	    UBSAN_OPTIONS="exitcode=99:print_stacktrace=1:$$UBSAN_OPTIONS" $$suite; \
	    status=$$?; \
	    if [ $$status -gt 1 ]; then \
	        echo "FAIL unit/$$(basename $$suite): crash or sanitizer report," \
	             "exit status $$status (see stderr)"; \
	    fi; \
	    [ $$status -eq 0 ] || failed=1; \
	done; \
	exit $$failed

# The fuzzer adds what it finds to $(BUILD)/fuzz/corpus (a copy: the seeds in the tree
# stay as they are) and writes a failing input to $(BUILD)/fuzz/crashes/. The outer
# timeout only guards against a fuzzer that does not stop at -max_total_time.
.PHONY: fuzz-test
fuzz-test: $(BUILD)/fuzz/fuzz_http
	@mkdir -p $(BUILD)/fuzz/corpus
	@rm -rf $(BUILD)/fuzz/crashes && mkdir -p $(BUILD)/fuzz/crashes
	@cp $(FUZZ_CORPUS)/* $(BUILD)/fuzz/corpus/
	@start=$$(date +%s); \
	timeout $$(($(FUZZ_SECONDS) + 60)) $< -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
	    -timeout=10 -print_final_stats=1 -dict=$(UNIT_TOP)tests/fuzz/http.dict \
	    -artifact_prefix=$(BUILD)/fuzz/crashes/ $(BUILD)/fuzz/corpus >$(BUILD)/fuzz/log.txt 2>&1; \
	status=$$?; seconds=$$(($$(date +%s) - start)); \
	runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(BUILD)/fuzz/log.txt); \
	crash=$$(ls $(BUILD)/fuzz/crashes | head -n 1); \
	if [ $$status -eq 0 ] && [ -z "$$crash" ]; then \
	    echo "PASS fuzz/http ($$runs runs in $$seconds s)"; \
	elif [ -n "$$crash" ]; then \
	    tail -n 30 $(BUILD)/fuzz/log.txt; \
	    echo "FAIL fuzz/http: $(BUILD)/fuzz/crashes/$$crash"; exit 1; \
	else \
	    tail -n 30 $(BUILD)/fuzz/log.txt; \
	    echo "FAIL fuzz/http: exit status $$status, no crash file ($(BUILD)/fuzz/log.txt)"; \
	    exit 1; \
	fi
