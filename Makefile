# One command to set up and run the product, one to set up and run the tests.
#   make run    - create .venv, install petbooth[engine], start the bot + one engine per GPU
#   make test   - create .venv, install petbooth with test tools, lint, type-check, test
# On a machine without an NVIDIA GPU, torch is pinned to the CPU build first so pip never
# pulls the multi-GB CUDA wheel; with a GPU, pip takes the normal CUDA build.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
CPU_TORCH ?= torch==2.13.0
# The exact releases the project is tested with (see the file's header); `make constraints`
# takes newer ones.
PIN    := -c constraints.txt
HAS_GPU := $(shell command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1 && echo yes)

.PHONY: setup setup-test run engine test lint bench gpu-kit constraints clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# The product trains and draws, so `setup` installs the engine extra; `.[test]` includes it.
setup: $(BIN)/python
ifneq ($(HAS_GPU),yes)
	$(BIN)/pip install --quiet $(PIN) "$(CPU_TORCH)"
endif
	$(BIN)/pip install --quiet $(PIN) -e ".[engine]"

setup-test: $(BIN)/python
ifneq ($(HAS_GPU),yes)
	$(BIN)/pip install --quiet $(PIN) "$(CPU_TORCH)"
endif
	$(BIN)/pip install --quiet $(PIN) -e ".[test]"

run: setup
	$(BIN)/petbooth run

lint:
	$(BIN)/ruff check bot engine tests bench
	$(BIN)/ruff format --check bot engine tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

test: setup-test lint
	HF_HUB_OFFLINE=1 $(BIN)/pytest -q

bench: setup
	$(BIN)/python bench/train_speed.py

# Wheels for a lent GPU machine (.whl/) and the one command to run there: bench/gpu/run.
gpu-kit:
	PYTHON=$(PYTHON) bench/gpu/prepare

# Newest releases that pyproject.toml allows, into constraints.txt (then run `make test`, and
# bring the Dockerfile's and bench/gpu/wheels.txt's pins along: a test compares them).
constraints:
	rm -rf .venv-constraints
	$(PYTHON) -m venv .venv-constraints
	.venv-constraints/bin/pip install --quiet "$(CPU_TORCH)"
	.venv-constraints/bin/pip install --quiet -e ".[test]"
	{ sed -n '/^#/p' constraints.txt; .venv-constraints/bin/pip freeze --exclude-editable \
	    | sed 's/^torch==\([^+]*\)+cpu$$/torch==\1/'; } > constraints.new
	mv constraints.new constraints.txt
	rm -rf .venv-constraints

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
