# The two commands of the README:
#   make demo   set up and run the service on its embedded default
#   make test   set up and run every check and test
# Both work on a fresh clone on a fresh Debian 12 machine with Python 3.11.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint typecheck contracts unit servers clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# The embedded default: the real loop against a built-in Marathon and metrics source, about 4 minutes.
DEMO_ARGS ?= --duration 240
demo: $(STAMP)
	$(BIN)/autoscaler demo $(DEMO_ARGS)

# Debian packages of the real servers the integration tests start (Prometheus, Graphite).
servers:
	bash scripts/install-test-servers.sh

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check autoscaler

typecheck: $(STAMP)
	$(BIN)/mypy --strict autoscaler/

contracts: $(STAMP)
	$(BIN)/lint-imports

check: lint typecheck contracts

test: servers check
	$(BIN)/pytest -q

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
