# sandbench's one task runner; CI calls `make test` unchanged (.ci/run).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
EXAMPLE ?= examples/modules/vendas

.PHONY: demo demo-python test lint typecheck unit bench examples clean

# Set up and run the main job: check an example module in the WASM sandbox.
demo: $(VENV)/.core
	$(BIN)/sandbench check $(EXAMPLE)

# The same for a module written in Python: build it into a WebAssembly component, check it.
demo-python: $(VENV)/.core
	$(BIN)/sandbench build examples/modules/pricing-py
	$(BIN)/sandbench check examples/modules/pricing-py

# Set up and run everything CI runs: lint, types, the whole test suite, benchmark smoke run.
test: lint typecheck unit

# sandbench alone, for the demos: a newcomer's first command does not wait for the test and
# lint tools (26 s instead of 38 s here).
# The C extension (setup.py) is built by the install: an edit of its source rebuilds it.
NATIVE := setup.py src/sandbench/sandbox/wasm/_native.c

$(VENV)/.core: pyproject.toml $(NATIVE)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed: pyproject.toml $(NATIVE)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $(VENV)/.core $@

# lint-imports: the import direction of docs/architecture.md ([tool.importlinter]).
lint: $(VENV)/.installed
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

typecheck: $(VENV)/.installed
	$(BIN)/mypy src

# pytest exits 5 when it collected no test: make fails on any non-zero status.
unit: $(VENV)/.installed
	RUST_BACKTRACE=0 $(BIN)/python -m pytest --cov=sandbench --cov-report=term:skip-covered tests
	RUST_BACKTRACE=0 $(BIN)/python -m pytest --benchmark-disable -q benchmarks

# Benchmarks with timings; ratios against raw wasmtime-py are printed at the end.
bench: $(VENV)/.installed
	RUST_BACKTRACE=0 $(BIN)/python -m pytest benchmarks --benchmark-only --benchmark-columns=median,iqr,rounds

# Rebuild the C example modules (needs Debian's clang lld wasi-libc libclang-rt-14-dev-wasm32).
examples:
	bash examples/modules/vendas/build.sh
	bash examples/modules/hostile/build.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis .benchmarks .coverage build
	rm -f src/sandbench/sandbox/wasm/_native*.so
