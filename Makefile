# melodypair: the README's two commands are `make demo` and `make test`. Every target is idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system test test-fast lint demo bench clean

setup: system $(STAMP)

system:
	@scripts/install-system-packages.sh

# Re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[host,device,dev]"
	@touch $(STAMP)

test: setup
	$(BIN)/pytest

test-fast: setup
	$(BIN)/pytest -m "not slow and not e2e"

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

demo: setup
	$(BIN)/python -m melodypair.demo

bench: setup
	$(BIN)/python bench/run.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
