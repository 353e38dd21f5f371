"""Realistic stored drift reports for the page and API tests: a real
DriftAccumulator over the penguins, as they were or shifted, against the
tiny model's real reference (built at training), stored with runs.record."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from django.utils import timezone

from dispatch.models import DispatchRun, RunStatus
from monitor.drift import runs
from monitor.drift.accumulator import DriftAccumulator
from monitor.drift.report import DriftReport
from monitor.models import RunDrift
from registry import drift_reference

CHUNK = 100  # rows per batch, as the predict stage hands them over


def shifted(frame: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    """Longer bills and flippers, heavier birds, nearly all from Biscoe."""
    rng = np.random.default_rng(seed)
    out = frame.copy()
    out["bill_length_mm"] = out["bill_length_mm"] * 1.4
    out["flipper_length_mm"] = out["flipper_length_mm"] + 30
    out["body_mass_g"] = out["body_mass_g"] * 1.5
    out["island"] = rng.choice(["Biscoe", "Biscoe", "Dream"], len(out))
    out["species"] = "Gentoo"
    return out


def report_of(version, frame: pd.DataFrame) -> DriftReport:
    accumulator = DriftAccumulator(
        drift_reference.for_version(version),
        importance=version.feature_importance or (),
    )
    features = frame.drop(columns=[c for c in ("id", "species") if c in frame])
    predictions = frame["species"].to_numpy()
    for start in range(0, len(frame), CHUNK):
        accumulator.add(
            features.iloc[start : start + CHUNK], predictions[start : start + CHUNK]
        )
    return accumulator.report()


def stored_run(
    dispatch,
    version,
    frame: pd.DataFrame | None = None,
    *,
    report: DriftReport | None = None,
    hours_ago: float = 0.0,
    **record,
) -> DispatchRun:
    """A finished run of `dispatch` with `version` and its stored drift."""
    when = timezone.now() - dt.timedelta(hours=hours_ago)
    run = DispatchRun.objects.create(
        dispatch=dispatch,
        status=RunStatus.SUCCEEDED,
        model_version=version,
        started=when,
        finished=when,
        rows_read=0 if frame is None else len(frame),
        rows_written=0 if frame is None else len(frame),
    )
    report = report if report is not None else report_of(version, frame)
    found = runs.record(run, version, report, seconds=0.01, **record)
    RunDrift.objects.filter(pk=found.pk).update(created=when)
    return run
