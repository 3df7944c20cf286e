# Every target does its own set-up from a clean clone: virtualenv, install, services.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint services install clean chaos readme-graph

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

services:
	bash scripts/services.sh

demo: install services
	$(BIN)/sagabus demo

test: install services
	bash scripts/browser.sh
	$(BIN)/python -m pytest -q -rs -p no:cacheprovider

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install services
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	# the bytecode an installed sagabus has (pip compiles a wheel's modules; an editable
	# install under PYTHONDONTWRITEBYTECODE never does): `sagabus status` as a process
	# then times start-up, not compiling 40 modules (about 30 ms)
	$(BIN)/python -m compileall -q bus saga_dsl sagabus handlers
	$(BIN)/python -m bench.scenario_bench
	$(BIN)/python -m bench
	$(BIN)/python -m bench.console_bench

chaos: install services
	$(BIN)/python tests/chaos/run.py
	$(BIN)/python tests/chaos/run.py --store sqlite --daemons 1

clean:
	rm -rf $(VENV) sagabus.db* .pytest_cache .mypy_cache .ruff_cache

readme-graph: install
	$(BIN)/python scripts/readme_graph.py
