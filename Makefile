# melodypair: the README's two commands are `make demo` and `make test`. Every target is idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup system test test-fast lint demo bench model eval deploy clean

setup: system $(STAMP)

system:
	@scripts/install-system-packages.sh

# Re-installs only when pyproject.toml changes.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[host,device,dev,deploy,eval]"
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

# Rebuilds the shipped default model: train (~21 min on 2 cores, data generation included), int8
# export with parity checks (99% window agreement, 95% same melody), smoothing tuning and the
# recognizer evaluation (figures into models/default/eval.md): 36 min in all, measured with 50
# evaluation trials a condition. The last step alone (tuning, 100 trials a condition and the
# re-attack, quiet-note and instrument rows) took 9 min on 2026-12-03.
model: setup
	$(BIN)/melodypair train --out models/default
	$(BIN)/melodypair quantize models/default
	$(BIN)/python -m melodypair.host.finish_model models/default --readme README.md

# The full evaluation sweep (issue 6): report.json/csv/md and plots in out/eval, then the README's
# evaluation block and headline plot (docs/figures) are rewritten from that report.
eval: setup
	$(BIN)/melodypair evaluate --out out/eval
	$(BIN)/python -m melodypair.host.report readme README.md --report out/eval --figures docs/figures

# make deploy DEVICE=user@host[:port] | INVENTORY=fleet.ini [WHEEL=file.whl] [DEPLOY_ARGS='-e k=v']
deploy: $(STAMP)
	@DEVICE="$(DEVICE)" INVENTORY="$(INVENTORY)" WHEEL="$(WHEEL)" scripts/deploy.sh $(DEPLOY_ARGS)

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
