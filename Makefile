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

export UV_CACHE_DIR := $(CACHE)/uv
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never
# Models load from installed packages only; never from a hub.
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: help install demo test test-unit test-slow servers lint format bench

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(UV):
	@mkdir -p $(CACHE)/tools
	$(PYTHON) -m venv $(UV_HOME)
	$(UV_HOME)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

install: $(UV) ## Create or update the cached virtualenv from uv.lock (no-op when current)
	$(UV) sync --frozen --all-extras --group dev --python $(PYTHON) --quiet
	@echo "virtualenv: $(VENV)"

demo: install ## Build the tiny demo (SIZE=demo|bench for bigger), answer queries, serve on :8000
	$(BIN)/kgsearch demo --size $(SIZE)

lint: install ## ruff + mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint ## Lint, start real Neo4j + Elasticsearch, run the unit and integration tiers, stop them
	scripts/servers start
	set +e; $(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS); rc=$$?; \
	  [ -n "$(KEEP_SERVERS)" ] || scripts/servers stop; exit $$rc

test-unit: lint ## Only the unit tier (no servers)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-slow: install ## The slow tier (model training, large catalogues)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

servers: ## Start Neo4j and Elasticsearch on loopback (fetched once into ~/.cache/kgsearch)
	scripts/servers start

format: install ## Apply ruff's formatting and safe fixes
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install ## Latency, throughput and reindex benchmarks (see docs/benchmarks.md)
	$(BIN)/python benchmarks/search_latency.py --size bench
