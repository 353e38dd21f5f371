"""`manage.py supervise`: the web server and the task worker, kept up."""

import logging
import sys

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mlframework.processes.supervisor import (
    Backoff,
    Supervisor,
    web_program,
    worker_program,
)


def seconds(text: str) -> float:
    value = float(text)
    if not value >= 0:
        raise ValueError(text)
    return value


class Command(BaseCommand):
    help = (
        "Run the web server (gunicorn) and the task worker, restart either when "
        "it dies (with backoff, each restart an event), stop both on Ctrl-C/TERM."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument(
            "--web-workers", type=int, default=2, help="gunicorn worker processes"
        )
        parser.add_argument(
            "--task-workers", type=int, default=1, help="task worker processes"
        )
        parser.add_argument(
            "--no-web", action="store_true", help="supervise the task workers only"
        )
        parser.add_argument("--backoff", type=seconds, default=1.0, metavar="S")
        parser.add_argument("--backoff-max", type=seconds, default=60.0, metavar="S")
        parser.add_argument(
            "--stable-after",
            type=seconds,
            default=60.0,
            metavar="S",
            help="a process that ran this long restarts without backoff",
        )
        parser.add_argument("--stop-timeout", type=seconds, default=10.0, metavar="S")
        parser.add_argument(
            "--heartbeat",
            type=seconds,
            default=None,
            metavar="S",
            help="the task workers' heartbeat interval",
        )

    def handle(self, *args, **options) -> None:
        if options["web_workers"] < 1 or options["task_workers"] < 0:
            raise CommandError(
                "--web-workers must be 1 or more, --task-workers 0 or more"
            )
        logging.basicConfig(
            level=logging.INFO,
            format="%(asctime)s supervisor: %(message)s",
            stream=sys.stderr,
        )
        extra = []
        if options["heartbeat"]:
            extra = ["--heartbeat", str(options["heartbeat"])]
        count = options["task_workers"]
        programs = [
            worker_program(
                sys.executable, *extra, name=f"worker-{n}" if count > 1 else "worker"
            )
            for n in range(1, count + 1)
        ]
        if not options["no_web"]:
            programs.append(
                web_program(options["bind"], workers=options["web_workers"])
            )
        if not programs:
            raise CommandError("nothing to supervise")
        supervisor = Supervisor(
            programs,
            backoff=Backoff(
                options["backoff"], options["backoff_max"], options["stable_after"]
            ),
            stop_timeout=options["stop_timeout"],
            cwd=settings.BASE_DIR,
        )
        self.stdout.write(
            f"supervising {', '.join(p.name for p in programs)}"
            + ("" if options["no_web"] else f" on http://{options['bind']}/")
            + " (Ctrl-C stops it)"
        )
        self.stdout.flush()
        supervisor.run()
        self.stdout.write("stopped")
