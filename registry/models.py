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
    """A training file, stored once per content hash: uploaded, or a
    datasource query's rows snapshotted to Parquet (registry.snapshots)."""

    class Format(models.TextChoices):
        CSV = "csv", _("CSV")
        PARQUET = "parquet", _("Parquet")
        EXCEL = "excel", _("Excel")

    class Source(models.TextChoices):
        UPLOAD = "upload", _("Uploaded file")
        QUERY = "query", _("Datasource query")

    sha256 = models.CharField(_("SHA-256"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    format = models.CharField(_("format"), max_length=16, choices=Format.choices)
    # How to read it back exactly as it was profiled (delimiter, decimal, encoding).
    read_options = models.JSONField(_("read options"), default=dict, blank=True)
    # Per column how it is read (registry.parsing.ColumnType as JSON): the
    # detected type and rule, or the user's correction; [] = as pandas reads.
    column_types = models.JSONField(_("column types"), default=list, blank=True)
    size_bytes = models.BigIntegerField(_("size (bytes)"), default=0)
    rows = models.IntegerField(_("rows"), default=0)
    columns = models.JSONField(_("columns"), default=list, blank=True)
    profile = models.JSONField(_("column profile"), default=dict, blank=True)
    # Where the rows came from: an upload, or a query run on a datasource
    # (its SQL with :name parameters, their values, when it ran).
    source = models.CharField(
        _("source"), max_length=16, choices=Source.choices, default=Source.UPLOAD
    )
    datasource = models.CharField(_("datasource"), max_length=100, blank=True)
    query = models.TextField(_("query"), blank=True)
    params = models.JSONField(_("query parameters"), default=dict, blank=True)
    snapshot_at = models.DateTimeField(_("snapshot taken"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("dataset")
        verbose_name_plural = _("datasets")
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("registry:dataset", args=[self.pk])

    @property
    def is_query(self) -> bool:
        return self.source == self.Source.QUERY

    def source_info(self) -> dict:
        """Where the rows came from, for a version's lineage ({} for an upload)."""
        if not self.is_query:
            return {}
        return {
            "source": self.source,
            "datasource": self.datasource,
            "query": self.query,
            "params": dict(self.params),
            "snapshot_at": self.snapshot_at.isoformat() if self.snapshot_at else None,
        }

    @property
    def short_hash(self) -> str:
        return self.sha256[:12]


class RegisteredModel(models.Model):
    """A named model, e.g. "penguins", with numbered versions and aliases."""

    name = models.CharField(
        _("name"), max_length=63, unique=True, validators=[slug_validator]
    )
    description = models.TextField(_("description"), blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)

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
        RegisteredModel,
        on_delete=models.CASCADE,
        related_name="versions",
        verbose_name=_("model"),
    )
    number = models.PositiveIntegerField(_("number"))
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.READY
    )
    label = models.CharField(
        _("label"), max_length=200, help_text=_("The predicted column.")
    )
    problem_type = models.CharField(_("problem type"), max_length=16)
    eval_metric = models.CharField(_("evaluation metric"), max_length=64)
    features = FeatureSchemaField(_("features"), default=list)
    classes = models.JSONField(_("classes"), default=list, blank=True)
    scores = models.JSONField(_("held-out scores"), default=dict)
    lineage = LineageField(_("lineage"), default=dict)
    leaderboard = models.JSONField(_("leaderboard"), default=list, blank=True)
    feature_importance = models.JSONField(
        _("feature importance"), default=list, blank=True
    )
    evaluation = models.JSONField(
        _("evaluation"),
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
        verbose_name=_("dataset"),
    )
    # The manifest's own hash: a manifest rewritten outside the platform no
    # longer matches the row, so its files are refused.
    manifest_sha256 = models.CharField(_("manifest SHA-256"), max_length=64, blank=True)
    # The hash of compiled/compiled.json (LightGBM boosters compiled to native
    # code, registry.acceleration); "" = none. Compiled code runs when loaded,
    # so only files this row vouches for are used.
    compiled_sha256 = models.CharField(
        _("compiled code SHA-256"), max_length=64, blank=True
    )
    size_bytes = models.BigIntegerField(_("size (bytes)"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)
    status_changed = models.DateTimeField(_("status changed"), null=True, blank=True)
    # The per-model held-out leaderboard, permutation importance and latency
    # are measured after the version is ready (registry.training.analyse), so
    # a new model can be used as soon as its fit and held-out score are in.
    analysis = models.CharField(
        _("analysis"), max_length=16, choices=Analysis.choices, default=Analysis.DONE
    )
    analysis_error = models.TextField(_("analysis error"), blank=True)

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
        ModelVersion,
        on_delete=models.CASCADE,
        related_name="drift_reference",
        verbose_name=_("version"),
    )
    data = models.JSONField(_("reference data"), default=dict)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("drift reference")
        verbose_name_plural = _("drift references")

    def __str__(self) -> str:
        return f"drift reference of {self.version}"


class ModelAlias(models.Model):
    """A movable name for one version of a model, e.g. production -> v3."""

    model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.CASCADE,
        related_name="aliases",
        verbose_name=_("model"),
    )
    name = models.CharField(_("name"), max_length=63, validators=[slug_validator])
    version = models.ForeignKey(
        ModelVersion,
        on_delete=models.CASCADE,
        related_name="aliases",
        verbose_name=_("version"),
    )
    updated = models.DateTimeField(_("updated"), auto_now=True)

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

    dataset = models.ForeignKey(
        Dataset,
        on_delete=models.PROTECT,
        related_name="jobs",
        verbose_name=_("dataset"),
    )
    model_name = models.CharField(
        _("model name"), max_length=63, validators=[slug_validator]
    )
    # label, problem_type, eval_metric, preset, time_limit, excluded, seed, alias
    options = models.JSONField(_("training options"), default=dict)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    task_id = models.CharField(_("task ID"), max_length=64, blank=True)
    stage = models.CharField(_("stage"), max_length=64, blank=True)
    models_trained = models.IntegerField(_("models trained"), default=0)
    cancel_requested = models.BooleanField(_("cancellation requested"), default=False)
    log = models.TextField(_("log"), blank=True)
    error = models.TextField(_("error"), blank=True)
    version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
        verbose_name=_("version"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)
    started = models.DateTimeField(_("started"), null=True, blank=True)
    finished = models.DateTimeField(_("finished"), null=True, blank=True)
    # "local" (the task worker) or "slurm" (a batch job running manage.py
    # train_job on a node); on Slurm, the job and Slurm's last word on it.
    executor = models.CharField(_("executor"), max_length=10, default="local")
    slurm_job_id = models.CharField(
        _("Slurm job ID"), max_length=32, blank=True, db_index=True
    )
    slurm_partition = models.CharField(_("Slurm partition"), max_length=64, blank=True)
    slurm_node = models.CharField(_("Slurm node"), max_length=255, blank=True)
    slurm_state = models.CharField(_("Slurm state"), max_length=32, blank=True)

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
        # Each executor has its own queue: the worker's, the cluster's.
        return TrainingJob.objects.filter(
            status=self.Status.QUEUED, pk__lte=self.pk, executor=self.executor
        ).count()


class RetrainPolicy(models.Model):
    """When and how a model is retrained (registry/retraining.py runs it)."""

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("On a cron schedule")
        DRIFT = "drift", _("When a dispatch of the model drifts")
        METRIC = "metric", _("When the realised metric declines")
        MANUAL = "manual", _("By hand only")

    class Data(models.TextChoices):
        QUERY = "query", _("The champion's training query")
        UPLOAD = "upload", _("The latest upload of the champion's dataset")

    class Action(models.TextChoices):
        CHALLENGER = "challenger", _("Add as challenger (waits for approval)")
        REPLACE = "replace", _("Replace the champion when it wins")

    model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.CASCADE,
        related_name="retrain_policies",
        verbose_name=_("model"),
    )
    name = models.CharField(_("name"), max_length=63, validators=[slug_validator])
    enabled = models.BooleanField(_("enabled"), default=True)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    cron = models.CharField(_("cron expression"), max_length=100, blank=True)
    timezone = models.CharField(_("timezone"), max_length=64, default="UTC")
    data = models.CharField(
        _("training data"), max_length=16, choices=Data.choices, default=Data.QUERY
    )
    # TrainOptions fields that differ from the champion's (preset, time_limit...).
    overrides = models.JSONField(_("option overrides"), default=dict, blank=True)
    min_interval_minutes = models.PositiveIntegerField(
        _("minimum interval (minutes)"), default=60
    )
    action = models.CharField(
        _("action"), max_length=16, choices=Action.choices, default=Action.CHALLENGER
    )
    min_improvement = models.FloatField(_("minimum improvement"), default=0.0)
    max_fairness_gap_increase = models.FloatField(
        _("maximum fairness gap increase"), null=True, blank=True
    )
    alias = models.CharField(
        _("alias"), max_length=63, default="production", validators=[slug_validator]
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("retrain policy")
        verbose_name_plural = _("retrain policies")
        ordering = ["model__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "name"], name="registry_retrain_policy_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.model.name}:{self.name}"

    def get_absolute_url(self) -> str:
        return reverse("registry:policies", args=[self.model.name])


class RetrainRun(models.Model):
    """One firing of a policy: the lineage policy -> trigger -> data -> job ->
    version -> comparison."""

    class State(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SNAPSHOTTING = "snapshotting", _("Reading the data")
        TRAINING = "training", _("Training")
        COMPARING = "comparing", _("Comparing with the champion")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")
        SKIPPED = "skipped", _("Skipped")

    ACTIVE = (State.QUEUED, State.SNAPSHOTTING, State.TRAINING, State.COMPARING)

    policy = models.ForeignKey(
        RetrainPolicy,
        on_delete=models.CASCADE,
        related_name="runs",
        verbose_name=_("policy"),
    )
    model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.CASCADE,
        related_name="retrain_runs",
        verbose_name=_("model"),
    )
    trigger = models.CharField(
        _("trigger"), max_length=16, choices=RetrainPolicy.Trigger.choices
    )
    detail = models.CharField(
        _("trigger detail"), max_length=300, blank=True
    )  # what fired it
    scheduled_for = models.DateTimeField(_("scheduled for"))
    state = models.CharField(
        _("state"), max_length=16, choices=State.choices, default=State.QUEUED
    )
    reason = models.TextField(_("reason"), blank=True)  # why skipped
    error = models.TextField(_("error"), blank=True)
    # The model's id while the run is active, NULL after: unique, so
    # overlapping triggers give one retrain on every database backend.
    active_model = models.BigIntegerField(
        _("active model ID"), null=True, blank=True, unique=True
    )
    champion = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="challenged_by_runs",
        verbose_name=_("champion"),
    )
    dataset = models.ForeignKey(
        Dataset,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("dataset"),
    )
    job = models.ForeignKey(
        TrainingJob,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retrain_runs",
        verbose_name=_("training job"),
    )
    version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="retrain_runs",
        verbose_name=_("version"),
    )
    challenge_id = models.BigIntegerField(_("challenge ID"), null=True, blank=True)
    outcome = models.CharField(_("outcome"), max_length=300, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("created by"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)
    finished = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("retrain run")
        verbose_name_plural = _("retrain runs")
        ordering = ["-created", "-id"]

    def __str__(self) -> str:
        return f"retrain run {self.pk} ({self.policy})"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE


# --- Challengers and promotion (registry/challengers.py) --------------------


class Challenge(models.Model):
    """A new version proposed to replace the version an alias points at."""

    class State(models.TextChoices):
        PENDING = "pending", _("Waiting for approval")
        APPROVED = "approved", _("Approved and promoted")
        REJECTED = "rejected", _("Rejected")
        HELD = "held", _("Held: the rule was not met")
        PROMOTED = "promoted", _("Promoted by the rule")
        SUPERSEDED = "superseded", _("Superseded")

    # States in which the challenger took the alias.
    PROMOTING = (State.APPROVED, State.PROMOTED)

    model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.CASCADE,
        related_name="challenges",
        verbose_name=_("model"),
    )
    alias = models.CharField(_("alias"), max_length=63, validators=[slug_validator])
    champion = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="defences",
        verbose_name=_("champion"),
    )
    challenger = models.ForeignKey(
        ModelVersion,
        on_delete=models.CASCADE,
        related_name="challenges",
        verbose_name=_("challenger"),
    )
    state = models.CharField(_("state"), max_length=16, choices=State.choices)
    comparison = models.JSONField(
        _("comparison"), default=dict, blank=True
    )  # Comparison.to_json
    rule = models.JSONField(
        _("promotion rule"), default=dict, blank=True
    )  # PromotionRule.to_json
    # The rule's verdict: whether each clause was met, and why not.
    verdict = models.JSONField(_("verdict"), default=dict, blank=True)
    origin = models.CharField(_("origin"), max_length=500, blank=True)
    # Dispatch runs of the champion in which the challenger also predicts.
    shadow_runs = models.PositiveIntegerField(_("shadow runs"), default=0)
    proposed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("proposed by"),
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("challenge")
        verbose_name_plural = _("challenges")
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        return (
            f"challenge {self.pk}: {self.challenger} for {self.model.name}@{self.alias}"
        )

    def get_absolute_url(self) -> str:
        return reverse("registry:challenge", args=[self.model.name, self.pk])

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING

    @property
    def promoted(self) -> bool:
        return self.state in self.PROMOTING

    @property
    def shadow_left(self) -> int:
        return max(0, self.shadow_runs - self.shadows.count())


class AliasChange(models.Model):
    """One move of an alias: what rollback walks back, and lineage shows."""

    class Kind(models.TextChoices):
        TRAINED = "trained", _("Set at training")
        MOVED = "moved", _("Moved by hand")
        PROMOTED = "promoted", _("Promoted")
        ROLLED_BACK = "rolled_back", _("Rolled back")

    model = models.ForeignKey(
        RegisteredModel,
        on_delete=models.CASCADE,
        related_name="alias_changes",
        verbose_name=_("model"),
    )
    alias = models.CharField(_("alias"), max_length=63)
    from_version = models.ForeignKey(
        ModelVersion,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alias_changes_from",
        verbose_name=_("from version"),
    )
    to_version = models.ForeignKey(
        ModelVersion,
        on_delete=models.CASCADE,
        related_name="alias_changes_to",
        verbose_name=_("to version"),
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    reason = models.TextField(_("reason"), blank=True)
    challenge = models.ForeignKey(
        Challenge,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="alias_changes",
        verbose_name=_("challenge"),
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("alias change")
        verbose_name_plural = _("alias changes")
        ordering = ["-created", "-pk"]

    def __str__(self) -> str:
        before = f"v{self.from_version.number}" if self.from_version else "none"
        return f"{self.model.name}@{self.alias}: {before} -> v{self.to_version.number}"


class ShadowRun(models.Model):
    """The challenger's predictions beside the champion's in one dispatch run,
    never written to the sink: how often the two agree."""

    class Realised(models.TextChoices):
        SCORED = "scored", _("Scored")
        NO_MATCH = "no_match", _("No actuals matched yet")
        FAILED = "failed", _("Could not be computed")

    challenge = models.ForeignKey(
        Challenge,
        on_delete=models.CASCADE,
        related_name="shadows",
        verbose_name=_("challenge"),
    )
    # An id, not a foreign key: the dispatch app depends on the registry.
    dispatch_run_id = models.BigIntegerField(_("dispatch run ID"))
    dispatch_name = models.CharField(_("dispatch name"), max_length=200, blank=True)
    rows = models.BigIntegerField(_("rows"), default=0)
    # Classification: the share of rows with the same label; regression:
    # the mean absolute difference between the two predictions.
    agreement = models.FloatField(_("agreement"), null=True, blank=True)
    mean_abs_difference = models.FloatField(
        _("mean absolute difference"), null=True, blank=True
    )
    # Label counts (classification) or mean and spread (regression) of each.
    summary = models.JSONField(_("summary"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)
    # The run's key columns and both predictions, under paths.shadow, kept
    # until the challenge is decided (registry.shadow); "" when none stored.
    predictions_file = models.CharField(
        _("predictions file"), max_length=500, blank=True
    )
    # Realised metrics once actuals arrive (monitor.realised): both versions
    # on the same matched rows, {"champion": {...}, "challenger": {...}}.
    realised_state = models.CharField(
        _("realised state"), max_length=16, choices=Realised.choices, blank=True
    )
    realised_reason = models.TextField(_("realised reason"), blank=True)
    realised_rows = models.BigIntegerField(_("realised rows"), default=0)
    realised = models.JSONField(_("realised metrics"), default=dict, blank=True)
    realised_computed = models.DateTimeField(
        _("realised metrics computed"), null=True, blank=True
    )
    created = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("shadow run")
        verbose_name_plural = _("shadow runs")
        ordering = ["-created", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["challenge", "dispatch_run_id"],
                name="registry_shadow_run_unique",
            )
        ]

    def __str__(self) -> str:
        return f"shadow of {self.challenge} in run {self.dispatch_run_id}"

    def realised_pairs(self) -> list[tuple[str, float | None, float | None]]:
        """(metric, champion, challenger) on the same matched rows."""
        champion = self.realised.get("champion") or {}
        challenger = self.realised.get("challenger") or {}
        names = list(dict.fromkeys([*champion, *challenger]))
        return [(n, champion.get(n), challenger.get(n)) for n in names]


class VersionFairness(models.Model):
    """A version's fairness report per group (registry.fairness.FairnessReport
    as JSON), in its own row like the drift reference: read by the version,
    compare and API pages only."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Being computed")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    version = models.OneToOneField(
        ModelVersion,
        on_delete=models.CASCADE,
        related_name="fairness",
        verbose_name=_("version"),
    )
    sensitive = models.JSONField(_("sensitive columns"), default=list)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    error = models.TextField(_("error"), blank=True)
    report = models.JSONField(_("report"), default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        verbose_name=_("requested by"),
    )
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("version fairness")
        verbose_name_plural = _("version fairness reports")

    def __str__(self) -> str:
        return f"fairness of {self.version}"

    @property
    def is_busy(self) -> bool:
        """Queued or running, and not abandoned by a stopped worker."""
        return self.status in (self.Status.QUEUED, self.Status.RUNNING) and (
            timezone.now() - self.updated <= ANALYSIS_STALLED_AFTER
        )
