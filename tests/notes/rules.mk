# tests/notes/rules.mk - NOTES.md checked against the code (issue 7).
#
# Included by the top-level Makefile, which sets BUILD and the target `servers`.
#   make check-notes   tools/check-notes: every ```diff hunk quoted in NOTES.md is in the real
#                      diff of its two stages, every ```text transcript is in a fresh run of the
#                      command its marker names (tools/transcript.sh); then tests/notes/selftest.sh
#                      shows a changed hunk line and transcript line are caught.
# Both print PASS/FAIL lines for tools/test-all.sh.

# "" when included from the top, else the path to the top with a '/'.
NOTES_TOP := $(patsubst %tests/notes/,%,$(dir $(lastword $(MAKEFILE_LIST))))
NOTES_ENV  = BUILD_DIR=$(abspath $(BUILD))

.PHONY: check-notes
check-notes: servers $(SCENARIOS) | deps-python3+curl
	@rc=0; \
	$(NOTES_ENV) python3 $(NOTES_TOP)tools/check-notes --notes $(NOTES_TOP)NOTES.md || rc=1; \
	$(NOTES_ENV) bash $(NOTES_TOP)tests/notes/selftest.sh $(NOTES_TOP)NOTES.md || rc=1; \
	exit $$rc
