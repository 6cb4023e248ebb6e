# Two commands do all the set-up on a fresh machine:
#   make run    create .venv, install pinned packages, run the default study
#   make test   create .venv, install pinned packages, run the test suite
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
CORES  ?= all

.PHONY: run report test test-fast lint format setup clean bench

$(BIN)/.installed: requirements.txt requirements-test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-test.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

setup: $(BIN)/.installed

run: setup
	$(BIN)/snakemake --cores $(CORES)

# The HTML report of the run (after `make run`): results/report.html. For
# another config: make report CONFIGFILE=configs/x.yaml REPORT=<its results>/report.html
REPORT ?= results/report.html
report: setup
	$(BIN)/snakemake --report $(REPORT) $(if $(CONFIGFILE),--configfile $(CONFIGFILE))

test: setup
	$(BIN)/python -m pytest -q --durations=15

test-fast: setup
	$(BIN)/python -m pytest -q -m "not slow"

# Style and lint, enforced in CI: the workflow's own lint, ruff (format and
# lint, configured in pyproject.toml) and snakefmt on the Snakemake files.
lint: setup
	$(BIN)/snakemake --lint
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .
	$(BIN)/snakefmt --check Snakefile workflow/rules

# Rewrite the files the way `make lint` wants them.
format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/snakefmt Snakefile workflow/rules

clean:
	rm -rf results/* .snakemake

# Time a complete default run in a separate results folder (a benchmark, not a test).
bench: setup
	rm -rf results-bench
	/usr/bin/time -v $(BIN)/snakemake --cores $(CORES) --config results=results-bench 2>&1 | tail -40
