# tests/debug/rules.mk - make opcheck-test: the debug build's guard (common/opcheck.h)
# stops a program on each mistake it is there for. Built with -DIOCP_DEBUG whatever DEBUG says.
OPCHECK_TOP := $(patsubst %tests/debug/,%,$(dir $(lastword $(MAKEFILE_LIST))))

OPCHECK_SRC := $(addprefix $(OPCHECK_TOP)common/,opcheck.c ledger.c log.c buffer.c)
$(BUILD)/tests/opcheck-selftest.exe: $(OPCHECK_TOP)tests/debug/opcheck-selftest.c $(OPCHECK_SRC) $(OPCHECK_TOP)common/opcheck.h | deps
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -DIOCP_DEBUG -o $@ $(filter %.c,$^)

.PHONY: opcheck-test
opcheck-test: $(BUILD)/tests/opcheck-selftest.exe
	bash $(OPCHECK_TOP)tests/debug/run.sh $(abspath $<)
