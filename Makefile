# Developer entry points. `make test` is what CI runs (.ci/run); `make demo` is the README's demo.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: test lint unit demo sandbox clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

lint: $(BIN)/.installed
	$(BIN)/ruff check operator tests benchmarks
	$(BIN)/ruff format --check operator tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/pytest

unit: $(BIN)/.installed
	$(BIN)/pytest tests/unit

demo: $(BIN)/.installed
	$(BIN)/acs-smtp-operator demo

sandbox: $(BIN)/.installed
	$(BIN)/acs-smtp-operator sandbox --manifest .sandbox/manifest.json --workdir .sandbox

clean:
	rm -rf $(VENV) .sandbox .pytest_cache .mypy_cache .ruff_cache
