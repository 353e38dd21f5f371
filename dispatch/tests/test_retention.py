"""Retention of finished dispatch runs: each dispatch keeps its last."""

import datetime as dt

import pytest
from django.utils import timezone

from dispatch.models import DispatchRun, RunStatus
from dispatch.services import prune_runs
from monitor.drift.report import DriftReport
from monitor.drift.runs import record
from monitor.models import RunDrift

pytestmark = pytest.mark.django_db

NOW = timezone.now()
OLD = NOW - dt.timedelta(days=400)


def _run(dispatch, status=RunStatus.SUCCEEDED, finished=OLD):
    return DispatchRun.objects.create(
        dispatch=dispatch, status=status, finished=finished
    )


def test_old_finished_runs_go_but_each_dispatch_keeps_its_last(make_dispatch):
    first, second = make_dispatch(), make_dispatch()
    old = [_run(first), _run(first, RunStatus.FAILED), _run(first, RunStatus.SKIPPED)]
    running = _run(first, RunStatus.RUNNING, finished=None)
    recent = _run(first, finished=NOW)
    only = _run(second)  # old, but the last of its dispatch
    assert prune_runs(NOW - dt.timedelta(days=365), batch=2) == 3
    left = set(DispatchRun.objects.values_list("pk", flat=True))
    assert left == {running.pk, recent.pk, only.pk}
    assert not DispatchRun.objects.filter(pk__in=[r.pk for r in old]).exists()


def test_a_pruned_run_takes_its_drift_report_along(make_dispatch, tiny_classifier):
    dispatch = make_dispatch(model=tiny_classifier.model)
    old = _run(dispatch)
    record(old, tiny_classifier, DriftReport(state="no reference: test"))
    _run(dispatch, finished=NOW)
    assert prune_runs(NOW - dt.timedelta(days=365), batch=10) == 1
    assert not RunDrift.objects.exists()
