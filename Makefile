# Quick start:  make run   (the main job)   |   make test   (the test suite)
# Each target creates .venv and installs gcrl into it first (once; again when pyproject.toml changes).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed

.PHONY: run test results clean

$(INSTALLED): pyproject.toml
	@test -n "$(PYTHON)" || (echo "error: Python 3.10+ not found; install python3.11" && exit 1)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	@touch $@

run: $(INSTALLED)
	$(BIN)/gcrl train

test: $(INSTALLED)
	$(BIN)/python -m pytest -q

# The results pages, results/README.md (pointmaze) and results/manipulation.md: the grids of results/*.toml (finished runs are skipped,
# interrupted ones resume; the run records are committed), the flat-vs-hierarchical evaluations, then the page.
# About 7 hours on 2 cores.
results: $(INSTALLED)
	$(BIN)/gcrl sweep results/sweep.toml
	$(BIN)/gcrl sweep results/hierarchy.toml
	$(BIN)/gcrl sweep results/baselines.toml
	$(BIN)/gcrl sweep results/manipulation.toml
	$(BIN)/python benchmarks/flat_vs_hierarchical.py results/runs --out results
	$(BIN)/python benchmarks/value_vs_maze_distance.py \
		$(foreach a,saw hiql,$(foreach m,medium large giant,results/runs/pointmaze-$(m)-navigate-v0/$(a)/seed0)) \
		--out results/value_check.md
	$(BIN)/gcrl report $(foreach m,medium large giant,results/runs/pointmaze-$(m)-navigate-v0) --out results --name README.md --intro results/intro.md \
		--include results/flat_vs_hierarchical.md --include results/value_check.md --maze-agent saw
	$(BIN)/gcrl report results/runs/cube-single-play-v0 results/runs/scene-play-v0 --out results \
		--name manipulation.md --intro results/manipulation_intro.md

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
