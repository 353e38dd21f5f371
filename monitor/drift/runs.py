"""Drift in a dispatch run: watch(run, version) gives the predict stage its
hook; finish() stores the run's report (RunDrift), logs drift.detected or
drift.cleared when the dispatch's state changes, and evaluates its alerts.

Monitoring never fails a run: whatever goes wrong here becomes the report's
state and reason.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from django.db import transaction

from mlframework.events.log import log_event
from monitor.drift import alerts
from monitor.drift.accumulator import DriftAccumulator
from monitor.drift.report import DriftReport, DriftSettings, DriftSettingsError
from monitor.models import DriftState, ModelMonitoring, RunDrift
from registry import drift_reference
from registry.services import BatchPrediction

logger = logging.getLogger("mlframework.monitor")

SOURCE = "monitor"
EVENT_FEATURES = 20  # drifted features named in an event; the report has all


def settings_of(monitoring: ModelMonitoring) -> DriftSettings:
    """Saved settings that no longer validate fall back to the defaults; the
    admin form and the API refuse them, so only a hand-edited row gets here."""
    try:
        return DriftSettings.from_json(monitoring.drift_settings)
    except (DriftSettingsError, TypeError) as exc:
        logger.warning("drift settings of %s ignored: %s", monitoring.model, exc)
        return DriftSettings()


@dataclass
class RunWatch:
    """One run's drift, gathered batch by batch in the predict stage."""

    run: object
    version: object
    monitoring: ModelMonitoring
    accumulator: DriftAccumulator | None = None
    reason: str = ""  # why nothing is measured, when accumulator is None
    seconds: float = 0.0
    failure: str = ""

    @property
    def hooks(self) -> list:
        return [self.hook] if self.accumulator is not None else []

    def hook(self, batch: BatchPrediction) -> None:
        if self.accumulator is None or self.failure:
            return
        started = time.perf_counter()
        try:
            self.accumulator.hook(batch)
        except Exception as exc:  # monitoring never fails the run
            logger.exception("drift of run %s could not be gathered", self.run.pk)
            self.failure = f"{type(exc).__name__}: {exc}"
        self.seconds += time.perf_counter() - started

    def finish(self, *, succeeded: bool = True) -> RunDrift | None:
        """Store the report; None when storing itself failed (logged)."""
        try:
            return self._finish(succeeded)
        except Exception:
            logger.exception("drift report of run %s not stored", self.run.pk)
            return None

    def _finish(self, succeeded: bool) -> RunDrift:
        started = time.perf_counter()
        if self.accumulator is None:
            report, state, reason = DriftReport(state=self.reason), "", self.reason
        elif self.failure:
            report = DriftReport(rows=self.accumulator.rows, state=self.failure)
            state, reason = DriftState.FAILED, self.failure
        else:
            report, state, reason = self.accumulator.report(), "", ""
        if not succeeded and not reason:
            state = DriftState.UNCHECKED
            reason = "the run failed: the report covers the rows predicted before"
        self.seconds += time.perf_counter() - started
        found = record(
            self.run,
            self.version,
            report,
            seconds=self.seconds,
            monitoring=self.monitoring,
            state=state,
            reason=reason,
        )
        if found.state == DriftState.CHECKED:
            _log_change(found)
        # Alert now rather than at the monitor's next round; the same states
        # are evaluated there, so an alert is still sent once.
        alerts.evaluate_dispatch(found.dispatch_id)
        return found


def watch(run, version) -> RunWatch:
    """What the predict stage calls; never raises."""
    monitoring = ModelMonitoring.of(version.model)
    if not monitoring.drift_enabled:
        return RunWatch(run, version, monitoring, reason="drift monitoring is off")
    try:
        reference = drift_reference.for_version(version)
        accumulator = DriftAccumulator(
            reference,
            settings=settings_of(monitoring),
            importance=version.feature_importance or (),
        )
    except Exception as exc:  # a broken reference is a state, not a failure
        logger.exception("drift reference of %s unusable", version)
        return RunWatch(
            run, version, monitoring, reason=f"no usable reference: {exc}"[:500]
        )
    if not accumulator.reference.ok:
        return RunWatch(
            run,
            version,
            monitoring,
            reason=accumulator.reference.state[:500],
        )
    return RunWatch(run, version, monitoring, accumulator=accumulator)


def record(
    run,
    version,
    report: DriftReport,
    *,
    seconds: float = 0.0,
    monitoring: ModelMonitoring | None = None,
    state: str = "",
    reason: str = "",
) -> RunDrift:
    """Store (or replace) the drift report of a run."""
    monitoring = monitoring or ModelMonitoring.of(version.model)
    if not state:
        if report.state:
            state, reason = DriftState.UNCHECKED, report.state
        elif not report.checked:
            state = DriftState.UNCHECKED
            reason = "no rows" if report.rows == 0 else "no feature could be checked"
        else:
            state = DriftState.CHECKED
    checked = state == DriftState.CHECKED
    with transaction.atomic():
        found, _ = RunDrift.objects.update_or_create(
            run=run,
            defaults={
                "version": version,
                "dispatch_id": run.dispatch_id,
                "state": state,
                "reason": reason[:500],
                "rows": report.rows,
                "drift_share": report.drift_share if checked else None,
                "dataset_drift": checked and report.dataset_drift,
                "prediction_drift": checked and report.prediction_drift,
                "drifted": report.drifted if checked else [],
                "important_drifted": (
                    important_drifted(report, monitoring.important_features)
                    if checked
                    else []
                ),
                "report": report.to_json(),
                "seconds": round(seconds, 4),
            },
        )
    return found


def important_drifted(report: DriftReport, top: int) -> list[str]:
    """Drifted features among the `top` ranked by permutation importance."""
    ranked = [f for f in report.features if f.importance is not None][:top]
    return [feature.name for feature in ranked if feature.drifted]


def drifting(found: RunDrift) -> bool:
    return found.dataset_drift or found.prediction_drift


def _log_change(found: RunDrift) -> None:
    before = (
        RunDrift.objects.filter(
            dispatch_id=found.dispatch_id,
            state=DriftState.CHECKED,
            created__lte=found.created,
        )
        .exclude(pk=found.pk)
        .order_by("-created", "-id")
        .first()
    )
    now, was = drifting(found), before is not None and drifting(before)
    if now == was:
        return
    run = found.run
    names = found.drifted[:EVENT_FEATURES]
    more = len(found.drifted) - len(names)
    what = []
    if found.dataset_drift:
        what.append(f"dataset drift ({found.drift_share:.0%} of the features)")
    if found.prediction_drift:
        what.append("prediction drift")
    if now:
        message = (
            f"Dispatch {run.dispatch.name}: run {run.pk}: {' and '.join(what)}"
            + (f"; drifted: {', '.join(names)}" if names else "")
            + (f" and {more} more" if more > 0 else "")
        )
    else:
        message = f"Dispatch {run.dispatch.name}: run {run.pk}: drift cleared"
    log_event(
        SOURCE,
        "drift.detected" if now else "drift.cleared",
        message,
        level="warning" if now else "info",
        dispatch_run=run,
        model_version=found.version_id,
        data={
            "dispatch": found.dispatch_id,
            "drift_share": found.drift_share,
            "dataset_drift": found.dataset_drift,
            "prediction_drift": found.prediction_drift,
            "drifted": names,
            "important_drifted": found.important_drifted[:EVENT_FEATURES],
        },
    )


def describe(run) -> str:
    """The run's drift in a few words, for the command line and logs."""
    found = RunDrift.objects.filter(run=run).first()
    if found is None:
        return "drift: no report (the run did not reach the model)"
    if found.state != DriftState.CHECKED:
        return f"drift: not checked ({found.reason})"
    checked = sum(1 for f in found.report.get("features", ()) if not f.get("state"))
    words = [
        f"{len(found.drifted)} of {checked} features drifted",
        "dataset drift" if found.dataset_drift else "no dataset drift",
    ]
    if found.prediction_drift:
        words.append("prediction drift")
    return "drift: " + ", ".join(words)
