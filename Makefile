# drover.fleet: run `make demo` for the end-to-end job on a local lab, `make test` for every test.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: setup lock test unit lint sanity build demo demo-local lab-up lab-down clean

setup:
	@bash scripts/setup.sh

# Refresh requirements.lock from requirements*.in (LOCK_UPGRADE=1 takes the newest releases the ranges allow).
lock:
	@bash scripts/lock.sh

# Conventions first (ansible-lint, ansible-test sanity with empty ignore files), then every pytest test.
test: setup lint sanity
	$(PY) -m pytest -p no:cacheprovider $(PYTEST_ARGS) tests

unit: setup
	$(PY) -m pytest -p no:cacheprovider tests/unit tests/conformance

lint: setup
	$(VENV)/bin/ansible-lint --profile production

sanity: setup
	bash scripts/sanity.sh

build: setup
	$(VENV)/bin/ansible-galaxy collection build --force --output-path build/

demo: setup
	$(PY) demo/fleet.py

demo-local: setup
	$(PY) demo/local.py

lab-up: setup
	$(VENV)/bin/drover lab up --hosts 5

lab-down: setup
	$(VENV)/bin/drover lab down

clean:
	rm -rf build .pytest_cache .hypothesis tests/output
