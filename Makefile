# lstmgen: `make demo` runs the whole pipeline; `make test` runs the test suite.
# Both do all set-up on a fresh machine: a virtual env (torch==2.13.0 first, then the package
# with its test extras) and, for the tests, the system tools (installed when missing and root).

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.lstmgen-installed
PYTEST_ARGS ?=
JOBS   ?= 2

.PHONY: demo test tools lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.13.0
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $@

## demo: train + prune + quantize + generate C + verify bit-exact on the embedded digits data
demo: $(STAMP)
	$(BIN)/lstmgen demo --out lstmgen-demo

## tools: the compilers, emulators and checkers the tests drive
tools:
	@bash .ci/install-tools

## test: everything but the slow (PTB) tests; `make test PYTEST_ARGS="-m slow"` for those
test: $(STAMP) tools
	$(BIN)/python -m pytest -n $(JOBS) $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check lstmgen tests hw_tests bench examples

clean:
	rm -rf $(VENV) lstmgen-demo build dist *.egg-info .pytest_cache .hypothesis
