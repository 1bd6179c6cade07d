# tests/browser/rules.mk - the lab (common/lab/lab.html) in headless Chromium.
#
# Included by the top-level Makefile, which sets BUILD, STAGES, RUN_STAGE and the target
# `servers`; uses $(SCENARIOS) and SCENARIO_ENV from tests/scenario/rules.mk.
#   make browser-test             tests/browser/run.sh: every stage's page, and its lab run and
#                                 its drawing judged against tests/scenario/expect.map
#   make lab [STAGE=NN] [PORT=N]  the lab of the stage running on PORT (default 8080), headless:
#                                 what it finds (start the stage first: make run STAGE=NN)
#   make lab-picture              docs/lab-03-vs-04.png, the README's picture: 03's and 04's
#                                 four /sleep at once, from a real run
BROWSER_TOP := $(patsubst %tests/browser/,%,$(dir $(lastword $(MAKEFILE_LIST))))
LAB_PICTURE := $(BROWSER_TOP)docs/lab-03-vs-04.png

.PHONY: browser-test lab lab-picture
browser-test: servers $(SCENARIOS) | deps-chromium+python3
	$(SCENARIO_ENV) bash $(BROWSER_TOP)tests/browser/run.sh $(STAGES)

# STAGE only when given on the command line (the Makefile's default is the newest stage):
# then the server on PORT must be that stage.
lab: | deps-chromium+python3
	@bash $(BROWSER_TOP)tests/browser/lab.sh "$(or $(PORT),8080)" \
	    "$(if $(filter command line environment,$(origin STAGE)),$(RUN_STAGE))"

lab-picture: servers | deps-chromium+python3
	@BUILD_DIR=$(abspath $(BUILD)) bash $(BROWSER_TOP)tests/browser/picture.sh $(LAB_PICTURE) \
	    $(filter 03-% 04-%,$(STAGES))
