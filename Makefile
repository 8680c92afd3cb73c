# The README's two commands: `make demo` and `make test`. Each makes .venv if missing,
# installs torch==2.13.0 FIRST (the local CPU wheel; a later unpinned `torch` requirement
# is then already satisfied, so pip never pulls a CUDA build), then rnnkit with the extras
# the command needs (demo: `demo`; test: `dev`).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.rnnkit-installed
DEMO_STAMP := $(VENV)/.rnnkit-demo-installed

.PHONY: demo test bench lint clean kernels

$(BIN)/python:
	$(PY) -m venv $(VENV)

# the demo needs only the `demo` extra: the dev extras (Keras, ONNX, selenium, statsforecast,
# ...) took 89 of a fresh `make demo`'s 166 s on 2 cores. --no-compile: pip byte-compiles
# every installed file on one core (torch's alone, 22 s of a fresh 119 s `make demo` on
# 2 cores); the demo compiles only the modules it imports, when it imports them (76-82 s in all)
$(DEMO_STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --no-compile torch==2.13.0
	$(BIN)/pip install --quiet --no-compile -e '.[demo]'
	touch $(DEMO_STAMP)

# the tests start many Python processes, each importing torch: compile the whole venv once,
# on every core (27 s on 2), since a PYTHONDONTWRITEBYTECODE=1 shell would never cache them.
# `|| true`: a few files only a newer Python parses (torch's py312 tests) fail, as under pip
$(STAMP): $(DEMO_STAMP)
	$(BIN)/pip install --quiet --no-compile -e '.[dev]'
	$(BIN)/python -m compileall -qq -j 0 $(VENV)/lib || true
	touch $(STAMP)

# the compiled CPU kernels (rnnkit.compiled), ~30 s of compiling: `make test` builds them
# (or `make kernels`); the demo does not wait for them (layers run without them, more slowly).
# Always asked (2 s when built): the build is per sources, torch and CPU, which a stamp file
# here would not follow (a venv on a shared disk, used from a node with another CPU)
kernels: $(STAMP)
	$(BIN)/python -m rnnkit.compiled

demo: $(DEMO_STAMP)
	$(BIN)/rnnkit demo

# the whole suite on the compiled kernels, then the layer tests again with them turned off
test: kernels
	$(BIN)/python -m pytest
	RNNKIT_COMPILED=0 $(BIN)/python -m pytest tests/test_compiled.py tests/test_layers.py \
		tests/test_cells.py tests/test_min_cells.py tests/test_torch_interop.py \
		tests/test_ln_cells.py

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks examples

clean:
	rm -rf $(VENV) rnnkit-demo .pytest_cache
