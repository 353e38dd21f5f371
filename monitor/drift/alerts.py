"""Drift alert findings per dispatch, from its stored run reports: dataset
drift and prediction drift in the latest checked run, and an important
feature drifting in each of the last N checked runs. They go through the
Monitor's rules (monitor.alerts): sent once, then not until recovery.
"""

from __future__ import annotations

from dispatch.models import Dispatch
from monitor import schedules
from monitor.alerts import Finding, evaluate
from monitor.models import DriftState, ModelMonitoring, Rule, RunDrift


def findings(dispatches=None) -> list[Finding]:
    """Every dispatch's drift findings (or those of `dispatches`)."""
    if dispatches is None:
        dispatches = Dispatch.objects.select_related("model")
    result = []
    for dispatch in dispatches:
        monitoring = ModelMonitoring.of(dispatch.model)
        runs = list(
            RunDrift.objects.filter(dispatch_id=dispatch.pk, state=DriftState.CHECKED)
            .order_by("-created", "-id")
            .only(
                "run_id",
                "drift_share",
                "dataset_drift",
                "prediction_drift",
                "drifted",
                "important_drifted",
            )[: max(1, monitoring.important_runs)]
        )
        result += _dispatch_findings(dispatch, runs, monitoring.important_runs)
    return result


def evaluate_dispatch(dispatch_id: int) -> list:
    """Evaluate one dispatch's drift findings now (at the end of its run)."""
    dispatch = Dispatch.objects.select_related("model").filter(pk=dispatch_id).first()
    if dispatch is None:
        return []
    return evaluate(findings([dispatch]))


def _dispatch_findings(dispatch, runs: list[RunDrift], in_a_row: int) -> list[Finding]:
    subject = schedules.subject(dispatch)
    latest = runs[0] if runs else None
    if latest is None:
        dataset = prediction = "no checked drift report yet"
    else:
        share = latest.drift_share or 0.0
        dataset = f"run {latest.run_id}: {share:.0%} of the features drifted" + (
            f" ({', '.join(latest.drifted[:10])})" if latest.drifted else ""
        )
        prediction = f"run {latest.run_id}: " + (
            "the predictions drifted"
            if latest.prediction_drift
            else "the predictions did not drift"
        )
    recent = runs[:in_a_row]
    steady: list[str] = []
    if in_a_row > 0 and len(recent) == in_a_row:
        steady = sorted(set.intersection(*(set(r.important_drifted) for r in recent)))
    if steady:
        feature = (
            f"important feature(s) {', '.join(steady)} drifted in each of the "
            f"last {in_a_row} runs (latest: run {recent[0].run_id})"
        )
    else:
        feature = f"no important feature drifted in each of the last {in_a_row} runs"
    return [
        Finding(
            key=f"dispatch:{dispatch.pk}:drift",
            rule=Rule.DATASET_DRIFT,
            subject=subject,
            failing=bool(latest and latest.dataset_drift),
            detail=dataset,
            dispatch_id=dispatch.pk,
        ),
        Finding(
            key=f"dispatch:{dispatch.pk}:feature_drift",
            rule=Rule.FEATURE_DRIFT,
            subject=subject,
            failing=bool(steady),
            detail=feature,
            dispatch_id=dispatch.pk,
        ),
        Finding(
            key=f"dispatch:{dispatch.pk}:prediction_drift",
            rule=Rule.PREDICTION_DRIFT,
            subject=subject,
            failing=bool(latest and latest.prediction_drift),
            detail=prediction,
            dispatch_id=dispatch.pk,
        ),
    ]
