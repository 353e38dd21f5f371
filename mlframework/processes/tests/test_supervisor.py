"""The supervisor on small real processes: restarts, backoff, stopping."""

import signal
import sys
import time

import pytest

from mlframework.events.models import Event
from mlframework.processes.supervisor import (
    Backoff,
    Program,
    Supervisor,
    exit_words,
    web_program,
    worker_program,
)

pytestmark = pytest.mark.django_db(databases=["default", "events"])

SLEEPER = Program("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"])
# Ignores TERM, as a process stuck in a call would.
STUBBORN = Program(
    "stubborn",
    [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(60)",
    ],
)


@pytest.fixture
def supervise():
    made = []

    def make(*programs, **kwargs) -> Supervisor:
        supervisor = Supervisor(list(programs), **kwargs)
        made.append(supervisor)
        return supervisor

    yield make
    for supervisor in made:
        supervisor.stop_all()


def _until_restarted(supervisor, child, seconds=10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        supervisor.step(time.monotonic())
        if child.restarts and child.process is not None:
            return
        time.sleep(0.05)
    pytest.fail("not restarted")


def test_backoff_doubles_up_to_its_maximum():
    backoff = Backoff(initial=1, maximum=10)
    assert [backoff.delay(n) for n in range(6)] == [1, 2, 4, 8, 10, 10]


def test_exit_words_name_the_signal_or_the_status():
    assert exit_words(-9) == "was killed by SIGKILL"
    assert exit_words(3) == "exited with status 3"


def test_a_killed_child_comes_back_with_a_new_pid_and_an_event(supervise):
    supervisor = supervise(SLEEPER, backoff=Backoff(initial=0.1))
    supervisor.start_all()
    child = supervisor.children[0]
    first = child.pid
    child.process.send_signal(signal.SIGKILL)
    _until_restarted(supervisor, child)
    assert child.pid != first and child.process.poll() is None
    event = Event.objects.using("events").get(kind="process.restarted")
    assert event.level == "warning"
    assert event.data["old_pid"] == first and event.data["pid"] == child.pid
    assert f"sleeper (pid {first}) was killed by SIGKILL" in event.message
    assert f"restarted as pid {child.pid} (restart 1)" in event.message


def test_quick_deaths_back_off_and_a_stable_run_resets_it(supervise):
    dies = Program("dies", [sys.executable, "-c", "raise SystemExit(3)"])
    supervisor = supervise(
        dies, backoff=Backoff(initial=0.1, maximum=0.4, stable_after=60)
    )
    supervisor.start_all()
    child = supervisor.children[0]
    delays = []
    deadline = time.monotonic() + 20
    while child.restarts < 4 and time.monotonic() < deadline:
        now = time.monotonic()
        was_running = child.process is not None
        supervisor.step(now)
        if was_running and child.process is None:
            delays.append(round(child.due - now, 2))
        time.sleep(0.02)
    assert delays[:4] == [0.1, 0.2, 0.4, 0.4]
    assert child.last_exit.startswith("exited with status 3")
    # A run longer than stable_after starts the backoff afresh.
    supervisor.backoff = Backoff(initial=0.1, maximum=0.4, stable_after=0)
    while child.process is None:
        supervisor.step(time.monotonic())
    child.process.wait()
    now = time.monotonic()
    supervisor.step(now)
    assert round(child.due - now, 2) == 0.1


def test_nothing_is_restarted_once_stopping(supervise):
    supervisor = supervise(SLEEPER, backoff=Backoff(initial=0))
    supervisor.start_all()
    child = supervisor.children[0]
    supervisor.stopping = True
    child.process.send_signal(signal.SIGKILL)
    child.process.wait()
    supervisor.step(time.monotonic())
    supervisor.step(time.monotonic())
    assert child.restarts == 0 and len(child.pids) == 1


def test_stop_all_terms_then_kills_what_does_not_stop(supervise):
    supervisor = supervise(SLEEPER, STUBBORN, stop_timeout=1.0)
    supervisor.start_all()
    sleeper, stubborn = supervisor.children
    stubborn.process.stdout = None
    time.sleep(1.0)  # the stubborn one has set its handler
    started = time.monotonic()
    supervisor.stop_all()
    assert sleeper.process.returncode == -signal.SIGTERM
    assert stubborn.process.returncode == -signal.SIGKILL
    assert 0.9 <= time.monotonic() - started < 5


def test_the_platform_programs_are_what_ops_run_sh_ran():
    web = web_program("127.0.0.1:8123", workers=3, python="py")
    assert web.argv[:4] == ["py", "-m", "gunicorn", "mlframework.wsgi:application"]
    assert "--bind" in web.argv and "127.0.0.1:8123" in web.argv
    assert web.argv[web.argv.index("--workers") + 1] == "3"
    assert "python:showroom.gunicorn" in web.argv
    worker = worker_program("py", "--heartbeat", "2")
    assert worker.argv[0] == "py" and worker.argv[1].endswith("manage.py")
    assert worker.argv[2:] == [
        "task_worker",
        "--queue-name",
        "*",
        "--interval",
        "1",
        "--heartbeat",
        "2",
    ]
