# The two commands of the quick start: `make demo` and `make test`.
# Each prepares what it needs: a virtual environment in .venv with the
# project installed, and (for the tests) the system packages they drive.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: demo test test-fast lint bench system-deps clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[demo,test]'
	touch $(STAMP)

## Run a whole hall on this machine and print the addresses to open.
demo: $(STAMP)
	$(BIN)/hallrate demo $(ARGS)

## Run the whole test suite (lint included) against a real Mosquitto, the test files
## in a new order each time (the seed is printed: ARGS=--file-order-seed=N repeats it).
test: system-deps $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest --file-order=shuffled $(ARGS)

## The edit loop: the same, without the tests marked slow (fault injection, long
## outages, the wheel), which `make test` still runs.
test-fast: system-deps $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/pytest --file-order=shuffled -m "not slow" $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: $(STAMP) system-deps
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/latency.py
	$(BIN)/python bench/boards.py
	$(BIN)/python bench/evaluator.py
	$(BIN)/python bench/idle.py

system-deps:
	sh .ci/system-deps

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
