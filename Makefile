# Every target creates .venv and installs what it needs on first use: `make demo` and
# `make test` are the only commands a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY := $(BIN)/python
PYTEST_ARGS ?=

.PHONY: all install test lint typecheck validate unit integration e2e demo bench build build-sam invoke clean

all: test

$(STAMP): requirements-dev.txt layer/pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt -e ./layer
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layer/genesys_auth

validate: $(STAMP)
	$(BIN)/cfn-lint template.yaml

test: lint validate
	$(BIN)/pytest $(PYTEST_ARGS)

unit: $(STAMP)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

e2e: $(STAMP)
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

demo: $(STAMP)
	$(PY) -m tests.demo

bench: $(STAMP)
	$(PY) -m tests.bench

clean:
	rm -rf $(VENV) build .aws-sam .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
