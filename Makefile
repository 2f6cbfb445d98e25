# callkpi: `make run` and `make test` set everything up on a fresh machine.
PY ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
# Cached bytecode makes every test subprocess start fast (some images set this to 1).
export PYTHONDONTWRITEBYTECODE :=

.PHONY: run test env lint bench clean

$(UV):
	$(PY) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --compile-bytecode --python $(PY)
	@touch $@

env: $(VENV)/.synced

## The demo contact center: generate, ingest, print its KPIs, then serve the API and dashboard.
run: env
	CALLKPI_WARM_UP=1 $(VENV)/bin/callkpi demo --db demo.duckdb --fresh --serve

## The whole test suite (and the linters: main stays clean). The browser tests drive
## Debian's Chromium (installed here when missing; Playwright never downloads a browser).
test: env
	@test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest

lint: env
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

bench: env
	$(VENV)/bin/python bench/run.py ingest
	$(VENV)/bin/python bench/run.py kpi
	$(VENV)/bin/python bench/staffing.py
	$(VENV)/bin/python bench/server.py
	$(VENV)/bin/python bench/pages.py

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache demo.duckdb demo.duckdb.auth.sqlite demo.duckdb.live demo-data
