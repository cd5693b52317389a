# The two set-up commands of the README: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
DEMO_DIR ?= demo-output
PIP    := $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test venv lint clean

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

lint: $(VENV)/.installed-test
	$(BIN)/python -m ruff check src tests benchmarks

clean:
	rm -rf $(VENV) $(DEMO_DIR) .pytest_cache .ruff_cache
