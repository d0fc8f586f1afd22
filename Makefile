# Every target creates .venv on first use and reuses it afterwards.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# What the operating system must provide (python3-venv; Qt's X11 libraries and Xvfb for napari
# and the GUI tests) is installed by tools/setup-system where missing, via sudo when not root.
SYSTEM := tools/setup-system

.PHONY: venv run demo test bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	PYTHON=$(PYTHON) $(SYSTEM) venv
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[qt,test]'
	touch $(STAMP)

# With a display napari opens there; without one it runs under Xvfb (and says so).
run: $(STAMP)
	$(SYSTEM) run -- $(BIN)/python -m napari_znn

# Headless: generate synthetic EM data, train tiny2d for 3 minutes, predict a separate volume,
# segment it and print pixel error, boundary F1 and adapted Rand error. Output in demo-output/.
demo: $(STAMP)
	$(BIN)/znn demo --output demo-output $(DEMO_ARGS)

# Lint and type checks first (seconds), then the tests. GUI tests use the display, else Xvfb;
# without either they skip and say why.
test: $(STAMP)
	$(BIN)/ruff check engine src tests
	$(BIN)/mypy
	QT_QPA_PLATFORM=xcb $(SYSTEM) test -- $(BIN)/python -m pytest $(PYTEST_ARGS)

# The speed comparison with PyTorch (CPU); never part of `make test` or CI. Results go to
# bench-results/. Installs the `bench` extra (PyTorch) the first time. The full run (no
# BENCH_ARGS) times the table of nets at 1 and all threads, then N4's forward throughput at
# the planner's patch against PyTorch's best patch in an 8 GiB budget; BENCH_ARGS passes
# options through instead, e.g. make bench BENCH_ARGS=--quick; make bench BENCH_ARGS=strokes runs the
# strokes benchmark (our training from painted strokes against a random forest, on the EM stacks of
# ../shared/data).
bench: $(STAMP)
	$(BIN)/python -c "import torch" 2>/dev/null || $(BIN)/python -m pip install -q torch==2.13.0 \
		--index-url https://download.pytorch.org/whl/cpu || $(BIN)/python -m pip install -q -e '.[bench]'
	$(BIN)/znn bench $(BENCH_ARGS)
	@if [ -z "$(BENCH_ARGS)" ]; then $(BIN)/znn bench --patches N4 --budget 8GiB; fi

clean:
	rm -rf $(VENV) build dist .pytest_cache
