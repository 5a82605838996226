"""The smoke test runs against an existing database (DATABASE_URL as given), never a test copy:
scripts/backup_restore_check.py runs it against a database just restored from a backup, with
SMOKE_DATABASE_URL set to that database's URL. Each test runs inside a transaction that is
rolled back, so it changes nothing there.

Without SMOKE_DATABASE_URL these tests are not collected: the rest of the suite runs on its own
test database, and tests/operations/test_backup_restore.py runs the script that runs them.
"""

import os

import pytest

if os.environ.get("SMOKE_DATABASE_URL"):
    collect_ignore_glob: list[str] = []

    @pytest.fixture(scope="session")
    def django_db_setup():
        """Use the database as it is (pytest-django: "Using an existing, external database")."""
        from django.conf import settings

        name = os.environ["SMOKE_DATABASE_URL"].rsplit("/", 1)[-1].split("?")[0]
        assert settings.DATABASES["default"]["NAME"] == name, "DATABASE_URL must name the database to smoke-test"
else:
    collect_ignore_glob = ["test_*.py"]
