# mlframework: `make run` sets up and starts the platform; `make test` sets up
# and runs the whole test suite on real services.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run setup test system system-test lint format bench clean

run: setup
	ops/run.sh

setup: system $(VENV)/.runtime
	$(PY) manage.py private_files
	$(PY) manage.py check --fail-level ERROR
	$(PY) manage.py compilemessages --ignore=.venv -v0
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py migrate --database events --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py ensure_admin
	$(PY) manage.py demo load
	$(PY) manage.py demo_model
	$(PY) manage.py compile_models --missing
	$(PY) manage.py drift_reference --missing
	$(PY) manage.py demo_cases
	$(PY) manage.py demo_dispatch
	$(PY) manage.py monitor --install-cron

test: system-test $(VENV)/.dev
	$(PY) manage.py compilemessages --ignore=.venv -v0
	ops/test.sh

system:
	ops/install_system.sh

system-test:
	ops/install_system.sh --test

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -r requirements-dev.txt
	touch $(VENV)/.runtime $@

lint:
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

format:
	$(VENV)/bin/ruff check --fix . && $(VENV)/bin/ruff format .

clean:
	rm -rf $(VENV) var
