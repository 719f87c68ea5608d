# shopcrm — every target sets up what it needs by itself (venv, Python packages).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
DEMO_CUSTOMERS ?= 20000
HOST ?= 127.0.0.1
PORT ?= 8000
# pytest-xdist workers for `make test`: the suite waits on servers, subprocesses and a
# browser much of the time, so two workers pay off even on two cores
TEST_WORKERS ?= 2

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test bench serve lint venv clean-data browser-deps

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(STAMP)

venv: $(STAMP)

## make demo: generate a demo shop, import it through the real importers, serve the web app
demo: venv
	$(BIN)/shopcrm demo --customers $(DEMO_CUSTOMERS) --host $(HOST) --port $(PORT)

## browser-deps: Debian's Chromium and a CJK font for the Playwright tests (never `playwright install`)
browser-deps:
	@if [ ! -x /usr/bin/chromium ] || ! dpkg -s fonts-wqy-microhei >/dev/null 2>&1; then \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei; \
	fi

## make test: every test, on SQLite and PostgreSQL, DuckDB, and in Chromium
test: venv browser-deps
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

## make bench: benchmarks with same-run baselines; figures go to docs/benchmarks.md
bench: venv
	$(BIN)/python -m benchmarks.run

serve: venv
	$(BIN)/shopcrm serve --host $(HOST) --port $(PORT)

lint: venv
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

clean-data:
	rm -rf shopcrm-data
