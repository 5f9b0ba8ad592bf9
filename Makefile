# Set-up and checks. `make demo` and `make test` work on a fresh machine:
# both create .venv and install what they need first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install demo test unit integration interop docs benchmark clean

$(STAMP): setup.py setup.cfg $(wildcard requirements/*.txt requirements/extras/*.txt)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip setuptools wheel
	$(BIN)/python -m pip install -q -r requirements/dev.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	$(BIN)/python -m compileall -q celery
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/python examples/demo.py

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)
	$(MAKE) docs

unit: $(STAMP)
	$(BIN)/python -m pytest t/unit $(PYTEST_ARGS)

integration: $(STAMP)
	$(BIN)/python -m pytest t/integration $(PYTEST_ARGS)

interop: $(STAMP)
	$(BIN)/python -m pytest t/interop $(PYTEST_ARGS)

docs: $(STAMP)
	$(BIN)/python -m sphinx -W --keep-going -q -b html docs docs/_build/html

benchmark: $(STAMP)
	$(BIN)/python -m t.benchmarks $(ARGS)

clean:
	rm -rf $(VENV) .cache docs/_build build *.egg-info
