from django.core.management.base import BaseCommand, CommandError

from registry import services, training
from registry.errors import RegistryError
from registry.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Build the drift reference (registry.drift_reference) of ready versions "
        "from their stored dataset and split: MODEL:NUMBER or MODEL@ALIAS, "
        "--missing (versions trained before references were saved) or --all."
    )

    def add_arguments(self, parser):
        parser.add_argument("versions", nargs="*", metavar="MODEL:NUMBER|MODEL@ALIAS")
        parser.add_argument(
            "--missing", action="store_true", help="every ready version without one"
        )
        parser.add_argument("--all", action="store_true", help="every ready version")

    def handle(self, *args, versions, missing, all, **options):
        if not (versions or missing or all):
            raise CommandError(
                "name versions (MODEL:NUMBER, MODEL@ALIAS), or --missing or --all"
            )
        chosen = [self._version(ref) for ref in versions]
        if missing or all:
            ready = ModelVersion.objects.filter(status=ModelVersion.Status.READY)
            if not all:
                ready = ready.filter(drift_reference__isnull=True)
            chosen += list(ready.select_related("model"))
        saved = 0
        for version in chosen:
            reference = training.rebuild_drift_reference(version)
            if reference.ok:
                saved += 1
                self.stdout.write(
                    f"{version}: reference saved ({len(reference.features)} "
                    f"features, {reference.rows} training rows)"
                )
            else:
                self.stdout.write(f"{version}: {reference.state}")
        self.stdout.write(
            f"{saved} of {len(chosen)} reference(s) built"
            if chosen
            else "every ready version has its drift reference"
        )

    @staticmethod
    def _version(ref: str) -> ModelVersion:
        name, sep, rest = ref.replace("@", ":").partition(":")
        if not sep or not rest:
            raise CommandError(f"{ref!r}: write MODEL:NUMBER or MODEL@ALIAS")
        try:
            return services.resolve(name, rest)
        except RegistryError as exc:
            raise CommandError(f"{ref}: {exc}") from exc
