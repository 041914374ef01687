# nbpipe — two commands: `make demo` and `make test`. Both create/update .venv themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.nbpipe-installed
# Airflow 3 in its own venv (its pins must not constrain ours): the Airflow export tests use it.
AIRFLOW_VENV  := .venv-airflow
AIRFLOW_STAMP := $(AIRFLOW_VENV)/.nbpipe-installed

.PHONY: setup system-deps demo test test-fast lint format bench clean help

help:
	@echo "make demo   - set up .venv, land sample data, run the example pipelines, write runs/index.html"
	@echo "make test   - set up .venv and system packages, run the whole test suite"
	@echo "make lint   - ruff, mypy, import-linter"
	@echo "make .venv-airflow - Airflow 3 in its own venv (make test builds it; the Airflow export tests use it)"

$(STAMP): pyproject.toml
	@scripts/check-java.sh
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet -e '.[dev,demo,kafka]'
	@touch $(STAMP)

setup: $(STAMP)

$(AIRFLOW_STAMP): requirements/airflow.txt
	@test -x $(AIRFLOW_VENV)/bin/python || $(PYTHON) -m venv $(AIRFLOW_VENV)
	$(AIRFLOW_VENV)/bin/python -m pip install --quiet -r requirements/airflow.txt
	@touch $(AIRFLOW_STAMP)

$(AIRFLOW_VENV): $(AIRFLOW_STAMP)

system-deps:
	@scripts/system-deps.sh

demo: setup
	$(BIN)/nbpipe demo

test: setup system-deps $(AIRFLOW_STAMP)
	$(BIN)/python -m pytest -n 2 --dist loadfile $(PYTEST_ARGS)

test-fast: setup
	$(BIN)/python -m pytest -m "not spark and not browser and not postgres and not kafka and not cluster" $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

format: setup
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

bench: setup
	@for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(AIRFLOW_VENV) runs/*/ runs/nbpipe.db* warehouse data .pytest_cache .mypy_cache .ruff_cache
