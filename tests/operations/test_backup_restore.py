"""The backup and restore round trip (scripts/backup_restore_check.py), run for real: a database
of its own is migrated and given the demo's data, then dumped with pg_dump, restored with
pg_restore into a new database, compared table by table, and smoke-tested there (tests/smoke)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings

from tests.conftest import ROOT


def _url(name: str) -> str:
    database = settings.DATABASES["default"]
    netloc = f"{database['USER']}" + (f":{database['PASSWORD']}" if database["PASSWORD"] else "")
    netloc += f"@{database['HOST']}:{database['PORT'] or 5432}"
    return urlunsplit(("postgres", netloc, f"/{name}", "", ""))


def _psql(sql: str) -> str:
    return subprocess.run(["psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-tA", "-d", _url("postgres"), "-c", sql],
                          check=True, capture_output=True, text=True).stdout


@pytest.fixture
def source_database(tmp_path):
    name = f"prosperas_backup_{uuid.uuid4().hex[:10]}"
    _psql(f'CREATE DATABASE "{name}"')
    env = {**os.environ, "DATABASE_URL": _url(name)}
    try:
        for command in (["migrate", "--noinput", "-v", "0"], ["seed_demo", "--admin-password", "smoke-test-pass"]):
            subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True,
                           capture_output=True, text=True, timeout=600)
        yield name
    finally:
        _psql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_a_backup_restores_into_a_new_database_where_the_smoke_test_passes(source_database, tmp_path):
    env = {**os.environ, "DATABASE_URL": _url(source_database)}
    run = subprocess.run([sys.executable, "scripts/backup_restore_check.py", "--backup-dir", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "+ pg_dump" in output and "+ pg_restore" in output and "4 passed" in output, output
    assert "backup and restore round trip passed" in output
    # The restored copy is gone, and so is the dump of a passing run.
    assert f"{source_database}_restore_" not in _psql("SELECT string_agg(datname, ' ') FROM pg_database")
    assert not list(tmp_path.glob("*.dump"))
    # The password in DATABASE_URL never appears in what the script prints.
    password = urlsplit(env["DATABASE_URL"]).password
    assert not password or password not in output


def test_a_failed_restore_check_exits_non_zero_and_keeps_the_dump(tmp_path):
    env = {**os.environ, "DATABASE_URL": _url(f"prosperas_no_such_db_{uuid.uuid4().hex[:6]}")}
    run = subprocess.run([sys.executable, "scripts/backup_restore_check.py", "--backup-dir", str(tmp_path)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1 and "pg_dump exited" in run.stderr
