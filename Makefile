# formwhy: the two commands a new machine needs are `make run` and `make test` (see README.md).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test lint data bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, from the CPU wheel on this machine's disk (a CUDA build would be several GB)
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[llm,serve,dev]"
	@touch $(STAMP)

setup: $(STAMP)

## the main job on the embedded default: build the data, train + calibrate the fast model, classify the spec examples
run: setup
	$(BIN)/formwhy data build
	$(BIN)/formwhy train features
	$(BIN)/formwhy classify src/formwhy/spec/examples/*.json

## the test suite (what CI runs)
test: setup
	$(BIN)/ruff check src tests
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src tests

data: setup
	$(BIN)/formwhy data build

clean:
	rm -rf $(VENV) data/synthetic runs .pytest_cache .ruff_cache
