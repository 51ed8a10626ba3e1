# make demo: create .venv if needed, install, run the built-in demo end to end.
# make test: the same venv, the whole suite.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format conformance bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/mitm-pincheck demo --out pincheck-demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

# Rerun the conformance matrix and rewrite docs/conformance.md with what the clients did.
conformance: $(STAMP)
	$(BIN)/python tools/conformance.py

lint: $(STAMP)
	$(BIN)/ruff check mitm_pincheck tests addons benchmarks tools
	$(BIN)/ruff format --check mitm_pincheck tests addons benchmarks tools

format: $(STAMP)
	$(BIN)/ruff format mitm_pincheck tests addons benchmarks tools

clean:
	rm -rf $(VENV) pincheck-demo pincheck-out *.egg-info
