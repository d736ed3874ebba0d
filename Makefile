# Two commands do all the set-up: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
DEMO   ?= demo-output

.PHONY: demo test bench bench-gpu install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/ringmo demo $(DEMO)

test: $(STAMP)
	$(BIN)/python -m pytest

bench: $(STAMP)
	$(BIN)/python -m benchmarks --write BENCHMARKS.md

# on a CUDA machine: Swin-B@192 bf16 step time, img/s, data wait, memory, torch.compile (tiny on CPU)
bench-gpu: $(STAMP)
	$(BIN)/python -m benchmarks gpu

clean:
	rm -rf $(DEMO) .pytest_cache
