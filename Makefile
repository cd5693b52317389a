# The two set-up commands of the README: `make demo` and `make test`.
# Developer habits: `make lint` (ruff), `make typecheck` (mypy on src/, level in pyproject's
# [tool.mypy]), `make test-fast` (the tests without the slow ones, for the inner loop).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_DIR ?= demo-output
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test test-fast venv lint typecheck clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(PIP) -e '.[all]'
	@touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(PIP) -e '.[test]'
	@touch $@

venv: $(VENV)/.installed

## make demo: create .venv, install semlab with all its stages, run the end-to-end demo on synthetic data
demo: $(VENV)/.installed
	$(BIN)/semlab demo --out $(DEMO_DIR)

## make test: install the test extras into the same venv and run the tests
test: $(VENV)/.installed-test
	$(BIN)/python -m pytest

## make test-fast: the tests without those marked slow (demo runs, model training)
test-fast: $(VENV)/.installed-test
	$(BIN)/python -m pytest -m "not slow"

## make lint: ruff on the code, the tests and the benchmarks
lint: $(VENV)/.installed-test
	$(BIN)/python -m ruff check src tests benchmarks

## make typecheck: mypy on src/ at the level stated in pyproject.toml's [tool.mypy]
typecheck: $(VENV)/.installed-test
	$(BIN)/python -m mypy

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache .mypy_cache
