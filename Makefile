# Two set-up-free entry points: `make run` (default scenario -> results/) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SCENARIO ?= scenarios/exchange-online-30h-outage.yaml
OUT ?= results

.PHONY: run test bench venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Re-install whenever pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

run: $(VENV)/.installed
	$(BIN)/mtasim run $(SCENARIO) --out $(OUT) --attempts

# The engine's seams are typed: mypy checks them before the tests run.
TYPED := src/mtasim/engine src/mtasim/sender.py src/mtasim/schedules.py src/mtasim/hosts.py \
	src/mtasim/giveup.py src/mtasim/queue_order.py

# Two workers: the suite stays well under 5 minutes on a 2-core machine.
test: $(VENV)/.installed
	$(BIN)/python -m mypy --ignore-missing-imports $(TYPED)
	$(BIN)/python -m pytest -q -n 2

# Speed claims live here, as ratios measured in one process (not in the test suite).
bench: $(VENV)/.installed
	$(BIN)/python benchmarks/curve.py
	$(BIN)/python benchmarks/engines.py --cases postfix --sizes 100000,1000000 --repeat 5 --baseline-max 100000
	$(BIN)/python benchmarks/engines.py --cases capacity --sizes 1000000 --repeat 3 --baseline-max 1000000

clean:
	rm -rf $(VENV) $(OUT)
