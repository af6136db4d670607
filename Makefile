# One task runner. `make test` is the README's test command.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: install run test lint bench

$(PY):
	python3 -m venv $(VENV)

install: $(PY)
	$(VENV)/bin/pip install -e '.[server,mcp,test]'

run: install
	$(VENV)/bin/carelog serve

test: install
	$(PY) -m pytest

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check . && $(PY) -m mypy

bench: install
	$(PY) bench/load.py
