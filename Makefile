# formwhy: the two commands a new machine needs are `make run` and `make test` (see README.md).
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LLAMA_VERSION := $(shell sed -n 's/.*llama-cpp-python\[server\]==\([0-9.]*\).*/\1/p' pyproject.toml)
# portable on x86-64 (AVX2, no AVX-512/AMX kernels); llama.cpp's defaults elsewhere
LLAMA_CMAKE_ARGS ?= $(if $(filter x86_64,$(shell uname -m)),-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON)

.PHONY: setup run test lint data bench clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first, from the CPU wheel on this machine's disk (a CUDA build would be several GB)
	$(BIN)/pip install --quiet "torch==2.13.0"
	# llama-cpp-python builds from source (~9 min on 2 cores), on x86-64 for any CPU with AVX2: a -march=native build
	# segfaults on the Gemma GGUF on CPUs with AMX (seen 2026-12-02); --no-cache-dir keeps pip from reusing a wheel
	# built natively before. The version is the `llamacpp` extra's in pyproject.toml.
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/pip install --quiet --no-cache-dir "llama-cpp-python[server]==$(LLAMA_VERSION)"
	$(BIN)/pip install --quiet -e ".[llm,serve,dev,llamacpp,qlora]"
	@touch $(STAMP)

setup: $(STAMP) chromium

## the main job on the embedded default: build the data, train + calibrate the fast model, classify the spec's
## examples with the shipped fine-tuned LLM adapter (Gemma 3 270M + LoRA, adapters/gemma3-270m-formwhy), then serve
## the API (features -> llm routing) and the demo checkout on http://127.0.0.1:8080/demo (no API key; Ctrl-C stops)
run: setup
	$(BIN)/formwhy data build
	$(BIN)/formwhy train features
	$(BIN)/formwhy classify src/formwhy/spec/examples/*.json
	@echo "open http://127.0.0.1:8080/demo"
	$(BIN)/formwhy serve --host 127.0.0.1 --port 8080 --no-auth

## the test suite (what CI runs)
test: setup
	$(BIN)/ruff check src tests deploy bench
	$(BIN)/formwhy models pull gemma3-270m
	# llama.cpp's LoRA converter (from the llama-cpp-python sdist on PyPI) for the live llama.cpp test
	$(BIN)/formwhy models converter
	$(BIN)/python -m pytest -q
	@if command -v node >/dev/null; then node --test deploy/cloudflare/test/; else echo "node not found: skipping the Worker tests"; fi

lint: setup
	$(BIN)/ruff check src tests

data: setup
	$(BIN)/formwhy data build

clean:
	rm -rf $(VENV) data/synthetic runs .pytest_cache .ruff_cache

## headless Chromium for tests/test_browser.py (Debian package; Playwright drives it, `playwright install` is not
## used). Idempotent: nothing to do when /usr/bin/chromium exists; without root it only warns (the test then skips).
.PHONY: chromium serve loadtest
chromium:
	@test -x /usr/bin/chromium || { if [ "$$(id -u)" = 0 ]; then apt-get update && apt-get install -y chromium; \
	  else echo "warning: /usr/bin/chromium is missing and this is not root: the browser test will be skipped"; fi; }

## the HTTP service on 127.0.0.1:8080 (needs FORMWHY_API_KEY; see docs/service.md)
serve: setup
	$(BIN)/formwhy serve --host 127.0.0.1 --port 8080

## HTTP load test of the fast path (writes bench/results/service_load.json)
loadtest: setup
	$(BIN)/python bench/load_test.py
