# make run   install into a venv, migrate, seed demo data, serve on http://127.0.0.1:8000 (and a task worker)
# make test  install the dev dependencies into the venv and run the whole test suite
# make lint  ruff check + ruff format --check
# make typecheck  mypy with django-stubs and djangorestframework-stubs over the apps ([tool.mypy])
# make bench the benchmark against gunicorn on PostgreSQL (BENCH_DATABASE_URL; bench/RESULTS.md)
#
# DATABASE_URL=postgres://user@host:5432/name switches run and test to PostgreSQL.
# Overridable: VENV (default .venv), PYTHON (interpreter that creates the venv), PYTEST_ARGS (default
# `-n auto`: one pytest-xdist worker per core, each with its own test database; `PYTEST_ARGS=` runs serially).

VENV ?= .venv
PYTHON ?= python3
PYTEST_ARGS ?= -n auto
VENV_PYTHON = $(VENV)/bin/python

.PHONY: run test lint typecheck bench venv python-version

# The project needs Python 3.12 (pyproject.toml's requires-python): say so before pip does, in
# its own words ("No matching distribution found for Django"). Checks the venv's interpreter when
# the venv exists (one made by an older Python is no better), else $(PYTHON).
python-version:
	@interpreter="$(PYTHON)"; if [ -x "$(VENV_PYTHON)" ]; then interpreter="$(VENV_PYTHON)"; fi; \
	if ! "$$interpreter" -c 'import sys; sys.exit(sys.version_info[:2] < (3, 12))' >/dev/null 2>&1; then \
		found=$$("$$interpreter" --version 2>&1 | head -n 1); \
		echo "This project needs Python 3.12 or newer; $$interpreter is: $${found:-not found}." >&2; \
		echo "Install Python 3.12 and pass it, e.g. make run PYTHON=python3.12" >&2; \
		if [ -x "$(VENV_PYTHON)" ]; then echo "(and remove $(VENV), which an older Python made)." >&2; fi; \
		exit 1; \
	fi

venv: python-version
	test -x $(VENV_PYTHON) || $(PYTHON) -m venv $(VENV)

run: venv
	$(VENV_PYTHON) -m pip install .
	DJANGO_DEBUG="$${DJANGO_DEBUG:-1}" $(VENV_PYTHON) manage.py migrate --no-input
	DJANGO_DEBUG="$${DJANGO_DEBUG:-1}" $(VENV_PYTHON) manage.py seed_demo
	@# The task worker (recovery emails, payment retries) runs beside the server and stops with it.
	DJANGO_DEBUG="$${DJANGO_DEBUG:-1}" sh -c '$(VENV_PYTHON) manage.py db_worker & worker=$$!; \
		trap "kill $$worker 2>/dev/null" EXIT INT TERM; $(VENV_PYTHON) manage.py runserver 127.0.0.1:8000'

test: venv
	$(VENV_PYTHON) -m pip install '.[dev]'
	$(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

lint: venv
	$(VENV_PYTHON) -m pip install '.[dev]'
	$(VENV_PYTHON) -m ruff check .
	$(VENV_PYTHON) -m ruff format --check .

typecheck: venv
	$(VENV_PYTHON) -m pip install '.[dev]'
	$(VENV_PYTHON) -m mypy

bench: venv
	$(VENV_PYTHON) -m pip install '.[bench]'
	$(VENV_PYTHON) bench/run.py $(BENCH_ARGS)
