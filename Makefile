# Maelstrom — the two commands a brewer needs: `make run-all` and `make test`.
# Every target installs what it needs first (idempotent, quick the second time).

VENV ?= .venv
PYTHON := $(VENV)/bin/python
MOSQUITTO := $(shell command -v mosquitto 2>/dev/null || echo /usr/sbin/mosquitto)
PYTEST_ARGS ?=

.PHONY: setup system-deps browser-deps firmware-deps bench-deps webui-deps run-all test bench reliability lint format clean

setup: system-deps $(VENV)/.installed webui-deps

system-deps:
	@bash scripts/install-system-deps.sh

browser-deps:
	@bash scripts/install-system-deps.sh --browser

firmware-deps:
	@bash scripts/install-system-deps.sh --firmware

bench-deps:
	@bash scripts/install-system-deps.sh --bench

$(VENV)/.installed: pyproject.toml
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[dev]'
	@touch $@

ifneq ($(wildcard webui/package-lock.json),)
webui-deps: webui/node_modules/.installed
webui/node_modules/.installed: webui/package-lock.json
	cd webui && npm ci --no-audit --no-fund --loglevel=error
	@touch $@
else
webui-deps:
endif

run-all: setup
	@mkdir -p data/mosquitto
	@$(PYTHON) scripts/broker_auth.py --dir data/mosquitto
	@if [ "$$(id -u)" -eq 0 ] && id mosquitto >/dev/null 2>&1; then chown -R mosquitto: data/mosquitto; fi
	MOSQUITTO=$(MOSQUITTO) PYTHON=$(PYTHON) MAELSTROM_RUN_DIR=$(CURDIR)/data \
		$(VENV)/bin/supervisord -c deploy/supervisord.conf

test: setup browser-deps firmware-deps
	$(PYTHON) -m pytest -n 2 --dist loadgroup $(PYTEST_ARGS)

bench: setup bench-deps
	$(PYTHON) -m bench $(BENCH)

# Malformed input at every edge and kill -9, on loopback, one table (docs/reliability.md).
# Not part of `make test`: about ten minutes. MAELSTROM_RELIABILITY_SCALE=0.1 for a quick look.
reliability: setup
	$(PYTHON) -m bench.reliability

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

clean:
	rm -rf $(VENV) webui/node_modules .pytest_cache .ruff_cache
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
