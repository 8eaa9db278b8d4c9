# Every target creates .venv and installs what it needs on first use: `make demo` and
# `make test` are the only commands a fresh machine needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PY := $(BIN)/python
PYTEST_ARGS ?=

.PHONY: all install test lint typecheck validate checkov unit integration e2e demo bench build build-sam sam-validate invoke clean

all: test

# constraints.txt: the tested versions, the same the layers ship (extension/build_layers.py).
$(STAMP): requirements-dev.txt layer/pyproject.toml constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -r requirements-dev.txt -e ./layer
	@touch $(STAMP)

install: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layer/genesys_auth
	$(BIN)/mypy --strict functions/rotation/genesys_rotation functions/rotation/app.py

validate: $(STAMP) checkov
	$(BIN)/cfn-lint template.yaml

# checkov in its own venv (its pins would fight the suite's). It evaluates Conditions with the
# parameter defaults, so the template is scanned twice: as is, and with EnableRotation=true.
# Every skipped check is justified inline in template.yaml (Metadata: checkov: skip:).
CHECKOV_VENV := .venv-checkov
CHECKOV_VERSION := 3.3.30
$(CHECKOV_VENV)/.installed:
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION)
	@touch $@

checkov: $(CHECKOV_VENV)/.installed
	@mkdir -p build
	sed '/^  EnableRotation:/,/Default:/ s/Default: "false"/Default: "true"/' template.yaml > build/template-rotation.yaml
	@grep -A2 '^  EnableRotation:' build/template-rotation.yaml | grep -q 'Default: "true"' || { echo "checkov: could not turn EnableRotation on in the scanned copy" >&2; exit 1; }
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml
	$(CHECKOV_VENV)/bin/checkov --quiet --compact --skip-download --framework cloudformation -f build/template-rotation.yaml

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

# Plain `sam build` and `sam validate --lint`, exactly as the README has users run them
# (samconfig.toml holds the build settings), with aws-sam-cli in its own venv; run by .ci/run, not
# by `make test`. No AWS call is made: no credentials, telemetry off.
SAM_VENV := .venv-sam
SAM_CLI_VERSION := 1.170.0
$(SAM_VENV)/.installed:
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check aws-sam-cli==$(SAM_CLI_VERSION)
	@touch $@

# SAM builds the python3.12 functions with a python3.12 from PATH: pyenv's 3.12.1 (or another
# 3.12), else one already on PATH; each candidate must really run (a pyenv shim may not).
SAM_ENV = SAM_CLI_TELEMETRY=0 AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1}
FIND_PY312 = for py in "$$(pyenv prefix 3.12.1 2>/dev/null)/bin/python3.12" $$HOME/.pyenv/versions/3.12*/bin/python3.12 \
	  "$$(command -v python3.12 2>/dev/null)"; do \
	  if [ -x "$$py" ] && "$$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' 2>/dev/null; then echo "$$py"; break; fi; \
	done
build-sam: $(SAM_VENV)/.installed
	@py312="$$($(FIND_PY312))"; \
	if [ -z "$$py312" ]; then \
	  echo "build-sam: no working python3.12 (pyenv 3.12.1, another pyenv 3.12, or python3.12 on PATH): sam build needs one for the python3.12 functions; install it (pyenv install 3.12.1) or put it on PATH" >&2; exit 1; fi; \
	echo "build-sam: python3.12 = $$py312"; \
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$$(dirname $$py312):$$PATH" $(SAM_ENV) $(SAM_VENV)/bin/sam build

sam-validate: $(SAM_VENV)/.installed
	$(SAM_ENV) $(SAM_VENV)/bin/sam validate --lint

clean:
	rm -rf $(VENV) $(SAM_VENV) $(CHECKOV_VENV) build .aws-sam .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
