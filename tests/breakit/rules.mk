# tests/breakit/rules.mk - make break-it: each lesson broken on purpose in a copy of its
# stage (tests/breakit/mutations), built apart under build/breakit/, and caught by a test.
#
# Included by the top-level Makefile, which sets BUILD, CC, CC32, CFLAGS,
# COMMON, LDLIBS and PAGES_C (the generated pages, in COMMON: made before a copy
# is built), and STAGE_C (the stage's own text, build/gen/NN-name/stage.c).
# tests/breakit/run.py builds each copy with those flags, so a copy is built as its stage is.
# Then, with no BREAKIT=NAME, the selftests of the harness itself: a mutation whose anchor is
# gone is a FAIL (tests/breakit/selftest.sh), a suite that stops before its end is a FAIL
# (tests/lib-selftest.sh).
BREAKIT_TOP := $(patsubst %tests/breakit/,%,$(dir $(lastword $(MAKEFILE_LIST))))
BREAKIT_ENV  = BUILD_DIR=$(abspath $(BUILD)) BREAKIT_CC="$(CC)" BREAKIT_CC32="$(CC32)" \
               BREAKIT_CFLAGS="$(CFLAGS)" BREAKIT_COMMON="$(COMMON)" BREAKIT_LDLIBS="$(LDLIBS)" \
               BREAKIT_DEBUG_CFLAGS="$(DEBUG_CFLAGS)" \
               BREAKIT_STAGE_C="$(call STAGE_C,%)"

.PHONY: break-it break-it-build break-it-build-debug
# make break-it-build BREAKIT=NAME: only build NAME's copy, without the debug guard, into
# build/breakit/NAME-plain (tools/transcript.sh --mutation NAME runs it under a client).
break-it-build: $(PAGES_C) $(STAGE_CS) | deps
	@$(BREAKIT_ENV) python3 $(BREAKIT_TOP)tests/breakit/run.py --build-only --no-debug $(BREAKIT)

# make break-it-build-debug BREAKIT=NAME: the copy as make break-it builds it (with the debug
# guard when the mutation says `debug 1`), apart, in build/notes/breakit/NAME
# (tools/transcript.sh --mutation NAME --debug: the log of what make break-it sees).
break-it-build-debug: $(PAGES_C) $(STAGE_CS) | deps
	@$(BREAKIT_ENV) BUILD_DIR=$(abspath $(BUILD))/notes python3 $(BREAKIT_TOP)tests/breakit/run.py --build-only $(BREAKIT)

break-it: $(PAGES_C) $(STAGE_CS) $(SCENARIOS) $(BUILD)/tests/shutdown-client \
          | deps deps-curl
	@rc=0; $(BREAKIT_ENV) python3 $(BREAKIT_TOP)tests/breakit/run.py $(BREAKIT) || rc=1; \
	if [ -z "$(BREAKIT)" ]; then \
	    $(BREAKIT_ENV) bash $(BREAKIT_TOP)tests/breakit/selftest.sh || rc=1; \
	    bash $(BREAKIT_TOP)tests/lib-selftest.sh || rc=1; \
	fi; exit $$rc
