from django.core.management.base import BaseCommand, CommandError

from registry import acceleration, services, training
from registry.errors import RegistryError
from registry.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Compile the LightGBM models of ready versions to native code "
        "(registry.acceleration): MODEL:NUMBER or MODEL@ALIAS, --missing or --all."
    )

    def add_arguments(self, parser):
        parser.add_argument("versions", nargs="*", metavar="MODEL:NUMBER|MODEL@ALIAS")
        parser.add_argument(
            "--missing",
            action="store_true",
            help="every ready version without compiled code this server can use",
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
            for version in ready.select_related("model"):
                if all or acceleration.needs_compiling(version):
                    chosen.append(version)
        for version in chosen:
            try:
                sample = training.holdout_rows(version).drop(columns=[version.label])
            except RegistryError:
                sample = None  # its dataset is gone: the branch-by-branch check only
            outcome = acceleration.compile_version(version, sample)
            detail = (
                f"{outcome['boosters']} LightGBM model(s), {outcome['trees']} trees, "
                f"{outcome['seconds']:.1f} s"
                if outcome["status"] == "compiled"
                else outcome.get("reason", "")
            )
            self.stdout.write(f"{version}: {outcome['status']} ({detail})")
        if not chosen:
            self.stdout.write("nothing to compile")

    @staticmethod
    def _version(ref: str) -> ModelVersion:
        name, sep, rest = ref.replace("@", ":").partition(":")
        if not sep or not rest:
            raise CommandError(f"{ref!r}: write MODEL:NUMBER or MODEL@ALIAS")
        try:
            return services.resolve(name, rest)
        except RegistryError as exc:
            raise CommandError(f"{ref}: {exc}") from exc
