# The README's two commands: `make demo` and `make test`. Each makes .venv if missing,
# installs torch==2.13.0 FIRST (the local CPU wheel; a later unpinned `torch` requirement
# is then already satisfied, so pip never pulls a CUDA build), then rnnkit with dev extras.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rnnkit-installed

.PHONY: demo test bench lint clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/rnnkit demo

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) rnnkit-demo .pytest_cache
