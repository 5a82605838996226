"""prosperas/supervise.py, which keeps `make run`'s Celery worker running: a real worker on the
test run's Redis, killed with SIGKILL, is replaced by a new one that becomes ready and answers."""

import os
import re
import signal
import socket
import subprocess
import sys
import uuid

import pytest

from prosperas.celery import app as celery_app
from tests.conftest import ROOT
from tests.support import wait_until


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie has exited
    except FileNotFoundError:
        return False


def _start_supervisor(args: list[str], env_extra: dict, log_path) -> subprocess.Popen:
    env = {**os.environ, **env_extra, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as log:
        return subprocess.Popen([sys.executable, "-m", "prosperas.supervise", *args], cwd=ROOT, env=env,
                                stdout=log, stderr=subprocess.STDOUT)


@pytest.mark.worker
def test_a_killed_worker_is_restarted_and_answers(broker_isolation, tmp_path):
    name = f"supervised-{uuid.uuid4().hex[:6]}"
    node = f"{name}@{socket.gethostname()}"
    worker = (f"{sys.executable} -m celery -A prosperas worker -Q lender_calls,default -P threads -c 2 -n {name}@%h "
              "--without-gossip --without-mingle --without-heartbeat -l INFO")
    log_path = tmp_path / "supervise.log"
    supervisor = _start_supervisor(["--name", "worker", "--keep", worker, "--stop-timeout", "10"],
                                   broker_isolation, log_path)

    def log() -> str:
        return log_path.read_text()

    def worker_pids() -> list[int]:
        return [int(pid) for pid in re.findall(r"worker started \(pid (\d+)\)", log())]

    try:
        wait_until(lambda: " ready." in log(), timeout=60)
        [first] = worker_pids()
        assert wait_until(lambda: celery_app.control.ping(destination=[node], timeout=2), timeout=15)

        os.kill(first, signal.SIGKILL)

        wait_until(lambda: f"worker (pid {first}) killed by SIGKILL" in log(), timeout=10)
        wait_until(lambda: len(worker_pids()) == 2 and log().count(" ready.") == 2, timeout=60)
        second = worker_pids()[1]
        assert second != first and _alive(second) and not _alive(first)
        assert "restarting in 0.5 s" in log()
        # The replacement is a working worker: it answers on the broker.
        assert wait_until(lambda: celery_app.control.ping(destination=[node], timeout=2), timeout=15)
        assert supervisor.poll() is None
    finally:
        supervisor.send_signal(signal.SIGINT)  # as Ctrl-C in `make run`
        code = supervisor.wait(timeout=30)
    assert code == 0, log()
    assert "[supervise] stopped" in log()
    assert not _alive(second)


def test_the_main_program_ending_stops_everything(tmp_path):
    """The web server is the main program: when it exits, the kept programs stop and its exit code is returned."""
    log_path = tmp_path / "supervise.log"
    supervisor = _start_supervisor(
        ["--name", "sleeper", "--keep", f"{sys.executable} -c 'import time; time.sleep(60)'",
         "--main-name", "web", "--", sys.executable, "-c", "import time, sys; time.sleep(1); sys.exit(3)"],
        {}, log_path)
    assert supervisor.wait(timeout=30) == 3
    text = log_path.read_text()
    sleeper = int(re.search(r"sleeper started \(pid (\d+)\)", text).group(1))
    assert "web (pid" in text and "exited with code 3; stopping everything" in text
    assert not _alive(sleeper)
