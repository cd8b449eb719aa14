# Two commands do all set-up on a fresh machine:  make demo   and   make test.
# The virtualenv lives outside the repo, keyed on the lock file, so a second run (or a
# fresh clone on the same machine) reuses it; uv's download cache sits beside it.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
CACHE ?= $(HOME)/.cache/kgsearch
UV_VERSION := 0.13.8
UV_HOME := $(CACHE)/tools/uv-$(UV_VERSION)
UV := $(UV_HOME)/bin/uv
LOCK_KEY := $(shell cat uv.lock pyproject.toml | sha256sum | cut -c1-16)
VENV ?= $(CACHE)/venv-$(LOCK_KEY)
BIN := $(VENV)/bin
SIZE ?= tiny
PYTEST_ARGS ?=
# test-py313: the newest Python above the minimum (3.13, else 3.12; scripts/newest-python
# finds it), or this one if given; its own virtualenv, keyed on the lock and its version.
NEW_PYTHON ?=

export UV_CACHE_DIR := $(CACHE)/uv
# scripts/servers keeps its artefacts under the same cache (CACHE=... make test: all bare).
export KGSEARCH_CACHE := $(CACHE)
# ... and the encoder's ONNX export (made once from the installed model package).
export KGSEARCH_MODEL_CACHE := $(CACHE)/models
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# Byte-compile the venv once at install: every later `kgsearch` start skips recompiling
# torch/transformers (this machine sets PYTHONDONTWRITEBYTECODE, so nothing caches .pyc).
export UV_COMPILE_BYTECODE := 1
# Models load from installed packages only; never from a hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install demo test test-unit test-golden-1core test-py313 test-slow check-wheel servers lint format bench

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	@mkdir -p $(CACHE)/tools
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV) ## Create or update the cached virtualenv from uv.lock (no-op when current)
	$(UV) sync --frozen --all-extras --group dev --python $(PYTHON) --quiet
	@echo "virtualenv: $(VENV)"

demo: install ## Build the tiny demo (SIZE=demo|bench for bigger), answer queries, serve on :8000
	$(BIN)/kgsearch demo --size $(SIZE)

lint: install ## ruff + mypy + import-linter (the layers in docs/architecture.md)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint ## Lint, real Neo4j + Elasticsearch, unit and integration tiers; then test-py313, check-wheel
	scripts/servers start
	@scripts/chromium >/dev/null || echo "make test: no headless Chromium; the console's browser test will skip (CI=true: fail)" >&2
	set +e; $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS); rc=$$?; \
	  [ -n "$(KEEP_SERVERS)" ] || scripts/servers stop; exit $$rc
	@$(MAKE) --no-print-directory test-golden-1core
	@$(MAKE) --no-print-directory test-py313
	@$(MAKE) --no-print-directory check-wheel

# The golden figures must hold on a machine of any core count; CI's has 2. Pinned to one
# core with one OpenMP thread, the run is what a 1-core machine gives (2026-12-02: a batch
# size change held on 2 threads and moved lambdamart's golden NDCG on 1).
test-golden-1core: install ## The golden metrics again, as a 1-core machine runs them (~20 s)
	OMP_NUM_THREADS=1 taskset -c 0 $(BIN)/python -m pytest -p no:cacheprovider tests/test_golden_metrics.py $(PYTEST_ARGS)

test-unit: lint ## Only the unit tier (no servers)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Not run twice: kill -9 of child processes (OS and fsync semantics, not the interpreter's)
# and the API fuzzer (minutes; the 3.11 run covers the same handlers). Both run in `make test`.
PY313_SKIP = --ignore=tests/faults --ignore=tests/app/test_api_fuzz.py

test-py313: $(UV) ## The unit tier on the newest Python found (3.13, else 3.12), own cached venv
	@set -e; py="$(NEW_PYTHON)"; \
	if [ -z "$$py" ] && ! py=$$(scripts/newest-python); then \
	  msg="no python3.13 or python3.12 on PATH or under pyenv's versions"; \
	  if [ "$$CI" = true ]; then \
	    printf '%s\n' '########' "#### SKIPPED: make test-py313 ($$msg);" \
	      '#### the unit tier ran on $(PYTHON) only.' '########' >&2; \
	  else echo "make test-py313: skipped: $$msg (NEW_PYTHON=/path/to/python3.13 to choose one)"; fi; \
	  exit 0; \
	fi; \
	ver=$$("$$py" -c 'import platform; print(platform.python_version())'); \
	venv="$(CACHE)/venv-$(LOCK_KEY)-py$$ver"; \
	echo "test-py313: Python $$ver ($$py) in $$venv"; \
	UV_PROJECT_ENVIRONMENT="$$venv" $(UV) sync --frozen --all-extras --group dev --python "$$py" --quiet; \
	"$$venv/bin/python" -m pytest -m "not integration and not slow" $(PY313_SKIP) $(PYTEST_ARGS)

check-wheel: $(UV) ## Build the wheel, pip-install it into a fresh venv, run the tiny demo outside the repo
	UV=$(UV) PYTHON=$(PYTHON) scripts/check-wheel

test-slow: install ## The slow tier (model training, large catalogues)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

servers: ## Start Neo4j and Elasticsearch on loopback (fetched once into ~/.cache/kgsearch)
	scripts/servers start

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Latency, throughput and reindex benchmarks (see docs/benchmarks.md)
	$(BIN)/python benchmarks/search_latency.py --size bench
