"""Datasets, training jobs, and registered models with numbered versions.

A version's files live in the model store (registry/store.py); its row keeps
the lineage, which survives archiving and deletion of the files.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from registry.contracts import FeatureSchemaField, LineageField
from registry.errors import VersionNotFound

# Importance within its budget plus the leaderboard and latency take seconds
# to a few minutes; far past that, the worker measuring them is gone.
ANALYSIS_STALLED_AFTER = timedelta(minutes=30)


def parse_ref(ref: str | int) -> str | int:
    """A version reference: its number (3, "3", "v3") or an alias name."""
    if isinstance(ref, int):
        return ref
    text = str(ref).strip()
    number = text[1:] if text[:1] in ("v", "V") and text[1:].isdigit() else text
    return int(number) if number.isdigit() else text


slug_validator = RegexValidator(
    r"^[a-z0-9][a-z0-9_-]{0,62}$",
    _(
        "Use 1-63 lower-case letters, digits, '-' or '_', "
        "starting with a letter or digit."
    ),
)


class Dataset(models.Model):
    """An uploaded training file, stored once per content hash."""

    class Format(models.TextChoices):
        CSV = "csv", "CSV"
        PARQUET = "parquet", "Parquet"
        EXCEL = "excel", "Excel"

    sha256 = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    format = models.CharField(max_length=16, choices=Format.choices)
    # How to read it back exactly as it was profiled (delimiter, decimal, encoding).
    read_options = models.JSONField(default=dict, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    rows = models.IntegerField(default=0)
    columns = models.JSONField(default=list, blank=True)
    profile = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:dataset", args=[self.pk])

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


class RegisteredModel(models.Model):
    """A named model, e.g. "penguins", with numbered versions and aliases."""

    name = models.CharField(max_length=63, unique=True, validators=[slug_validator])
    description = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("model")
        verbose_name_plural = _("models")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:model", args=[self.name])

    def version_for(self, ref: str | int = "production") -> ModelVersion:
        """The version behind an alias name or a version number ("3", 3, "v3")."""
        ref = parse_ref(ref)
        if isinstance(ref, int):
            try:
                return self.versions.get(number=ref)
            except ModelVersion.DoesNotExist:
                raise VersionNotFound(
                    gettext("Model %(model)s has no version %(ref)s.")
                    % {"model": self.name, "ref": ref}
                ) from None
        alias = self.aliases.select_related("version").filter(name=ref).first()
        if alias is None:
            raise VersionNotFound(
                gettext("Model %(model)s has no alias %(ref)r.")
                % {"model": self.name, "ref": ref}
            )
        return alias.version

    def latest_version(self) -> ModelVersion | None:
        return self.versions.order_by("-number").first()


class ModelVersion(models.Model):
    class Status(models.TextChoices):
        READY = "ready", _("Ready")
        ARCHIVED = "archived", _("Archived")
        DELETED = "deleted", _("Deleted")

    class Analysis(models.TextChoices):
        RUNNING = "running", _("Being measured")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="versions"
    )
    number = models.PositiveIntegerField()
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.READY
    )
    label = models.CharField(max_length=200, help_text=_("The predicted column."))
    problem_type = models.CharField(max_length=16)
    eval_metric = models.CharField(max_length=64)
    features = FeatureSchemaField(default=list)
    classes = models.JSONField(default=list, blank=True)
    scores = models.JSONField(default=dict)
    lineage = LineageField(default=dict)
    leaderboard = models.JSONField(default=list, blank=True)
    feature_importance = models.JSONField(default=list, blank=True)
    evaluation = models.JSONField(
        default=dict,
        blank=True,
        help_text=_("Confusion matrix or predicted-vs-actual."),
    )
    dataset = models.ForeignKey(
        Dataset,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="versions",
    )
    # The manifest's own hash: a manifest rewritten outside the platform no
    # longer matches the row, so its files are refused.
    manifest_sha256 = models.CharField(max_length=64, blank=True)
    # The hash of compiled/compiled.json (LightGBM boosters compiled to native
    # code, registry.acceleration); "" = none. Compiled code runs when loaded,
    # so only files this row vouches for are used.
    compiled_sha256 = models.CharField(max_length=64, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    status_changed = models.DateTimeField(null=True, blank=True)
    # The per-model held-out leaderboard, permutation importance and latency
    # are measured after the version is ready (registry.training.analyse), so
    # a new model can be used as soon as its fit and held-out score are in.
    analysis = models.CharField(
        max_length=16, choices=Analysis.choices, default=Analysis.DONE
    )
    analysis_error = models.TextField(blank=True)

    class Meta:
        verbose_name = _("model version")
        verbose_name_plural = _("model versions")
        ordering = ["model__name", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "number"], name="registry_version_number_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model.name} v{self.number}"

    def get_absolute_url(self) -> str:
        return reverse("registry:version", args=[self.model.name, self.number])

    def feature_names(self) -> list[str]:
        return self.features.names

    @property
    def is_classification(self) -> bool:
        return self.problem_type in ("binary", "multiclass")

    @property
    def typical_error(self) -> float | None:
        if self.is_classification:
            return None
        mae = self.scores.get("mae")
        return float(mae) if mae is not None else None

    @property
    def is_ready(self) -> bool:
        return self.status == self.Status.READY

    @property
    def analysis_stalled(self) -> bool:
        """Still "running" long after it should have ended: its worker died."""
        return self.analysis == self.Analysis.RUNNING and (
            timezone.now() - self.created > ANALYSIS_STALLED_AFTER
        )

    @property
    def analysis_can_rerun(self) -> bool:
        return self.is_ready and (
            self.analysis == self.Analysis.FAILED or self.analysis_stalled
        )

    @property
    def eval_score(self) -> float | None:
        return self.scores.get(self.eval_metric)

    def alias_names(self) -> list[str]:
        return sorted(alias.name for alias in self.aliases.all())


class DriftReference(models.Model):
    """A version's drift reference (registry.drift_reference.Reference as
    JSON): tens of kilobytes per feature, so in its own row, read only by
    drift checks, not with every version."""

    version = models.OneToOneField(
        ModelVersion, on_delete=models.CASCADE, related_name="drift_reference"
    )
    data = models.JSONField(default=dict)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("drift reference")
        verbose_name_plural = _("drift references")

    def __str__(self) -> str:
        return f"drift reference of {self.version}"


class ModelAlias(models.Model):
    """A movable name for one version of a model, e.g. production -> v3."""

    model = models.ForeignKey(
        RegisteredModel, on_delete=models.CASCADE, related_name="aliases"
    )
    name = models.CharField(max_length=63, validators=[slug_validator])
    version = models.ForeignKey(
        ModelVersion, on_delete=models.CASCADE, related_name="aliases"
    )
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("model alias")
        verbose_name_plural = _("model aliases")
        ordering = ["model__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "name"], name="registry_alias_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model.name}@{self.name} -> v{self.version.number}"


class TrainingJob(models.Model):
    """One training request: queued, run by the worker, ends in a version."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    dataset = models.ForeignKey(Dataset, on_delete=models.PROTECT, related_name="jobs")
    model_name = models.CharField(max_length=63, validators=[slug_validator])
    # label, problem_type, eval_metric, preset, time_limit, excluded, seed, alias
    options = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    task_id = models.CharField(max_length=64, blank=True)
    stage = models.CharField(max_length=64, blank=True)
    models_trained = models.IntegerField(default=0)
    cancel_requested = models.BooleanField(default=False)
    log = models.TextField(blank=True)
    error = models.TextField(blank=True)
    version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created = models.DateTimeField(auto_now_add=True)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("training job")
        verbose_name_plural = _("training jobs")
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"training job {self.pk} ({self.model_name})"

    def get_absolute_url(self) -> str:
        return reverse("registry:job", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def time_limit(self) -> int:
        return int(self.options.get("time_limit") or 0)

    def queue_position(self) -> int | None:
        """1 = next to start; None when not waiting."""
        if self.status != self.Status.QUEUED:
            return None
        return TrainingJob.objects.filter(
            status=self.Status.QUEUED, pk__lte=self.pk
        ).count()
