# Entry points that work on a fresh clone with only Python and pip:
#   make train    trains LeNet-5 (MNIST if present, else the bundled sample)
#   make test     runs the test suite (with the code blocks of docs/**/*.md)
#   make figures  reruns examples/lecture/ and writes its pictures into build/figures/
#   make docs-pictures  redraws the pictures tracked in docs/ (the lecture's, the LeNet-5
#                 graphs and explorer page) from the code: the one target that rewrites files in docs/
#   make docs     builds the documentation site into site/ (Sphinx, warnings are errors)
#   make architecture  redraws docs/architecture.svg and .png, the package's layers and
#                 imports, from the code (needs Graphviz's dot)
# Each creates .venv and installs the package into it on first use (figures and docs add the
# "plot" and "docs" extras).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
ARGS ?=
PYTEST_ARGS ?=

PLOT_STAMP := $(VENV)/.installed-plot
DOCS_STAMP := $(VENV)/.installed-docs
# One BLAS thread for tests, figures and docs. With two threads, each matrix product waits
# for both; on a CPU shared with other processes that wait is a scheduler slice, so the test
# suite took 119 s instead of 36 s on a busy 2-core machine. Timings in the lecture also
# compare one core with one core.
ONE_THREAD := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

.PHONY: train test bench lint venv clean figures docs-pictures docs gpu-check architecture

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	touch $(STAMP)

train: $(STAMP)
	$(BIN)/tinygrad-cnn train $(ARGS)

# The suite runs twice: on the CPU, then on device cuda through the strict CuPy double
# (tests/cupy_double.py), so the GPU code path is tested on machines without a GPU.
test: $(STAMP)
	@$(ONE_THREAD) $(BIN)/python -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; exit 1; fi; \
	if [ $$rc -ne 0 ]; then exit $$rc; fi; \
	echo "== the same suite on device cuda, through the CuPy test double"; \
	$(ONE_THREAD) TINYGRAD_CNN_TEST_CUPY=double TINYGRAD_CNN_DEVICE=cuda \
		$(BIN)/python -m pytest $(PYTEST_ARGS); \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating as a failure"; \
	exit 1; fi; exit $$rc

bench: $(STAMP)
	$(BIN)/tinygrad-cnn bench
	$(BIN)/python examples/benchmark_layers.py
	$(BIN)/python examples/benchmark_overhead.py

# On a machine with a GPU, CuPy and (optionally) a CUDA PyTorch already installed: runs the
# checkout as it is, offline (no venv, no downloads). Wheels of anything else it needs
# (graphviz, tqdm) may be put in .whl/ beforehand; they are unpacked into .gpu-site/.
gpu-check:
	@if [ -d .whl ]; then $(PYTHON) -m pip install -q --no-index --no-deps --upgrade \
		--target .gpu-site .whl/*.whl; fi
	PYTHONPATH="$(CURDIR):$(CURDIR)/.gpu-site$${PYTHONPATH:+:$$PYTHONPATH}" \
		$(PYTHON) examples/gpu_check.py $(ARGS)

$(PLOT_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[plot]"
	touch $(PLOT_STAMP)

$(DOCS_STAMP): $(STAMP)
	$(BIN)/python -m pip install --quiet -e ".[docs]"
	touch $(DOCS_STAMP)

# figures writes into build/ (ignored by git), so trying the lecture never changes docs/;
# docs-pictures is for regenerating the pictures the documentation shows, to be committed.
figures: $(PLOT_STAMP)
	mkdir -p build/figures
	$(ONE_THREAD) MPLBACKEND=Agg $(BIN)/python examples/lecture/make_figures.py build/figures
	@echo "pictures in build/figures/ (make docs-pictures rewrites those in docs/)"

docs-pictures: $(PLOT_STAMP)
	$(ONE_THREAD) MPLBACKEND=Agg $(BIN)/python examples/lecture/make_figures.py docs/lecture/img
	$(BIN)/python examples/draw_graph.py --out docs
	$(BIN)/python examples/draw_graph.py --out docs --format png

# The layer table lives in tinygrad_cnn/viz/architecture.py; tests/test_layout.py enforces it.
# The script fails (after drawing) when the imports break the table.
architecture: $(STAMP)
	$(BIN)/python -m tinygrad_cnn.viz.architecture docs/architecture.svg docs/architecture.png

docs: $(DOCS_STAMP)
	rm -rf site docs/gallery docs/sg_execution_times.rst
	$(ONE_THREAD) $(BIN)/python -m sphinx -b html -W --keep-going -d build/doctrees docs site
	@echo "documentation site: site/index.html"

lint: $(STAMP)
	$(BIN)/python -m pip install --quiet ruff
	$(BIN)/python -m ruff check tinygrad_cnn tests examples

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .hypothesis .gpu-site site docs/gallery \
		docs/sg_execution_times.rst
