# Every target bootstraps .venv when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Test processes (pytest-xdist): two more than the cores, as many tests wait on LibreOffice, servers or a child
# (on 2 cores, 4 processes: 6 min 00 s for the suite in CI; 3 processes took 10 min 17 s before the signing fork server).
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 2 )))
# Python's bytecode cache, which a machine may turn off (PYTHONDONTWRITEBYTECODE, as CI's does): the tests start
# about a hundred Python processes afresh, and each would compile congvan and the tests from source again (collecting the
# suite: 10.9 s of CPU without the cache, 6.3 s with it); a user's `congvan` writes it on its first run.
PYC := env -u PYTHONDONTWRITEBYTECODE

.PHONY: venv system setup demo test bench lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "congvan needs Python 3.11 or newer (found %s)" % sys.version.split()[0])'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

# System packages (LibreOffice, poppler, fonts; PostgreSQL, Postfix and Dovecot for the tests): installed when missing.
system:
	@scripts/system-deps.sh demo

# Everything a coordinator's machine needs to run congvan (no demo run): the first of the guide's commands.
setup: $(STAMP)
	@scripts/system-deps.sh demo

demo: $(STAMP)
	@scripts/system-deps.sh demo
	$(BIN)/congvan demo

test: $(STAMP)
	@scripts/system-deps.sh test
	$(PYC) $(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

bench: $(STAMP)
	$(PYC) $(BIN)/python bench/run.py

lint: $(STAMP)
	$(BIN)/ruff check congvan tests bench templates $(wildcard flows)
	$(BIN)/mypy --strict congvan flows

clean:
	rm -rf $(VENV) outputs/*.db outputs/demo
