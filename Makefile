# ParcelGuard: `make demo` to see it run, `make test` to run every test.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo serve test test-fast drills check bench assets system clean help

help:
	@echo "make demo   - install, start the server on SQLite and a live simulator"
	@echo "make test   - install dev tools and run the whole suite"
	@echo "make drills - the reliability and security drills at full size (docs/reliability.md)"
	@echo "make check  - ruff, mypy and the layer contract (import-linter)"
	@echo "make bench  - ingest benchmark (SQLite and PostgreSQL)"

$(VENV)/.stamp-runtime: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "ParcelGuard needs Python 3.11+"'
	@$(PYTHON) -m venv $(VENV) || { echo "python3 -m venv failed: on Debian, apt-get install python3-venv"; exit 1; }
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	@touch $@

$(VENV)/.stamp-dev: $(VENV)/.stamp-runtime pyproject.toml
	$(BIN)/pip install -q -e '.[dev]'
	@touch $@

node_modules/.stamp: package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm is needed for the offline front-end assets: apt-get install npm"; exit 1; }
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

assets: node_modules/.stamp

# Debian packages the tests use: Chromium (page tests), a CJK font, pango (WeasyPrint's PDFs),
# poppler and zbar (reading the PDFs and their barcodes back).
SYSTEM_PACKAGES := chromium fonts-wqy-microhei libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 poppler-utils zbar-tools
system:
	@missing=$$(for p in $(SYSTEM_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq --no-install-recommends $$missing; \
	  else echo "the tests need: sudo apt-get install $$missing"; exit 1; fi; fi

demo: $(VENV)/.stamp-runtime assets
	$(BIN)/parcelguard demo

serve: $(VENV)/.stamp-runtime assets
	$(BIN)/parcelguard serve

test: $(VENV)/.stamp-dev assets system
	$(BIN)/pytest -q

# `make test` runs a short version of each drill; this runs them at the sizes of issue 8
drills: $(VENV)/.stamp-dev assets system
	PARCELGUARD_DRILL=full $(BIN)/pytest -q -s tests/drills

check: $(VENV)/.stamp-dev
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(VENV)/.stamp-dev
	$(BIN)/python benchmarks/ingest.py

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
