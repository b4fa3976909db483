# Two commands do all the set-up on a fresh Debian/Ubuntu machine with Python 3.11:
#   make run    install (first time) and launch the app
#   make test   install (first time) and run the tests
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test test-slow test-all bench lint system-deps peers clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

system-deps:
	@bash scripts/system-deps.sh
	@bash scripts/postgres.sh

run: system-deps $(STAMP)
	$(VENV)/bin/detector-app $(ARGS)

# The other tools' readers (Ultralytics, labelme, Datumaro) in .venv-peers, for the tests that read our exports
# back; rebuilt only when tests/peer-requirements.txt changes (tests/peers.py).
peers: $(STAMP)
	$(PY) -m tests.peers

test: system-deps $(STAMP) peers
	$(PY) -m pytest $(PYTEST_ARGS)

test-slow: system-deps $(STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

test-all: system-deps $(STAMP) peers
	$(PY) -m pytest -m '' $(PYTEST_ARGS)

bench: $(STAMP)
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

lint: $(STAMP)
	$(VENV)/bin/ruff check detector_app tests benchmarks plugins

clean:
	rm -rf $(VENV) .venv-peers .pytest_cache build *.egg-info
