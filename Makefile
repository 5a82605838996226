# Prosperas platform. `make run` for the demo, `make test` for the suite (README.md).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
WORKER_CONCURRENCY ?= 100

.PHONY: run test bench venv worker migrate lock clean

$(VENV)/.installed: requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/dev.txt
	touch $@

venv: $(VENV)/.installed

# A development checkout's .env (DEBUG=true), so manage.py commands work here as in the demo.
.env:
	cp .env.example .env

# The demo: SQLite and a file-system Celery broker (no server to install), demo data, a real
# Celery worker (threads pool, lender_calls + default queues, embedded beat) and the web server.
# WORKER_CONCURRENCY threads each wait on one lender call at a time; they share a few database
# connections (LENDER_DB_CONNECTIONS, apps/lenders/db.py), so a high number costs threads only.
run: venv .env
	@mkdir -p var
	@export DEBUG=true SITE_URL=http://127.0.0.1:$(PORT); \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py seed_demo && \
	{ $(PY) -m celery -A prosperas worker -B -s var/celerybeat-schedule -Q lender_calls,default \
	    -P threads -c $(WORKER_CONCURRENCY) -n demo@%h -l INFO & echo $$! > var/worker.pid; } && \
	trap 'kill $$(cat var/worker.pid) 2>/dev/null; wait' EXIT INT TERM && \
	$(PY) manage.py runserver 127.0.0.1:$(PORT)

# The whole suite. Uses DATABASE_URL / REDIS_URL when set (CI sets them), else SQLite and the
# file-system broker.
test: venv
	@mkdir -p var
	$(PY) -m pytest $(PYTEST_ARGS)

# Benchmarks, on demand (never in CI): `make bench` runs all, `make bench NAME=fanout` one.
bench: venv
	@set -e; for script in bench/$(if $(NAME),$(NAME),*).py; do \
	  echo "== $$script"; $(PY) $$script; done

# Regenerate the lock files from requirements/*.in in clean environments.
lock:
	rm -rf var/lock-base var/lock-dev
	$(PYTHON) -m venv var/lock-base && var/lock-base/bin/pip install -q -r requirements/base.in
	{ echo "# Locked from requirements/base.in by make lock."; var/lock-base/bin/pip freeze; } > requirements/base.txt
	$(PYTHON) -m venv var/lock-dev && var/lock-dev/bin/pip install -q -r requirements/dev.in
	{ echo "# Locked from requirements/dev.in by make lock."; var/lock-dev/bin/pip freeze; } > requirements/dev.txt

clean:
	rm -rf var staticfiles test-artifacts
