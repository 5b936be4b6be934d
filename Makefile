# Two entry points that work on a fresh clone with only Python and pip:
#   make train   trains LeNet-5 (MNIST if present, else the bundled sample)
#   make test    runs the test suite
# Each creates .venv and installs the package into it on first use.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=

.PHONY: train test bench lint venv clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/tinygrad-cnn train $(ARGS)

test: $(STAMP)
	@$(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; \
	exit $$rc

bench: $(STAMP)
	$(BIN)/tinygrad-cnn bench
	$(BIN)/python examples/benchmark_layers.py
	$(BIN)/python examples/benchmark_overhead.py

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/python -m ruff check tinygrad_cnn tests examples

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis
