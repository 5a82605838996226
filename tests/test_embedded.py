"""prosperas/embedded.py: the private PostgreSQL and Valkey that `make run` and `make test` start
when DATABASE_URL / REDIS_URL are unset. Real servers, in a folder of the test's own."""

import os
import shutil
import subprocess
import sys
import uuid

import pytest

from prosperas.embedded import Engines
from tests.conftest import ROOT

# What a command run with the servers checks: both URLs work, and the database user may create
# databases (pytest-django and pytest-xdist need it).
CHECK = """
import os, environ, psycopg, redis
db = environ.Env.db_url_config(os.environ["DATABASE_URL"])
assert db["ENGINE"] == "django.db.backends.postgresql", db
with psycopg.connect(host=db["HOST"], user=db["USER"], dbname=db["NAME"], autocommit=True) as connection:
    connection.execute('CREATE DATABASE "made_by_a_test"')
    connection.execute('DROP DATABASE "made_by_a_test"')
client = redis.Redis.from_url(os.environ["REDIS_URL"])
client.set("embedded-check", "1")
assert client.get("embedded-check") == b"1"
print("URLS", os.environ["DATABASE_URL"], os.environ["REDIS_URL"])
"""


@pytest.fixture
def var_dir():
    folder = ROOT / "var" / f"test-embedded-{uuid.uuid4().hex[:6]}"  # short: a Unix socket lives in it
    folder.mkdir(parents=True)
    yield folder
    Engines(folder).stop()
    shutil.rmtree(folder, ignore_errors=True)


def _embedded(var_dir, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    if env is None:
        env = {name: value for name, value in os.environ.items() if name not in ("DATABASE_URL", "REDIS_URL")}
    return subprocess.run([sys.executable, "-m", "prosperas.embedded", "--var", str(var_dir), *args], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_run_starts_both_servers_hands_over_their_urls_and_stops_them_after(var_dir):
    result = _embedded(var_dir, "run", "--", sys.executable, "-c", CHECK)

    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stdout.splitlines() if line.startswith("URLS ")]
    database_url, redis_url = line.split()[1:]
    assert database_url == f"postgres://postgres@/{var_dir / 'postgres'}/prosperas"
    assert redis_url.startswith("redis://127.0.0.1:")
    assert "PostgreSQL stopped" in result.stderr and "Valkey stopped" in result.stderr
    engines = Engines(var_dir)
    assert engines.postgres_url() is None and engines.redis_url() is None


def test_started_servers_are_kept_and_reused_until_stopped(var_dir):
    started = _embedded(var_dir, "start")
    assert started.returncode == 0, started.stderr
    exports = dict(line.removeprefix("export ").replace("'", "").split("=", 1) for line in started.stdout.splitlines())

    result = _embedded(var_dir, "run", "--", sys.executable, "-c", CHECK)

    assert result.returncode == 0, result.stderr
    assert f"URLS {exports['DATABASE_URL']} {exports['REDIS_URL']}" in result.stdout  # the same servers
    assert "stopped" not in result.stderr  # kept: `start` asked for it
    engines = Engines(var_dir)
    assert engines.postgres_url() == exports["DATABASE_URL"] and engines.redis_url() == exports["REDIS_URL"]

    assert _embedded(var_dir, "stop").returncode == 0
    assert engines.postgres_url() is None and engines.redis_url() is None


def test_run_starts_nothing_when_both_urls_are_set(var_dir):
    env = {**os.environ, "DATABASE_URL": "postgres://someone@db.example/prosperas", "REDIS_URL": "redis://cache.example:6379/1"}
    result = _embedded(var_dir, "run", "--", sys.executable, "-c",
                       "import os; print(os.environ['DATABASE_URL'], os.environ['REDIS_URL'])", env=env)

    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["postgres://someone@db.example/prosperas", "redis://cache.example:6379/1"]
    assert not (var_dir / "postgres").exists() and not (var_dir / "valkey").exists()


def test_manage_py_in_a_development_checkout_without_urls_runs_on_the_private_servers():
    """`manage.py check` (or makemigrations, shell) in a checkout, DEBUG on and no URLs set: the
    command runs with the private servers instead of stopping at the missing DATABASE_URL."""
    env = {name: value for name, value in os.environ.items()
           if name not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PROSPERAS_EMBEDDED_CHILD")}
    env["DEBUG"] = "true"
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def test_manage_py_without_debug_or_urls_says_what_is_missing():
    env = {name: value for name, value in os.environ.items()
           if name not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "PROSPERAS_EMBEDDED_CHILD")}
    env.update(DEBUG="false", SECRET_KEY="x" * 50, PROSPERAS_TESTING="false")
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=60)
    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr
