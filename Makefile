# freigabe — install and run through this file; nothing needs to be installed by hand.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint typecheck unit tools bench mutate clean

demo: $(STAMP)
	$(BIN)/freigabe demo

test: tools $(STAMP) lint typecheck unit

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "freigabe needs Python 3.11 or newer: set PYTHON=python3.11 (or newer)")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# Debian packages the tests use (tools/debian-packages.txt), installed when their capability is missing.
tools:
	@sh tools/install-debian-packages.sh

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools
	$(BIN)/ruff format --check src tests bench tools

typecheck: $(STAMP)
	$(BIN)/mypy src tests bench tools

unit: $(STAMP)
	$(BIN)/pytest -q -n auto

bench: tools $(STAMP)
	$(BIN)/python bench/deploy_local.py --rounds 5 --dir /dev/shm
	$(BIN)/python bench/deploy_local.py --rounds 5
	$(BIN)/python bench/ssh_deploy.py --rounds 3
	$(BIN)/python bench/recovery_times.py --rounds 5
	$(BIN)/python bench/switch_under_load.py --seconds 20 --runs 3
	$(BIN)/python bench/fleet.py --rounds 3

# Break each trust invariant in a copy of the code; every mutant must be killed (slow: not in `test`).
mutate: tools $(STAMP)
	$(BIN)/python tools/mutate.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
