# The README's two commands are `make run` and `make test`.
# Both create .venv and install what is missing first.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: run test lint fmt bench-http clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt requirements.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Start the whole product on the embedded default (or on DATABASE_URL/REDIS_URL when set).
run: $(VENV)/.runtime
	$(PY) -m config.launcher

## Run the test suite (on the embedded default, or against DATABASE_URL/REDIS_URL when set),
## on two pytest-xdist workers (PYTEST_WORKERS=0: one process), the tests that start
## processes staying together on one of them (tests/conftest.py).
PYTEST_WORKERS ?= 2
test: $(VENV)/.dev
	$(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

fmt: $(VENV)/.dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench-http: $(VENV)/.dev
	$(PY) bench/http_load.py

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache
