# iocp-stages - build, run and test the six stages.   `make help` lists the targets.
#
# On Linux the servers are cross-compiled with mingw-w64 and run under Wine (prefix in
# build/wine); under MSYS2 on Windows they are built with gcc and run natively.

# Recipes source tools/wine-env.sh, which is bash (dash cannot read it).
SHELL  := /bin/bash
BUILD  := build
STAGES := $(patsubst %/server.c,%,$(sort $(wildcard [0-9][0-9]-*/server.c)))
NEWEST := $(lastword $(STAGES))

ifeq ($(OS),Windows_NT)
CC     := gcc
CC32   := i686-w64-mingw32-gcc
CC_HOST ?= gcc
HOST_EXE := .exe
RUNNER :=
else
CC     := x86_64-w64-mingw32-gcc
CC32   := i686-w64-mingw32-gcc
CC_HOST ?= cc
HOST_EXE :=
RUNNER := . tools/wine-env.sh && wine_ready && wine
endif

CFLAGS  := -std=c11 -Wall -Wextra -Werror -g -O2 -D_WIN32_WINNT=0x0600 -D__USE_MINGW_ANSI_STDIO=1 -Icommon
# All a stage links (common/net.h's #pragma says the same to Visual Studio).
LDLIBS  := -lws2_32
# The web pages (common/lab/*.html) as C arrays, made in build/ by tools/embed.c
# (built with the host's compiler) and linked as common/ is.
PAGES   := common/lab/page.html common/lab/lab.html
PAGES_C := $(BUILD)/gen/pages.c
EMBED   := $(BUILD)/tools/embed$(HOST_EXE)
COMMON  := $(wildcard common/*.c) $(PAGES_C)
# Each stage's own text for the pages (NN-name/stage.txt, common/app.h), made
# into build/gen/NN-name/stage.c the same way and linked into that stage alone.
STAGE_C  = $(BUILD)/gen/$(1)/stage.c
STAGE_CS := $(foreach s,$(STAGES),$(call STAGE_C,$(s)))
HEADERS := $(wildcard common/*.h)

# make DEBUG=1 ...: every io_op is checked on post, dequeue and free (common/opcheck.h),
# and posts fail on demand (IOCP_FAULT, common/fault.h, force-included: no stage names
# it); built apart, in build/debug, so both builds can be tested in one run.
DEBUG_BUILD  := build/debug
DEBUG_CFLAGS := -DIOCP_DEBUG -include common/fault.h
ifeq ($(DEBUG),1)
BUILD   := $(DEBUG_BUILD)
CFLAGS  += $(DEBUG_CFLAGS)
endif

SERVERS   := $(foreach s,$(STAGES),$(BUILD)/$(s)/server.exe)
# The debug servers whatever DEBUG says: the fault suite and the shutdown suite's storm run them.
DEBUG_SERVERS := $(foreach s,$(STAGES),$(DEBUG_BUILD)/$(s)/server.exe)
SERVERS32 := $(foreach s,$(STAGES),$(BUILD)/i686/$(s)/server.exe)

.PHONY: all servers check-x86 run diff test help clean deps
all: servers

# Install what a fresh Debian machine lacks (or say what to install), once per make run:
# `deps` what building and `make run` need (mingw-w64, Wine); `deps-test` what the suites
# and `make bench` add; deps-TOOL[+TOOL] only those, asked for by the suite that runs them.
deps:
	@bash tools/deps.sh build
deps-%:
	@bash tools/deps.sh $(subst +, ,$*)

servers: $(SERVERS) $(BUILD)/yours-fixed.exe

# "Your program, fixed": one file, shown whole in NOTES.md (its source: the ```c block after
# the line <!-- program: yours-fixed.c -->), extracted here and built alone: Winsock and the
# C library, nothing from common/. make run STAGE=fixed runs it.
FIXED_CFLAGS := -std=c11 -Wall -Wextra -Werror -g -O2
$(BUILD)/yours-fixed.c: NOTES.md tools/notes-program.awk
	@mkdir -p $(@D)
	awk -v name=yours-fixed.c -f tools/notes-program.awk NOTES.md >$@.tmp || \
	    { echo "NOTES.md: no <!-- program: yours-fixed.c --> block"; rm -f $@.tmp; exit 1; }
	mv $@.tmp $@
$(BUILD)/yours-fixed.exe: $(BUILD)/yours-fixed.c | deps
	$(CC) $(FIXED_CFLAGS) -o $@ $< $(LDLIBS)
$(BUILD)/i686/yours-fixed.exe: $(BUILD)/yours-fixed.c | deps
	@mkdir -p $(@D)
	$(CC32) $(FIXED_CFLAGS) -o $@ $< $(LDLIBS)

$(EMBED): tools/embed.c | deps-cc
	@mkdir -p $(@D)
	$(CC_HOST) -std=c11 -Wall -Wextra -Werror -O2 -o $@ $<

$(PAGES_C): $(PAGES) $(EMBED)
	@mkdir -p $(@D)
	$(EMBED) $@ page_html common/lab/page.html lab_html common/lab/lab.html

$(BUILD)/gen/%/stage.c: %/stage.txt $(EMBED)
	@mkdir -p $(@D)
	$(EMBED) $@ stage_txt $<
.SECONDARY: $(STAGE_CS)

$(BUILD)/%/server.exe: %/server.c $(BUILD)/gen/%/stage.c $(COMMON) $(HEADERS) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -o $@ $< $(call STAGE_C,$*) $(COMMON) $(LDLIBS)

ifneq ($(DEBUG),1)
# (the shorter stem wins over $(BUILD)/%/server.exe for build/debug/NN-name/server.exe)
$(DEBUG_BUILD)/%/server.exe: %/server.c $(BUILD)/gen/%/stage.c $(COMMON) $(HEADERS) | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(DEBUG_CFLAGS) -o $@ $< $(call STAGE_C,$*) $(COMMON) $(LDLIBS)
endif

# 32-bit build: the stages must build warning-free for x86 too (printf formats and casts of
# ULONG_PTR/SIZE_T differ in width). It cannot catch a ULONG completion key: on x86 ULONG_PTR
# is an unsigned long, the same type as ULONG. The 64-bit build's -Werror does (make break-it,
# ulong-key: an incompatible pointer for GetQueuedCompletionStatus's key).
check-x86: $(SERVERS32) $(BUILD)/i686/yours-fixed.exe
$(BUILD)/i686/%/server.exe: %/server.c $(BUILD)/gen/%/stage.c $(COMMON) $(HEADERS) | deps
	@mkdir -p $(@D)
	$(CC32) $(CFLAGS) -o $@ $< $(call STAGE_C,$*) $(COMMON) $(LDLIBS)

# make run [STAGE=01|01-blocking|fixed] [ARGS="-v"]   (fixed: "Your program, fixed")
STAGE ?= $(NEWEST)
RUN_STAGE = $(if $(filter fixed,$(STAGE)),fixed,$(firstword $(filter $(STAGE) $(STAGE)-%,$(STAGES))))
RUN_EXE = $(if $(filter fixed,$(RUN_STAGE)),$(BUILD)/yours-fixed.exe,$(BUILD)/$(RUN_STAGE)/server.exe)
run: servers
	@test -n "$(RUN_STAGE)" || { echo "no stage '$(STAGE)'; stages: $(STAGES) fixed"; exit 2; }
	@echo "Starting $(RUN_STAGE): open the URL it prints in a browser. Ctrl+C stops it."
	@$(RUNNER) $(RUN_EXE) $(ARGS) || \
	    { status=$$?; bash tools/port-hint.sh $(RUN_STAGE) $(ARGS); exit $$status; }

# make diff A=01 B=02: GNU diff, or git's own diff where there is no `diff` (a Windows
# machine with Git but no diffutils).
DIFF ?= diff
diff:
	@a=$(firstword $(filter $(A) $(A)-%,$(STAGES))); b=$(firstword $(filter $(B) $(B)-%,$(STAGES))); \
	test -n "$$a" -a -n "$$b" || { echo "usage: make diff A=01 B=02 (stages: $(STAGES))"; exit 2; }; \
	if command -v $(DIFF) >/dev/null 2>&1; then $(DIFF) -u $$a/server.c $$b/server.c; \
	else git --no-pager diff --no-index --no-color -- $$a/server.c $$b/server.c; fi || true

include tests/unit/rules.mk
include tests/client/rules.mk
include tests/scenario/rules.mk
include tests/browser/rules.mk
include tests/clients/rules.mk
include tests/load/rules.mk
include tests/shutdown/rules.mk
include tests/fault/rules.mk
include tests/log/rules.mk
include tests/notes/rules.mk
include tests/debug/rules.mk
include tests/cmake/rules.mk
include tests/breakit/rules.mk
include tests/fixed/rules.mk
include bench/rules.mk

# Every suite; tools/test-all.sh counts the PASS/FAIL lines and prints "N passed, N failed".
ifeq ($(OS),Windows_NT)
TEST_BUILDS := servers   # MSYS2: check-x86 wants the i686 toolchain too; run it by hand
else
TEST_BUILDS := servers check-x86 test-prebuild
endif

# What the suites would build for themselves, built before tools/test-all.sh runs them side
# by side (two suites making one file at once would race, or run it half written): the
# debug build of `make DEBUG=1` first (the debug scenario pass), so that the debug servers
# the fault and shutdown suites ask for are already newer than their sources; then the
# clients and the self-tests.
.PHONY: test-prebuild test-prebuild-rest
# (after `servers`: the debug servers below share its generated sources, build/gen/)
test-prebuild: servers | deps-test
	@$(MAKE) --no-print-directory -s DEBUG=1 servers $(DEBUG_BUILD)/tests/scenarios
	@$(MAKE) --no-print-directory -s test-prebuild-rest
test-prebuild-rest: $(DEBUG_SERVERS) $(SCENARIOS) $(WIN_CLIENT) $(BUILD)/tests/shutdown-client \
                    $(BUILD)/tests/heap-selftest.exe $(BUILD)/tests/opcheck-selftest.exe \
                    $(BUILD)/unit/test_buffer $(BUILD)/unit/test_http $(BUILD)/fuzz/fuzz_http
# The builds first, as many at once as there are cores (TEST_BUILD_JOBS): some 25 programs.
TEST_BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test: deps-test
	@$(MAKE) --no-print-directory -j$(TEST_BUILD_JOBS) $(TEST_BUILDS)
	@bash tools/test-all.sh

# make test-wine [WINE_SUITES="scenario-test shutdown-test"]: those suites again, with the
# servers under Wine 10 (Debian 13) in a root built once under build/wine10 (as root:
# debootstrap and apt-get; tools/wine10.sh). Not part of `make test`.
WINE_SUITES ?= scenario-test shutdown-test
.PHONY: test-wine
test-wine: servers $(SCENARIOS) $(BUILD)/tests/shutdown-client | deps-curl+wrk+python3
	@bash tools/wine10.sh bash tools/test-all.sh $(WINE_SUITES)

help:
	@echo "make              build every stage: $(BUILD)/NN-name/server.exe"
	@echo "make run [STAGE=01] [ARGS=-v]   start a stage's server (default: $(NEWEST)); STAGE=fixed: NOTES' \"Your program, fixed\""
	@echo "make diff A=01 B=02             the lesson between two stages"
	@echo "make test         every test; ends with 'N passed, N failed'"
	@echo "make test-wine    the scenario and shutdown suites on Wine 10 (a Debian 13 root, built once; root)"
	@echo "make check-x86    build every stage for 32-bit x86 too"
	@echo "make bench        req/s, latency, idle-connection memory of every stage vs a reference: $(BUILD)/bench.md"
	@echo "make DEBUG=1 ...  the same targets with every io_op checked (build/debug)"
	@echo "make opcheck-test the debug guard stops a program on each mistake it is for"
	@echo "make break-it [BREAKIT=NAME]    each lesson's mistake put back in a copy of its stage: caught?"
	@echo "                  NAME is one of (tests/breakit/mutations):"
	@awk '/^\[/ { gsub(/[][]/, ""); n = $$0 } /^stage / { printf "                    %-28s %s\n", n, $$2 }' tests/breakit/mutations
	@echo "make lab [STAGE=01] [PORT=8080]  the lab of the stage running on PORT, headless: what it finds"
	@echo "make lab-picture  docs/lab-03-vs-04.png (README): 03's and 04's four /sleep at once, a real run"
	@echo "make unit-test | fuzz-test | scenario-test | browser-test | clients-test | fault-test   one suite"
	@echo "make load-test | shutdown-test [HEAP_CHECK=1]   wrk per stage; Ctrl+C and idle timeout (05, 06)"
	@echo "                  HEAP_CHECK=1: servers under WINEDEBUG=warn+heap, a heap warning fails"
	@echo "make fault-test   posts that fail (debug build, IOCP_FAULT: common/fault.h): each stage goes on"
	@echo "make log-test     -v with stderr a pipe nobody reads (a paused console): each stage still answers"
	@echo "make fixed-test   \"Your program, fixed\" (NOTES.md): built for x86_64 and i686, run under real clients"
	@echo "make check-notes  NOTES.md's quoted diffs and logs still match the code (tools/check-notes)"
	@echo "make win-client-test   the scenario suite driven by the Windows build of the client (Wine)"
	@echo "make cmake-test   CMakeLists.txt (the Visual Studio path) builds every stage, and each serves"
	@echo "make clean"

clean:
	@if [ -d $(BUILD)/wine ]; then (. tools/wine-env.sh && wine_reset); fi
	rm -rf $(BUILD)
