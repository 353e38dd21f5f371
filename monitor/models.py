"""What the Monitor remembers between runs: the state of every alert, each
model's monitoring settings, each run's drift and the realised scores."""

from __future__ import annotations

from datetime import timedelta

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class Rule(models.TextChoices):
    HOST_DOWN = "host_down", _("Host down")
    DATABASE_DOWN = "database_down", _("Database down")
    SERVICE_DOWN = "service_down", _("Service down")
    CONSECUTIVE_FAILURES = "consecutive_failures", _("Consecutive failed runs")
    LOW_ROWS = "low_rows", _("Zero or too few rows")
    LATE_RUN = "late_run", _("Late or missed run")
    DATASET_DRIFT = "dataset_drift", _("Dataset drift")
    FEATURE_DRIFT = "feature_drift", _("Important feature drifting")
    PREDICTION_DRIFT = "prediction_drift", _("Prediction drift")
    METRIC_DECLINE = "metric_decline", _("Realised metric decline")


class AlertStatus(models.TextChoices):
    OK = "ok", _("OK")
    PENDING = "pending", _("Failing, within its grace time")
    FIRING = "firing", _("Alert sent")


class AlertState(models.Model):
    """One watched condition, e.g. ``host:web`` or ``dispatch:3:failures``.

    An alert is sent when the condition has failed for longer than its grace
    time and is not sent again until the condition has recovered.
    """

    key = models.CharField(_("condition"), max_length=200, unique=True)
    rule = models.CharField(_("rule"), max_length=32, choices=Rule.choices)
    subject = models.CharField(_("subject"), max_length=200)
    # Plain id, not a foreign key: the monitor only reads dispatch state.
    dispatch_id = models.BigIntegerField(_("dispatch ID"), null=True, blank=True)
    status = models.CharField(
        _("state"), max_length=8, choices=AlertStatus.choices, default=AlertStatus.OK
    )
    failing_since = models.DateTimeField(_("failing since"), null=True, blank=True)
    fired_at = models.DateTimeField(_("alert sent"), null=True, blank=True)
    recovered_at = models.DateTimeField(_("recovered at"), null=True, blank=True)
    checked_at = models.DateTimeField(_("checked at"), default=timezone.now)
    detail = models.TextField(_("detail"), blank=True)
    times_fired = models.PositiveIntegerField(_("times sent"), default=0)
    delivery_error = models.TextField(_("delivery error"), blank=True)

    class Meta:
        verbose_name = _("alert state")
        verbose_name_plural = _("alert states")
        ordering = ["key"]
        indexes = [models.Index(fields=["status"], name="alertstate_status")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"

    def failing_for(self, now=None) -> timedelta:
        if self.failing_since is None:
            return timedelta(0)
        return (now or timezone.now()) - self.failing_since


class ModelMonitoring(models.Model):
    """How a registered model is watched after deployment: its drift settings
    (monitor.drift.report.DriftSettings as JSON) and its actuals query."""

    model = models.OneToOneField(
        "registry.RegisteredModel",
        on_delete=models.CASCADE,
        related_name="monitoring",
        verbose_name=_("model"),
    )
    drift_enabled = models.BooleanField(
        _("measure drift"),
        default=True,
        help_text=_("Measure drift in every dispatch run of this model."),
    )
    # DriftSettings.to_json(): methods, thresholds and ignored features.
    drift_settings = models.JSONField(_("drift settings"), default=dict, blank=True)
    important_features = models.PositiveSmallIntegerField(
        _("important features"),
        default=3,
        help_text=_(
            "The features ranked this high by permutation importance "
            "count as important."
        ),
    )
    important_runs = models.PositiveSmallIntegerField(
        _("runs in a row"),
        default=3,
        help_text=_(
            "Alert when an important feature drifts in this many runs in a row."
        ),
    )
    # Realised performance: a read-only query returning the key columns and
    # the true label, joined to the rows dispatches wrote.
    actuals_datasource = models.CharField(
        _("actuals datasource"), max_length=64, blank=True
    )
    actuals_query = models.TextField(_("actuals query"), blank=True)
    actuals_key_columns = models.JSONField(
        _("actuals key columns"),
        default=list,
        blank=True,
        help_text=_("Empty: the dispatch's key columns."),
    )
    actuals_label_column = models.CharField(
        _("actuals label column"), max_length=64, default="actual"
    )
    metric_tolerance = models.FloatField(
        _("metric tolerance"),
        default=0.05,
        help_text=_(
            "Alert when a realised metric is worse than the held-out "
            "score by more than this (absolute, in the metric's units; for "
            "RMSE and MAE, relative)."
        ),
    )
    actuals_days = models.PositiveSmallIntegerField(
        _("actuals days"),
        default=30,
        help_text=_(
            "Realised scores are computed for the runs of this many "
            "last days (actuals arrive later; older runs keep their scores)."
        ),
    )
    # The last computation of the realised scores, and why it failed.
    realised_checked = models.DateTimeField(
        _("realised scores checked"), null=True, blank=True
    )
    realised_error = models.TextField(_("realised scores error"), blank=True)
    updated = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("model monitoring")
        verbose_name_plural = _("model monitoring")

    def __str__(self) -> str:
        return f"monitoring of {self.model}"

    @classmethod
    def of(cls, model) -> ModelMonitoring:
        """The model's settings; the defaults (unsaved) when none were saved."""
        return cls.objects.filter(model=model).first() or cls(model=model)


class DriftState(models.TextChoices):
    CHECKED = "checked", _("Checked")
    UNCHECKED = "unchecked", _("Not checked")  # no reference, no rows, ...
    FAILED = "failed", _("Could not be measured")


class RunDrift(models.Model):
    """The drift report of one dispatch run (monitor.drift.report.DriftReport
    as JSON), with the figures the pages and alerts filter on as columns."""

    run = models.OneToOneField(
        "dispatch.DispatchRun",
        on_delete=models.CASCADE,
        related_name="drift",
        verbose_name=_("run"),
    )
    version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.CASCADE,
        related_name="run_drifts",
        verbose_name=_("version"),
    )
    # Plain id, like AlertState: the monitor only reads dispatch state.
    dispatch_id = models.BigIntegerField(_("dispatch ID"))
    created = models.DateTimeField(_("created"), default=timezone.now)
    state = models.CharField(
        _("state"),
        max_length=10,
        choices=DriftState.choices,
        default=DriftState.CHECKED,
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    rows = models.BigIntegerField(_("rows"), default=0)
    drift_share = models.FloatField(_("drift share"), null=True, blank=True)
    dataset_drift = models.BooleanField(_("dataset drift"), default=False)
    prediction_drift = models.BooleanField(_("prediction drift"), default=False)
    drifted = models.JSONField(_("drifted features"), default=list, blank=True)
    important_drifted = models.JSONField(
        _("important features drifted"), default=list, blank=True
    )
    report = models.JSONField(_("report"), default=dict)
    seconds = models.FloatField(_("seconds"), default=0.0)

    class Meta:
        verbose_name = _("run drift")
        verbose_name_plural = _("run drifts")
        ordering = ["-created", "-id"]
        indexes = [
            models.Index(fields=["version", "-created"], name="rundrift_version"),
            models.Index(fields=["dispatch_id", "-created"], name="rundrift_dispatch"),
        ]

    def __str__(self) -> str:
        return f"drift of run {self.run_id}"


class MetricScope(models.TextChoices):
    RUN = "run", _("Run")
    DAY = "day", _("Day")


class RealisedState(models.TextChoices):
    SCORED = "scored", _("Scored")
    NO_ROWS = "no_rows", _("No predictions in the sink")
    NO_MATCH = "no_match", _("No actuals matched yet")
    FAILED = "failed", _("Could not be computed")


class RealisedScore(models.Model):
    """Realised performance once actuals arrived: the model's predictions as
    dispatches wrote them, joined to the actuals query, per run or per day."""

    version = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.CASCADE,
        related_name="realised_scores",
        verbose_name=_("version"),
    )
    scope = models.CharField(_("scope"), max_length=4, choices=MetricScope.choices)
    run = models.ForeignKey(
        "dispatch.DispatchRun",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="realised_scores",
        verbose_name=_("run"),
    )
    day = models.DateField(_("day"), null=True, blank=True)
    rows_predicted = models.BigIntegerField(_("rows predicted"), default=0)
    rows_matched = models.BigIntegerField(_("rows matched"), default=0)
    # {"accuracy": .., "f1": .., "roc_auc": ..} or {"rmse": .., "mae": ..}
    metrics = models.JSONField(_("metrics"), default=dict)
    state = models.CharField(
        _("state"),
        max_length=8,
        choices=RealisedState.choices,
        default=RealisedState.SCORED,
    )
    reason = models.CharField(_("reason"), max_length=500, blank=True)
    # Metrics left out and why: {"roc_auc": "no probabilities were written"}.
    absent = models.JSONField(_("metrics left out"), default=dict, blank=True)
    computed = models.DateTimeField(_("computed"), default=timezone.now)

    class Meta:
        verbose_name = _("realised score")
        verbose_name_plural = _("realised scores")
        ordering = ["-computed"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "run"],
                condition=models.Q(scope="run"),
                name="realised_one_per_run",
            ),
            models.UniqueConstraint(
                fields=["version", "day"],
                condition=models.Q(scope="day"),
                name="realised_one_per_day",
            ),
        ]
        indexes = [
            models.Index(fields=["version", "scope", "day"], name="realised_version"),
        ]

    def __str__(self) -> str:
        return f"realised {self.scope} score of {self.version}"
