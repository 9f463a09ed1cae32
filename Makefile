# The two-command quickstart: `make demo` and `make test`. Both install into .venv first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The CPU wheel of torch 2.13.0 lies on this kind of machine; an unpinned torch pulls a
# multi-GB CUDA build. Override on a GPU box: `make demo TORCH=torch`.
TORCH ?= torch==2.13.0
STAMP := $(VENV)/.installed
PIP := $(BIN)/python -m pip install -q --disable-pip-version-check
# This machine's pip config names local indexes that may be absent; drop that noise only.
QUIET := { grep -v "is ignored: it is neither a file nor a directory" || true; }
export MLFLOW_DISABLE_TELEMETRY := true
export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: install demo test check lint bench clean browser wrk

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) --upgrade pip 2>&1 | $(QUIET)
	$(PIP) "$(TORCH)" 2>&1 | $(QUIET)
	$(PIP) -c constraints.txt -e ".[dev]" 2>&1 | $(QUIET)
	touch $(STAMP)

# From a clean lake: validate, plan, then the whole pipeline, ending with its summary.
demo: $(STAMP)
	rm -rf stacks/.lake
	$(BIN)/stacks validate stacks/quickstart.yaml
	$(BIN)/stacks plan --stack stacks/quickstart.yaml
	$(BIN)/stacks run --stack stacks/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check src tests bench flows
	$(BIN)/ruff format --check src tests bench flows
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint browser
	$(BIN)/pytest --durations=15

# A Debian package where apt can install it (as root): $(1) the command, $(2) the package.
apt_get = command -v $(1) >/dev/null || { test "$$(id -u)" = 0 && command -v apt-get >/dev/null && \
  { apt-get install -y -q $(2) >/dev/null 2>&1 || \
    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $(2) >/dev/null 2>&1; }; }; }

# Headless Chromium renders the HTML reports in tests. Without it those tests skip, or fail
# under STACKS_REQUIRE_SERVICES=1.
browser:
	@$(call apt_get,chromium,chromium) || \
	  echo "chromium is not installed and could not be: the HTML rendering tests will skip"

# The inner loop: lint and the unit tests (a minute or so).
check: lint
	$(BIN)/pytest tests/unit -q

bench: $(STAMP) wrk
	$(BIN)/python bench/run.py

# bench_serve drives the servers with wrk.
wrk:
	@$(call apt_get,wrk,wrk) || \
	  { echo "wrk is not installed and could not be: apt-get install wrk, for bench_serve"; exit 2; }

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist
