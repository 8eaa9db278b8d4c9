# Every target creates .venv and installs what it needs on first use: `make demo` and
# `make test` are the only commands a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY := $(BIN)/python
PYTEST_ARGS ?=

.PHONY: all install test lint typecheck validate unit integration e2e demo doctor bench build build-sam invoke clean

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
	$(BIN)/mypy --strict functions/rotation/genesys_rotation functions/rotation/app.py

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

# `genesys-auth doctor` against the local emulators (a new secret and table): make doctor ARGS=--json
doctor: $(STAMP)
	$(PY) -m tests.doctor_local $(ARGS)

bench: $(STAMP)
	$(PY) -m tests.bench

# The two Lambda layers (library, genesys-token extension) for the Lambda target, without sam.
LAYERS := build/layers
build: $(STAMP)
	$(PY) extension/build_layers.py --out $(LAYERS)

# Run one function of template.yaml with its built layers in the local Lambda sandbox against the
# emulators: make invoke FN=ExampleFunction EVENT=events/example.json
FN ?= ExampleFunction
EVENT ?= events/example.json
invoke: build
	$(PY) -m tests.harness.invoke $(FN) $(EVENT) --layers $(LAYERS)

# `sam build` (the SAM way to the same layers) with aws-sam-cli in its own venv; not part of `make test`.
SAM_VENV := .venv-sam
$(SAM_VENV)/.installed:
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli
	@touch $@

# SAM builds the Python function with a python3.12 from PATH (a pyenv 3.12 is used if there is one).
build-sam: $(SAM_VENV)/.installed
	@py312="$$(ls -d $$HOME/.pyenv/versions/3.12*/bin 2>/dev/null | tail -1)"; \
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$${py312:+$$py312:}$$PATH" SAM_CLI_TELEMETRY=0 \
	$(SAM_VENV)/bin/sam build --build-in-source

clean:
	rm -rf $(VENV) $(SAM_VENV) build .aws-sam .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
