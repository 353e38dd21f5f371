"""Keep the platform's processes up: start each, restart what dies (with
backoff), stop them all on INT or TERM. `manage.py supervise` runs it for
`make run`; on servers systemd does this job (ops/systemd/)."""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from mlframework.events.log import log_event

SOURCE = "processes"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Program:
    name: str
    argv: list[str]


@dataclass(frozen=True)
class Backoff:
    initial: float = 1.0  # seconds before the first restart
    maximum: float = 60.0  # the delay doubles with each quick death up to this
    stable_after: float = 60.0  # a process that ran this long starts afresh

    def delay(self, failures: int) -> float:
        return min(self.maximum, self.initial * 2 ** max(0, failures))


@dataclass
class Child:
    program: Program
    process: subprocess.Popen | None = None
    started: float = 0.0  # time.monotonic() of the last start
    due: float = 0.0  # when to start it again (while process is None)
    failures: int = 0  # quick deaths in a row
    restarts: int = 0
    last_exit: str = ""
    pids: list[int] = field(default_factory=list)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process else None


def web_program(
    bind: str, *, workers: int = 2, python: str = sys.executable
) -> Program:
    """gunicorn as ops/systemd/mlframework-web.service runs it."""
    return Program(
        "web",
        [
            python,
            "-m",
            "gunicorn",
            "mlframework.wsgi:application",
            # showroom.gunicorn preloads the aliased model versions in each worker.
            "-c",
            "python:showroom.gunicorn",
            "--bind",
            bind,
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--timeout",
            "120",
            "--access-logfile",
            "-",
            # Its control socket is one path per user (~/.gunicorn): a second
            # server on the machine would take it over; nothing here uses it.
            "--no-control-socket",
        ],
    )


def worker_program(
    python: str = sys.executable, *extra: str, name: str = "worker"
) -> Program:
    """The task worker with its heartbeat (manage.py task_worker)."""
    manage = str(Path(__file__).resolve().parents[2] / "manage.py")
    return Program(
        name,
        [python, manage, "task_worker", "--queue-name", "*", "--interval", "1", *extra],
    )


def exit_words(returncode: int) -> str:
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"was killed by {name}"
    return f"exited with status {returncode}"


def _die_with_parent() -> None:
    # Linux: the child gets TERM when the supervisor dies, even by KILL, so no
    # orphan keeps the port or the queue. Elsewhere this is a no-op.
    libc_name = ctypes.util.find_library("c")
    if not libc_name:
        return
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(libc_name, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class Supervisor:
    def __init__(
        self,
        programs: list[Program],
        *,
        backoff: Backoff | None = None,
        stop_timeout: float = 10.0,
        poll: float = 0.2,
        cwd: Path | None = None,
        env: dict | None = None,
    ) -> None:
        self.children = [Child(program) for program in programs]
        self.backoff = backoff or Backoff()
        self.stop_timeout = stop_timeout
        self.poll = poll
        self.cwd = cwd
        self.env = env
        self.stopping = False

    def run(self) -> int:
        """Until INT or TERM: keep every program running. Returns 0."""
        previous = {
            sig: signal.signal(sig, self._stop)
            for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            self.start_all()
            while not self.stopping:
                self.step(time.monotonic())
                time.sleep(self.poll)
        finally:
            self.stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def start_all(self) -> None:
        for child in self.children:
            self._start(child)

    def step(self, now: float) -> None:
        """One look: note the children that died, start those that are due."""
        for child in self.children:
            if self.stopping:
                return
            if child.process is not None:
                code = child.process.poll()
                if code is not None:
                    self._exited(child, code, now)
            elif now >= child.due:
                self._restart(child)

    def stop_all(self) -> None:
        """TERM to every child, KILL to those still running after stop_timeout."""
        self.stopping = True
        live = [c for c in self.children if c.process and c.process.poll() is None]
        for child in live:
            logger.info("stopping %s (pid %s)", child.program.name, child.pid)
            child.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for child in live:
            try:
                child.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning(
                    "%s (pid %s) did not stop within %g s: killed",
                    child.program.name,
                    child.pid,
                    self.stop_timeout,
                )
                child.process.send_signal(signal.SIGKILL)
                child.process.wait()

    def _stop(self, signum, frame) -> None:
        if not self.stopping:
            logger.info("%s: stopping everything", signal.Signals(signum).name)
        self.stopping = True

    def _start(self, child: Child) -> None:
        child.process = subprocess.Popen(
            child.program.argv,
            cwd=self.cwd,
            env=self.env,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        child.started = time.monotonic()
        child.pids.append(child.process.pid)
        logger.info("started %s (pid %s)", child.program.name, child.process.pid)

    def _exited(self, child: Child, code: int, now: float) -> None:
        ran = now - child.started
        if ran >= self.backoff.stable_after:
            child.failures = 0
        delay = self.backoff.delay(child.failures)
        child.failures += 1
        child.last_exit = f"{exit_words(code)} after {ran:.0f} s"
        logger.warning(
            "%s (pid %s) %s; restarting in %g s",
            child.program.name,
            child.pid,
            child.last_exit,
            delay,
        )
        child.process, child.due = None, now + delay

    def _restart(self, child: Child) -> None:
        old_pid = child.pids[-1]
        self._start(child)
        child.restarts += 1
        log_event(
            SOURCE,
            "process.restarted",
            f"{child.program.name} (pid {old_pid}) {child.last_exit}; restarted "
            f"as pid {child.pid} (restart {child.restarts})",
            level="warning",
            data={
                "program": child.program.name,
                "old_pid": old_pid,
                "pid": child.pid,
                "restarts": child.restarts,
                "exit": child.last_exit,
            },
        )
