# QueryLab: `make run` to serve, `make test` to test. Both set everything up first.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PORT ?= 8000
VENV := .venv
PY := $(VENV)/bin/python
UV_VERSION := 0.13.8
SYNCED := $(VENV)/.synced

.PHONY: help setup run serve test test-fast lint format bench clean

help:
	@echo "make run    set up (venv, dependencies, migrations, seed) and serve on http://127.0.0.1:$(PORT)"
	@echo "make test   set up and run the whole test suite"
	@echo "make lint   ruff and mypy"
	@echo "make bench  run the benchmarks and write bench/results.md"

$(PY):
	@python=$$(scripts/find-python) || exit 1; \
	echo "Creating $(VENV) with $$python"; \
	"$$python" -m venv $(VENV)

$(VENV)/bin/uv: | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# Reinstall only when the lock changes: a second `make run` starts in seconds. Bytecode is
# compiled once here, so no start compiles Django again (PYTHONDONTWRITEBYTECODE stops
# Python from caching it itself: each manage.py call took 2.4 s instead of 1 s).
$(SYNCED): uv.lock pyproject.toml | $(VENV)/bin/uv
	$(VENV)/bin/uv sync --frozen --quiet --compile-bytecode --python $(PY)
	@touch $@

setup: $(SYNCED)
	@$(PY) manage.py migrate --noinput -v 0
	@$(PY) manage.py seed_blog --if-empty

# The task worker runs instructors' resets outside any request; it stops with the server.
# Each start queues it a warm-up (exercises/warm.py): the datasets learners can reach are
# built and the lessons' Scale it measured before a class needs them.
TASKS := manage.py db_worker --queue-name '*' --interval 0.5
run: setup
	@$(PY) manage.py warm --enqueue
	@$(PY) $(TASKS) & tasks=$$!; \
	trap 'kill $$tasks 2>/dev/null' EXIT INT TERM; \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# Production on this machine: gunicorn, WhiteNoise, DEBUG off. Needs SECRET_KEY and
# ALLOWED_HOSTS in the environment (README: "Running a class").
WORKERS ?= 2
PROD := DJANGO_ENV=production $(PY)
serve: $(SYNCED)
	@test -n "$$SECRET_KEY" -a -n "$$ALLOWED_HOSTS" || { \
	  echo "make serve runs production settings: set SECRET_KEY and ALLOWED_HOSTS (see README)."; exit 1; }
	@$(PROD) manage.py migrate --noinput -v 0
	@$(PROD) manage.py collectstatic --noinput -v 0
	@$(PROD) manage.py seed_blog --if-empty
	@$(PROD) manage.py warm --enqueue
	@$(PROD) $(TASKS) & tasks=$$!; \
	trap 'kill $$tasks 2>/dev/null' EXIT INT TERM; \
	DJANGO_ENV=production $(VENV)/bin/gunicorn config.wsgi --bind $${BIND:-127.0.0.1:$(PORT)} \
	  --workers $(WORKERS) --threads 4 --timeout 120 --keep-alive 5 --access-logfile -

test: setup
	$(VENV)/bin/pytest $(PYTEST_ARGS)

test-fast: setup
	$(VENV)/bin/pytest -m "not browser and not slow" $(PYTEST_ARGS)

lint: $(SYNCED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

format: $(SYNCED)
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: setup
	$(PY) -m bench

clean:
	rm -rf $(VENV) var
