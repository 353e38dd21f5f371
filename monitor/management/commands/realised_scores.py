from django.core.management.base import BaseCommand, CommandError

from monitor import realised
from registry.models import RegisteredModel


class Command(BaseCommand):
    help = (
        "Join the rows dispatches wrote to each model's actuals query and store "
        "the realised scores per run and per day; exit non-zero when one fails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--model", help="only this registered model (its name)")
        parser.add_argument(
            "--days",
            type=int,
            help="score the runs of this many last days (default: each model's "
            "actuals days)",
        )

    def handle(self, *args, model=None, days=None, **options):
        if days is not None and days < 1:
            raise CommandError("--days must be at least 1")
        if model:
            found = RegisteredModel.objects.filter(name=model).first()
            if found is None:
                raise CommandError(f"There is no registered model {model}.")
            try:
                done = [realised.compute(found, days=days)]
            except realised.RealisedError as exc:
                raise CommandError(str(exc)) from None
        else:
            done = realised.compute_all(days=days)
        if not done:
            self.stdout.write("No model has an actuals query: nothing to score.")
            return
        for computation in done:
            self.stdout.write(computation.summary())
        failed = [c.model for c in done if not c.ok]
        if failed:
            raise CommandError(f"Realised scores failed for {', '.join(failed)}.")
