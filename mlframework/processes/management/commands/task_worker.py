"""`manage.py task_worker`: django-tasks' db_worker with a heartbeat."""

import os
import signal

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.utils.crypto import get_random_string

from mlframework.processes.heartbeat import Heartbeat
from mlframework.processes.models import BEAT_SECONDS
from mlframework.processes.services import host_name


def positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Run the task worker (django-tasks' db_worker) and write its heartbeat, "
        "which the Monitor and /healthz show."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--queue-name", default="*", help="queues to run, comma-separated (*: all)"
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="seconds between looks at an empty queue",
        )
        parser.add_argument(
            "--heartbeat",
            type=positive,
            default=BEAT_SECONDS,
            help=f"seconds between heartbeats (default {BEAT_SECONDS:g})",
        )
        parser.add_argument(
            "--no-startup-delay",
            action="store_false",
            dest="startup_delay",
            help="start looking at the queue at once",
        )

    def handle(self, *args, **options) -> None:
        if options["interval"] < 0:
            raise CommandError("--interval must be zero or more seconds")
        # Readable in the Monitor, unique across hosts and restarts, and within
        # db_worker's 64 characters.
        worker_id = f"{host_name()[:40]}:{os.getpid()}:{get_random_string(8)}"
        heartbeat = Heartbeat(worker_id, every=options["heartbeat"])
        worker = heartbeat.start()
        self.stdout.write(f"task worker {worker.where} ({worker_id}) started")
        try:
            # db_worker stops on INT/TERM by raising SystemExit, after its task.
            call_command(
                "db_worker",
                queue_name=options["queue_name"],
                interval=options["interval"],
                worker_id=worker_id,
                reload=False,
                startup_delay=options["startup_delay"],
                verbosity=options["verbosity"],
            )
        finally:
            # Ctrl-C reaches every process of the group and then the
            # supervisor sends TERM: that second signal would make db_worker
            # exit in the middle of stop(), leaving the row "running".
            for number in (signal.SIGINT, signal.SIGTERM):
                signal.signal(number, signal.SIG_IGN)
            heartbeat.stop()
