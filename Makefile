# Two commands on a fresh machine: `make run` and `make test`. Both create and update .venv
# themselves; a stamp per requirements set means a second run installs nothing.
SHELL := /bin/bash
PYTHON ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_WORKERS ?= 2

.PHONY: run test browser console-shots lint typecheck unit integration e2e emulator bench bench-emulator bench-faults \
        bench-broadcast bench-timers bench-alerts bench-cost bench-cold-start test-localstack \
        test-deployed localstack-start localstack-stop template deploy destroy clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Reinstall only when a requirements file or the package definition changed.
$(STAMP): requirements.txt requirements-dev.txt pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

# PERSIST=1 keeps the local cloud's state across runs (.tocsin/cloud.pickle); default: empty.
run: $(STAMP)
	$(BIN)/tocsin run $(if $(PERSIST),--persist)

test: lint typecheck browser
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadscope tests --ignore=tests/localstack \
		--ignore=tests/deployed

# The browser tier's own dependencies: Debian's Chromium (apt-get; CI runs as root) and axe-core
# from npm. Playwright itself comes from PyPI with requirements-dev.txt.
CHROMIUM ?= /usr/bin/chromium
AXE_VERSION := 4.14.1
AXE := build/browser/node_modules/axe-core/axe.min.js

browser: $(CHROMIUM) $(AXE)

$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ]; then \
		apt-get install -y -q chromium >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && apt-get install -y -q chromium >/dev/null; }; \
	else echo "Chromium missing and not root: the browser tests will be skipped (apt-get install chromium)"; fi

$(AXE):
	npm install --prefix build/browser --no-save --no-audit --no-fund --loglevel=error axe-core@$(AXE_VERSION)

# The README's screenshots of the console and the API reference (docs/console/*.png).
console-shots: $(STAMP) browser
	TOCSIN_SHOTS_DIR=docs/console $(BIN)/python -m pytest tests/browser -p no:xdist -q

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

# Every figure of issue 19 beside its goal: start, Ctrl-C stop, memory (bench/lifecycle.py),
# then throughput, latency, memory under load and the chart build/bench-e2e.png (bench/e2e.py).
bench: $(STAMP)
	$(BIN)/python bench/lifecycle.py
	$(BIN)/python bench/e2e.py

bench-emulator: $(STAMP)
	$(BIN)/python bench/emulator.py

bench-faults: $(STAMP)
	$(BIN)/python bench/faults.py

bench-broadcast: $(STAMP)
	$(BIN)/python bench/broadcast.py

# Dollars per million notifications at AWS list prices, from every AWS request of the local stack.
bench-cost: $(STAMP)
	$(BIN)/python bench/cost.py

# import app against import boto3 (fresh interpreters) and the code zip's size.
bench-cold-start: $(STAMP)
	$(BIN)/python bench/cold_start.py

bench-timers: $(STAMP)
	$(BIN)/python bench/timers.py

bench-alerts: $(STAMP)
	$(BIN)/python bench/alerts.py

# The LocalStack tier: starts its own LocalStack (no Docker) unless LOCALSTACK_ENDPOINT is set.
test-localstack: $(STAMP)
	$(BIN)/python -m pytest tests/localstack -p no:xdist

# Tocsin deployed into LocalStack with `make deploy`, the e2e rows against it, an upgrade that
# keeps data, then `make destroy` (starts its own LocalStack unless LOCALSTACK_ENDPOINT is set).
test-deployed: $(STAMP)
	$(BIN)/python -m pytest tests/deployed -p no:xdist

STAGE ?= dev
# The deploy template of a stage (build/template-$(STAGE).json); see README, Deploy to AWS.
template: $(STAMP)
	$(BIN)/python -m infra.template --stage $(STAGE) --out build/template-$(STAGE).json

# Deploy (create or update) the stack tocsin-$(STAGE) with CloudFormation and mint a first API
# key; ENDPOINT=URL deploys into an emulator (LocalStack), else AWS via the credentials chain.
# Optional: FRONT_DOOR=http|rest|url, BUCKET=artifacts-bucket, TENANT=name, ALLOW_REPLACEMENT=1.
deploy: $(STAMP)
	$(BIN)/python -m infra.deploy deploy --stage $(STAGE) $(if $(ENDPOINT),--endpoint-url $(ENDPOINT)) \
		$(if $(FRONT_DOOR),--front-door $(FRONT_DOOR)) $(if $(BUCKET),--bucket $(BUCKET)) \
		$(if $(TENANT),--tenant $(TENANT)) $(if $(PROJECT_DIR),--project-dir $(PROJECT_DIR)) \
		$(if $(ALLOW_REPLACEMENT),--allow-replacement)

# Delete the stack tocsin-$(STAGE); reports what it keeps (tables).
destroy: $(STAMP)
	$(BIN)/python -m infra.deploy destroy --stage $(STAGE) $(if $(ENDPOINT),--endpoint-url $(ENDPOINT))

clean:
	rm -rf $(VENV) .tocsin build .mypy_cache .ruff_cache .pytest_cache
