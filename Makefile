# The two quickstart commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(abspath $(VENV))/bin
EXAMPLE := examples/jaffle-mesh

.PHONY: install install-test demo test clean-demo

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

test: install-test
	$(BIN)/python -m pytest $(PYTEST_ARGS)

clean-demo:
	rm -rf $(EXAMPLE)/warehouse/*.duckdb $(EXAMPLE)/.meshkit \
	       $(EXAMPLE)/*/target $(EXAMPLE)/*/dbt_packages $(EXAMPLE)/*/logs
