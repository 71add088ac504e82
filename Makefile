# eearly: `make test` and `make figures` are all a user needs; each installs what it needs first.
SHELL   := /bin/bash
VENV    := .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PROFILE ?= default
# The profiles whose figures and run store the repo ships: default in paper_figures/, quick in paper_figures/quick/.
SHIPPED := default quick
# RETRAIN=1 retrains what the profile lists from an empty cache into build/retrain-<profile>/ (store, results, figures),
# leaving the shipped store and figures as they are; run it again to resume.
RETRAIN ?=
RETRAIN_DIR := build/retrain-$(PROFILE)
# SET="KEY=VALUE ..." replaces figure parameters (SET="patience=8 max_epochs=240": a profile's next schedule). Its runs
# train into the profile's store (COMMIT=1 commits them) and its figures go to build/next-<profile>/, so the shipped
# figures stay as they are until the profile's YAML switches to the new values.
SET     ?=
FIGDIR  ?= $(if $(RETRAIN),$(RETRAIN_DIR)/figures,$(if $(SET),build/next-$(PROFILE)/figures,$(if $(filter default,$(PROFILE)),paper_figures,$(if $(filter $(SHIPPED),$(PROFILE)),paper_figures/$(PROFILE),build/figures-$(PROFILE)))))
STORE   ?= $(if $(RETRAIN),$(RETRAIN_DIR)/store,paper_figures/store/$(PROFILE))
FIG_ENV := $(if $(RETRAIN),EEARLY_RESULTS=$(abspath $(RETRAIN_DIR)/results))
# TRAIN=0: fail on a run the store lacks instead of training it; WORKERS=N trains missing runs in N one-thread processes;
# COMMIT=1 commits each run to the store as it finishes (filling a profile over several sittings).
TRAIN   ?= 1
WORKERS ?= 1
COMMIT  ?=
# A profile makes the figures it has a YAML for: all of them in smoke, quick, default and paper (tests/test_repo.py checks),
# a few in the profiles of single Table 1 rows (paper_tiny_imagenet, paper_imagenet), whose data the paper profile lacks,
# and in msdnet_cpu (MSDNet on the CPU, kept out of the default profile for its time).
PARAMS  := paper_figures/params/$(PROFILE)
ifeq ($(wildcard $(PARAMS)/.),)
$(error PROFILE=$(PROFILE): no folder $(PARAMS); profiles: $(notdir $(wildcard paper_figures/params/*)))
endif
FIGS    := $(filter $(patsubst $(PARAMS)/%.yaml,%,$(wildcard $(PARAMS)/*.yaml)),$(patsubst nbs/figs/%.ipynb,%,$(wildcard nbs/figs/*.ipynb)))
LIB     := $(wildcard eearly/*.py)
ROOTFLAG := $(if $(filter 0,$(shell id -u)),--allow-root,)

.PHONY: help install data browser test figures plots store verify check explore lab readme clean distclean
.DEFAULT_GOAL := help

help: ## show this list
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  PROFILE=$(PROFILE) (figures: smoke | quick | default | paper | paper_tiny_imagenet | paper_imagenet | msdnet_cpu; outputs of the profiles not shipped go to build/)"
	@echo "  TRAIN=0 (never train)  WORKERS=N (train missing runs in N processes)  COMMIT=1 (commit each run as it lands)  RETRAIN=1 (retrain from an empty cache into build/)  SET=\"k=v ...\" (another schedule's runs into the store)"

install: $(STAMP) ## create .venv and install eearly in editable mode with its dev extras

# Content stamps: nbdev_export (and `make check`) rewrite files with identical content, so mtimes alone would reinstall
# the package and rerun every figure. build/<name>.md5 changes only when the content of its files does.
SUM_pkg := settings.ini setup.py pyproject.toml
SUM_lib := $(LIB)
build/%.md5: FORCE
	@mkdir -p build; md5sum $(SUM_$*) > $@.new; if cmp -s $@.new $@; then rm $@.new; else mv $@.new $@; fi
FORCE:
.PRECIOUS: build/%.md5

$(STAMP): build/pkg.md5
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

data: $(STAMP) ## get Fashion-MNIST offline (Debian's dataset-fashion-mnist when apt is there) and unpack it
	@if ! dpkg -s dataset-fashion-mnist >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } || \
	    echo "make data: apt-get could not install dataset-fashion-mnist; torchvision's download is tried next"; \
	  else echo "make data: not root; run 'sudo apt-get install dataset-fashion-mnist' or set EEARLY_DATA"; fi; \
	fi
	@$(PY) -c "from eearly.data import fashion_mnist_root; print('Fashion-MNIST ready in', fashion_mnist_root())"

# The browser tests (tests/test_browser.py) drive Debian's Chromium through Debian's chromedriver: a browser downloaded by
# Selenium or Playwright cannot work offline. --no-install-recommends keeps it to the browser and the driver.
browser: ## install Debian's chromium and chromium-driver for the browser tests (when root with apt)
	@if ! { [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; } && command -v apt-get >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "make browser: installing Debian's chromium and chromium-driver"; \
	    apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q --no-install-recommends chromium chromium-driver >/dev/null 2>&1; } || \
	    echo "make browser: apt-get could not install chromium chromium-driver; the browser tests will skip (fail under CI=true)"; \
	  else echo "make browser: not root; run 'sudo apt-get install chromium chromium-driver', or the browser tests skip"; fi; \
	fi

test: $(STAMP) data browser ## run every notebook (library tests and smoke figures) and the repository checks
	$(PY) -m pytest -n 2 -p no:cacheprovider tests

figures: $(STAMP) data store $(FIGDIR)/README.md ## regenerate the figures of PROFILE from its run store (paper_figures/store/PROFILE), training only what it lacks

plots: $(STAMP) data ## redraw every figure of PROFILE from its run store, training nothing (fails on a missing run)
	$(MAKE) figures TRAIN=0 $(addprefix -W ,$(wildcard nbs/figs/*.ipynb))

store: $(STAMP) ## what PROFILE's run store holds: runs, bytes, stale runs (RUNS=1 lists every run)
	@$(PY) -m eearly.store status --profile $(PROFILE) --store $(STORE) $(if $(RUNS),--runs)

N ?= 1
SEED ?= 0
verify: $(STAMP) data ## retrain N runs of PROFILE's store drawn at random (SEED; MAX_S=s: only runs that trained ≤ s; METHODS=a,b: only theirs) and compare bit for bit
	$(PY) -m eearly.store verify --profile $(PROFILE) --store $(STORE) -n $(N) --seed $(SEED) $(if $(MAX_S),--max-train-seconds $(MAX_S)) $(if $(METHODS),--methods $(METHODS))

# A figure is written to a staging folder and moved into place only when its whole notebook succeeds: a failing
# notebook stops make with the notebook and cell (papermill's message) and leaves no partial figure files behind.
# papermill reads the profile's shared run parameters (_runs.yaml) first, then the figure's own YAML, which wins.
# `eearly-store figure` runs the notebook with EEARLY_TRAIN=0 and trains what it finds missing outside papermill (count,
# estimate, progress bar over runs), putting each run into the store as it finishes, then runs the notebook again.
RUNS_YAML := $(wildcard paper_figures/params/$(PROFILE)/_runs.yaml)
$(FIGDIR)/%.json: nbs/figs/%.ipynb $(RUNS_YAML) paper_figures/params/$(PROFILE)/%.yaml build/lib.md5 | $(STAMP)
	@mkdir -p build/$(PROFILE) $(FIGDIR); rm -rf build/$(PROFILE)/stage-$*; mkdir -p build/$(PROFILE)/stage-$*
	@echo "figure $* ($(PROFILE)): nbs/figs/$*.ipynb -> $(FIGDIR)/"
	@start=$$(date +%s); \
	if $(FIG_ENV) $(PY) -m eearly.store figure $* --profile $(PROFILE) --store $(STORE) --out build/$(PROFILE)/stage-$* \
	     --executed build/$(PROFILE)/$*.ipynb --workers $(WORKERS) $(if $(filter 0,$(TRAIN)),--no-train) $(if $(COMMIT),--commit) $(foreach s,$(SET),--set $(s)); then \
	  mv build/$(PROFILE)/stage-$*/$*.json build/$(PROFILE)/stage-$*/.$*.json; \
	  mv -f build/$(PROFILE)/stage-$*/* $(FIGDIR)/ && mv -f build/$(PROFILE)/stage-$*/.$*.json $@; \
	  rm -rf build/$(PROFILE)/stage-$*; echo "figure $*: done in $$(( $$(date +%s) - start )) s"; \
	else rm -rf build/$(PROFILE)/stage-$*; \
	  echo "make figures: nbs/figs/$*.ipynb FAILED (the cell and error are above; executed notebook: build/$(PROFILE)/$*.ipynb); no figure files were written" >&2; exit 1; fi

$(FIGDIR)/README.md: $(FIGS:%=$(FIGDIR)/%.json)
	$(PY) -c "from eearly.report import results_page; results_page('$(FIGDIR)', '$@', 'Paper figures ($(PROFILE) profile)')"

check: $(STAMP) ## fail if notebooks are not clean, the library is not what they export, or README.md is stale
	@h() { find nbs eearly README.md -name '*.ipynb' -o -name '*.py' -o -name README.md | grep -v checkpoints | sort | xargs md5sum; }; \
	before=$$(h); $(BIN)/nbdev_clean && $(BIN)/nbdev_export && $(MAKE) -s readme; after=$$(h); \
	if [ "$$before" != "$$after" ]; then diff <(echo "$$before") <(echo "$$after"); \
	  echo "make check: the files above changed; run nbdev_clean, nbdev_export and make readme, then commit"; exit 1; fi; \
	echo "make check: notebooks clean, library and README in sync"

# nbs/explore.ipynb as a web app: app/voila.py drops its documentation and headless checks and hides the code.
PORT ?= 8866
explore: $(STAMP) ## the interactive explorer as a web app (Voilà), by default on http://localhost:8866/ (PORT=...)
	@echo "make explore: open http://localhost:$(PORT)/ (runs from $${EEARLY_RESULTS:-the shipped run store paper_figures/store/default, else quick, else results/, else the smoke runs make test left}; Ctrl-C stops it)"
	$(BIN)/voila nbs/explore.ipynb --Voila.config_file_paths=app --port=$(PORT) --Voila.ip=127.0.0.1

LABFLAGS ?=
lab: $(STAMP) ## JupyterLab on the project (LABFLAGS=... adds options)
	$(BIN)/jupyter lab --notebook-dir=. $(ROOTFLAG) $(LABFLAGS)

readme: $(STAMP) ## build README.md from nbs/index.ipynb (nbconvert; quarto is not available offline)
	$(BIN)/jupyter nbconvert --to markdown nbs/index.ipynb --output-dir . --output README --log-level WARN

clean: ## remove build outputs (executed notebooks, caches); keeps .venv, data and results
	rm -rf build _proc _docs .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

distclean: clean ## also remove .venv
	rm -rf $(VENV)
