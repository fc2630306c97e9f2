# Two commands on a fresh machine: `make run` and `make test`. Both create and update .venv
# themselves; a stamp per requirements set means a second run installs nothing.
SHELL := /bin/bash
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test lint typecheck unit integration e2e emulator bench bench-emulator bench-faults bench-broadcast bench-alerts \
        test-localstack localstack-start localstack-stop template clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when a requirements file or the package definition changed.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

run: $(STAMP)
	$(BIN)/tocsin run

test: lint typecheck
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope tests --ignore=tests/localstack

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/python -m pytest tests/unit

integration: $(STAMP)
	$(BIN)/python -m pytest tests/integration

e2e: $(STAMP)
	$(BIN)/python -m pytest tests/e2e

emulator: $(STAMP)
	$(BIN)/python -m pytest tests/emulator

bench: $(STAMP)
	$(BIN)/python bench/e2e.py

bench-emulator: $(STAMP)
	$(BIN)/python bench/emulator.py

bench-faults: $(STAMP)
	$(BIN)/python bench/faults.py

bench-broadcast: $(STAMP)
	$(BIN)/python bench/broadcast.py

bench-alerts: $(STAMP)
	$(BIN)/python bench/alerts.py

# The LocalStack tier: starts its own LocalStack (no Docker) unless LOCALSTACK_ENDPOINT is set.
test-localstack: $(STAMP)
	$(BIN)/python -m pytest tests/localstack -p no:xdist

STAGE ?= dev
# The deploy template of a stage (build/template-$(STAGE).json); see README, Deploy to AWS.
template: $(STAMP)
	$(BIN)/python -m infra.template --stage $(STAGE) --out build/template-$(STAGE).json

clean:
	rm -rf $(VENV) .tocsin build .mypy_cache .ruff_cache .pytest_cache
