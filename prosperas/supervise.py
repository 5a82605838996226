"""A small process supervisor for `make run`: keeps the Celery worker and beat running beside
the web server, each restarted on its own when it dies.

    python -m prosperas.supervise --keep "celery -A prosperas worker ..." --keep "celery -A prosperas beat ..."
        -- python manage.py runserver      (one line)

Each `--keep` command is restarted whenever it exits (crash, kill -9, an `Unrecoverable error`
from kombu), after a short backoff that doubles on quick repeated deaths (0.5 s up to 10 s) and
starts again from 0.5 s once the program has run a minute. The command after `--`, if any, is
the main program: when it exits, everything stops and its exit code is ours. Ctrl-C (SIGINT),
SIGTERM or SIGHUP stop everything: SIGTERM to each program's process group, SIGKILL after
`--stop-timeout` seconds.

Each program runs in a process group of its own, so that a dead program's children die with it
instead of living on beside its replacement, and so that the
terminal's Ctrl-C reaches the supervisor only, which then stops the programs in order. Should the
supervisor itself be killed, its programs get SIGTERM from the kernel (PR_SET_PDEATHSIG).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

BACKOFF_FIRST_SECONDS = 0.5
BACKOFF_MAX_SECONDS = 10.0
STABLE_AFTER_SECONDS = 60.0
PR_SET_PDEATHSIG = 1


def log(message: str) -> None:
    # A closed terminal or pipe must not stop the supervisor halfway through stopping its programs.
    with contextlib.suppress(OSError, ValueError):
        print(f"{time.strftime('%H:%M:%S')} [supervise] {message}", file=sys.stderr, flush=True)


def _die_with_parent() -> None:  # runs in the child, between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def describe_exit(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"killed by {signal.Signals(-code).name}"
        return f"killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class Program:
    name: str
    argv: list[str]
    restart: bool
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = BACKOFF_FIRST_SECONDS
    restart_at: float | None = None
    restarts: int = 0
    pids: list[int] = field(default_factory=list)

    def start(self) -> None:
        self.process = subprocess.Popen(  # commands given by the Makefile
            self.argv, stdin=subprocess.DEVNULL, process_group=0,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - the supervisor has one thread
        )
        self.started_at = time.monotonic()
        self.restart_at = None
        self.pids.append(self.process.pid)
        log(f"{self.name} started (pid {self.process.pid}): {shlex.join(self.argv)}")

    def kill_group(self, signum: int) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signum)


class Supervisor:
    def __init__(self, programs: list[Program], *, stop_timeout: float = 15.0):
        self.programs = programs
        self.stop_timeout = stop_timeout
        self.stopping = False
        self.exit_code = 0

    def _on_signal(self, signum, _frame) -> None:
        if not self.stopping:
            log(f"{signal.Signals(signum).name}: stopping")
        self.stopping = True

    def run(self) -> int:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._on_signal)
        try:
            for program in self.programs:
                program.start()
            while not self.stopping:
                self._tick()
                time.sleep(0.1)
        finally:
            self._stop_all()
        return self.exit_code

    def _tick(self) -> None:
        now = time.monotonic()
        for program in self.programs:
            if program.restart_at is not None:
                if now >= program.restart_at:
                    program.restarts += 1
                    program.start()
                continue
            code = program.process.poll()
            if code is None or self.stopping:
                continue
            # Whatever it left behind in its group (the embedded beat) goes with it.
            program.kill_group(signal.SIGKILL)
            if not program.restart:
                log(f"{program.name} (pid {program.process.pid}) {describe_exit(code)}; stopping everything")
                self.exit_code = code if code >= 0 else 128 - code
                self.stopping = True
                return
            if now - program.started_at >= STABLE_AFTER_SECONDS:
                program.backoff = BACKOFF_FIRST_SECONDS
            log(f"{program.name} (pid {program.process.pid}) {describe_exit(code)} after "
                f"{now - program.started_at:.1f} s; restarting in {program.backoff:.1f} s")
            program.restart_at = now + program.backoff
            program.backoff = min(program.backoff * 2, BACKOFF_MAX_SECONDS)

    def _stop_all(self) -> None:
        running = [p for p in self.programs if p.process is not None and p.process.poll() is None]
        for program in reversed(running):  # the main program (the web server) first
            program.kill_group(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for program in running:
            try:
                program.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log(f"{program.name} (pid {program.process.pid}) still running after "
                    f"{self.stop_timeout:.0f} s; SIGKILL")
                program.kill_group(signal.SIGKILL)
                program.process.wait()
        for program in self.programs:  # leftovers in any group (children that outlived their parent)
            program.kill_group(signal.SIGKILL)
        log("stopped")


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    main_command: list[str] = []
    if "--" in argv:
        split = argv.index("--")
        argv, main_command = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(prog="python -m prosperas.supervise", description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep", action="append", default=[], metavar="COMMAND",
                        help="a command to keep running (restarted when it exits); repeatable")
    parser.add_argument("--name", action="append", default=[], help="names of the --keep commands, in order")
    parser.add_argument("--main-name", default="main", help="name of the main command in the log")
    parser.add_argument("--stop-timeout", type=float, default=15.0)
    args = parser.parse_args(argv)
    if not args.keep and not main_command:
        parser.error("nothing to run: give --keep COMMAND and/or -- MAIN COMMAND")
    programs = []
    for index, command in enumerate(args.keep):
        argv_ = shlex.split(command)
        name = args.name[index] if index < len(args.name) else os.path.basename(argv_[0])
        programs.append(Program(name=name, argv=argv_, restart=True))
    if main_command:
        programs.append(Program(name=args.main_name, argv=main_command, restart=False))
    return Supervisor(programs, stop_timeout=args.stop_timeout).run()


if __name__ == "__main__":
    sys.exit(main())
