#!/usr/bin/env python3
"""Backup and restore, proven: pg_dump the database, pg_restore it into a new database, check
that every table holds as many rows as the original, and run the suite's smoke test
(tests/smoke) against the restored copy. README "Deployment" says when to run it.

    DATABASE_URL=postgres://... REDIS_URL=redis://... .venv/bin/python scripts/backup_restore_check.py
        [--backup-dir var/backups] [--keep-restored] [--keep-dump]

The dump is PostgreSQL's custom format (compressed, restorable table by table, in parallel).
The restored database is named after the original with a `_restore_<UTC time>` suffix, on the
same server, and dropped afterwards unless --keep-restored. Needs pg_dump, pg_restore and psql
of a version at least the server's (Debian's postgresql-client). Exits non-zero on any failure.
Run it while the platform runs: pg_dump reads one consistent snapshot and blocks no writer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _database_name(url: str) -> str:
    return urlsplit(url).path.lstrip("/")


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    print("+", " ".join(command[:1] + [arg if "://" not in arg else "<database url>" for arg in command[1:]]),
          flush=True)
    return subprocess.run(command, check=True, **kwargs)


def _psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", "--no-psqlrc", "-v", "ON_ERROR_STOP=1", "-tA", "-d", url, "-c", sql],
                          check=True, capture_output=True, text=True).stdout.strip()


def row_counts(url: str) -> dict[str, int]:
    """Exact row counts of every table of the public schema (one query)."""
    tables = _psql(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename").split()
    if not tables:
        return {}
    union = " UNION ALL ".join(f"SELECT '{name}', count(*) FROM public.\"{name}\"" for name in tables)
    return {name: int(count) for name, count in (line.split("|") for line in _psql(url, union).splitlines())}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backup-dir", default=os.environ.get("BACKUP_DIR", str(ROOT / "var" / "backups")))
    parser.add_argument("--keep-restored", action="store_true", help="Leave the restored database in place.")
    parser.add_argument("--keep-dump", action="store_true", help="Keep the dump file (default: kept only on failure).")
    options = parser.parse_args(argv)

    source = os.environ.get("DATABASE_URL", "")
    if not source.startswith(("postgres://", "postgresql://")):
        print("DATABASE_URL must name the PostgreSQL database to back up.", file=sys.stderr)
        return 2
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    restored_name = f"{_database_name(source)}_restore_{stamp.lower()}"[:63]
    restored = _with_database(source, restored_name)
    server = _with_database(source, "postgres")
    backup_dir = Path(options.backup_dir)
    backup_dir.mkdir(parents=True, exist_ok=True)
    dump = backup_dir / f"{_database_name(source)}-{stamp}.dump"

    started = time.monotonic()
    ok = False
    try:
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--file={dump}", f"--dbname={source}"])
        before = row_counts(source)
        print(f"dumped {len(before)} tables, {sum(before.values())} rows, {dump.stat().st_size} bytes "
              f"in {time.monotonic() - started:.1f} s", flush=True)
        _psql(server, f'CREATE DATABASE "{restored_name}"')
        _run(["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--jobs=2",
              f"--dbname={restored}", str(dump)])
        after = row_counts(restored)
        # Rows written to the original after the dump are expected: only the restored side can lack none.
        missing = {name: (before.get(name), count) for name, count in after.items() if count < before.get(name, 0)}
        missing.update({name: (count, None) for name, count in before.items() if name not in after})
        if missing:
            print(f"restored tables differ from the dump's source: {missing}", file=sys.stderr)
            return 1
        print(f"restored into {restored_name}: {len(after)} tables, {sum(after.values())} rows", flush=True)
        env = {**os.environ, "DATABASE_URL": restored, "SMOKE_DATABASE_URL": restored}
        _run([sys.executable, "-m", "pytest", "tests/smoke", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
              "-n", "0"], cwd=ROOT, env=env)
        ok = True
        print(f"backup and restore round trip passed in {time.monotonic() - started:.1f} s", flush=True)
        return 0
    except subprocess.CalledProcessError as error:
        print(f"failed: {error.cmd[0]} exited with {error.returncode}", file=sys.stderr)
        return 1
    finally:
        if not options.keep_restored:
            _psql(server, f'DROP DATABASE IF EXISTS "{restored_name}" WITH (FORCE)')
        if ok and not options.keep_dump:
            dump.unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
