# Janus — the two commands a new user needs are `make setup` and `make run`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Every lib, service and simulator that has a pyproject.toml is installed (editable).
PACKAGES := $(sort $(dir $(wildcard libs/*/pyproject.toml services/*/pyproject.toml simulators/*/pyproject.toml)))

.PHONY: setup typecheck test test-unit run bench lint clean

setup: ## create .venv and install every package and the test tools
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	@# IB's official client needs protobuf>=5, the Webull SDK protobuf<5: it gets a venv of its own.
	@test -x .venv-ibapi/bin/python || $(PYTHON) -m venv .venv-ibapi
	.venv-ibapi/bin/python -m pip install --quiet -c constraints-ibapi.txt ibapi-stable
	@echo "installed: $(PACKAGES)"

typecheck: ## mypy over libs/ and services/ (settings in pyproject.toml)
	$(PY) -m mypy

test: typecheck ## the type check, then the whole suite (starts its own NATS and Postgres)
	$(PY) -m pytest

test-unit: ## pure code only
	$(PY) -m pytest tests/unit

run: ## the whole system locally: NATS, Postgres, simulators, every service (Ctrl-C stops)
	$(VENV)/bin/janus-run

bench: ## benchmark scripts (figures printed; bench/harness.py and bench/history.py are shared modules, not benches)
	@for b in $(filter-out bench/harness.py bench/history.py,$(wildcard bench/*.py)); do echo "== $$b"; $(PY) $$b || exit 1; done

clean: ## remove the local stack's data (.janus/)
	rm -rf .janus
