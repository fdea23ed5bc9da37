# The two quickstart commands: `make demo` and `make test`; `make lint` runs ruff and mypy.
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
EXAMPLE := examples/jaffle-mesh
# ruff and mypy live in their own venv: mypy needs a pathspec that dbt-core refuses.
TOOLS ?= .venv-tools
TOOLS_BIN := $(abspath $(TOOLS))/bin

.PHONY: install install-test demo test lint clean-demo

# What the demo needs: meshkit and its runtime dependencies (dbt-core, dbt-duckdb, …).
$(BIN)/meshkit: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	touch $@

# The test extras on top (pytest, Playwright, moto, dbt-postgres, …): only `make test` needs them.
$(VENV)/.test-extras: pyproject.toml $(BIN)/meshkit
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# mypy reads the project's dependencies and their type stubs from .venv, the linters from
# .venv-tools (versions pinned in pyproject.toml's dependency groups).
$(VENV)/.types: pyproject.toml $(BIN)/meshkit
	$(BIN)/pip install --quiet --group types
	touch $@

$(TOOLS)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS_BIN)/pip install --quiet --upgrade pip
	$(TOOLS_BIN)/pip install --quiet --group lint
	touch $@

install: $(BIN)/meshkit

install-test: $(VENV)/.test-extras

# Load the raw Jaffle Shop data, build both projects of the mesh in order (publishing each to
# the store), then show a few rows of finance's model that reads analytics' public fct_orders.
demo: install
	mkdir -p $(EXAMPLE)/warehouse
	cd $(EXAMPLE)/raw && $(BIN)/dbt seed --quiet
	cd $(EXAMPLE) && $(BIN)/meshkit build
	cd $(EXAMPLE)/finance && $(BIN)/dbt --quiet show --select agg_customer_payment_journey --limit 8
	@echo
	@echo "meshkit and dbt are in $(BIN); put them on PATH for the next steps:"
	@echo "  source $(VENV)/bin/activate"

lint: $(TOOLS)/.installed $(VENV)/.test-extras $(VENV)/.types
	@# both run, and the target fails if either finds something
	$(TOOLS_BIN)/ruff check src; ruff=$$?; \
	$(TOOLS_BIN)/mypy --python-executable $(BIN)/python && exit $$ruff

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean-demo:
	rm -rf $(EXAMPLE)/warehouse/*.duckdb $(EXAMPLE)/.meshkit \
	       $(EXAMPLE)/*/target $(EXAMPLE)/*/dbt_packages $(EXAMPLE)/*/logs
