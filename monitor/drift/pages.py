"""Stored drift reports as the pages and the API read them: a run's report,
a version's recent runs as a features x runs heatmap, a feature's reference
vs current distribution. Other apps call these instead of reading RunDrift."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field

from django.db.models import F, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from monitor.drift import methods
from monitor.drift.report import DriftReport, FeatureDrift
from monitor.models import DriftState, RunDrift

DEFAULT_RUNS = 30
MAX_RUNS = 200  # each run's full report is read for the heatmap
SUMMARY_FIELDS = (
    "pk",
    "run_id",
    "version_id",
    "dispatch_id",
    "created",
    "state",
    "reason",
    "rows",
    "drift_share",
    "dataset_drift",
    "prediction_drift",
    "drifted",
    "important_drifted",
    "seconds",
)


class DriftPageError(ValueError):
    """A request the pages cannot answer; `field` names the bad parameter."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


VERDICT_WORDS = {
    "drift": gettext_lazy("drift"),
    "no drift": gettext_lazy("no drift"),
    "not checked": gettext_lazy("not checked"),
}


@dataclass(frozen=True)
class DriftSummary:
    """A run's drift in the figures RunDrift keeps as columns."""

    run_id: int
    version_id: int
    dispatch_id: int
    created: dt.datetime
    state: str
    reason: str
    rows: int
    drift_share: float | None
    dataset_drift: bool
    prediction_drift: bool
    drifted: tuple[str, ...]
    important_drifted: tuple[str, ...]
    seconds: float

    @property
    def checked(self) -> bool:
        return self.state == DriftState.CHECKED

    @property
    def drifting(self) -> bool:
        return self.checked and (self.dataset_drift or self.prediction_drift)

    @property
    def verdict(self) -> str:
        """What the Monitor says: "drift", "no drift" or "not checked"."""
        if not self.checked:
            return "not checked"
        return "drift" if self.drifting else "no drift"

    @property
    def verdict_words(self) -> str:
        """The verdict in the user's language (the API keeps `verdict`)."""
        return str(VERDICT_WORDS[self.verdict])

    @property
    def state_label(self) -> str:
        return str(DriftState(self.state).label)

    @classmethod
    def of(cls, found: RunDrift) -> DriftSummary:
        return cls(
            run_id=found.run_id,
            version_id=found.version_id,
            dispatch_id=found.dispatch_id,
            created=found.created,
            state=found.state,
            reason=found.reason,
            rows=found.rows,
            drift_share=found.drift_share,
            dataset_drift=found.dataset_drift,
            prediction_drift=found.prediction_drift,
            drifted=tuple(found.drifted or ()),
            important_drifted=tuple(found.important_drifted or ()),
            seconds=found.seconds,
        )


@dataclass(frozen=True)
class RunReport(DriftSummary):
    """A run's drift with its whole report (features by importance)."""

    report: DriftReport = field(default_factory=DriftReport)

    @classmethod
    def of(cls, found: RunDrift) -> RunReport:
        summary = DriftSummary.of(found)
        return cls(
            **{name: getattr(summary, name) for name in summary.__dataclass_fields__},
            report=DriftReport.from_json(found.report or {}),
        )


def run_report(run) -> RunReport | None:
    """The drift of a dispatch run; None when it has none (yet)."""
    found = RunDrift.objects.filter(run_id=run.pk).first()
    return RunReport.of(found) if found else None


def version_summaries(version, limit: int = DEFAULT_RUNS) -> list[DriftSummary]:
    """The version's latest runs, newest first, without their reports."""
    rows = RunDrift.objects.filter(version=version).only(*SUMMARY_FIELDS)
    return [DriftSummary.of(found) for found in rows[:limit]]


def version_report(version, run_id: int) -> RunReport:
    """One run's report, refused unless the run scored with this version."""
    found = RunDrift.objects.filter(version=version, run_id=run_id).first()
    if found is None:
        raise DriftPageError(
            "run",
            _("Run %(run)s has no drift report for version %(version)s.")
            % {"run": run_id, "version": version},
        )
    return RunReport.of(found)


def latest_by_dispatch(dispatch_ids) -> dict[int, DriftSummary]:
    """Each dispatch's latest drift, in one query (the Monitor's column)."""
    latest = RunDrift.objects.filter(dispatch_id=OuterRef("dispatch_id")).order_by(
        "-created", "-id"
    )
    rows = (
        RunDrift.objects.filter(dispatch_id__in=list(dispatch_ids))
        .annotate(latest=Subquery(latest.values("pk")[:1]))
        .filter(pk=F("latest"))
        .only(*SUMMARY_FIELDS)
    )
    return {found.dispatch_id: DriftSummary.of(found) for found in rows}


# --------------------------------------------------------------------------
# The Drift page of a version
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class Cell:
    """One feature in one run: its colour class and what hovering says."""

    run_id: int
    level: str  # css class: none, calm, near, drift, strong
    text: str
    title: str


@dataclass(frozen=True)
class HeatRow:
    name: str
    importance: float | None
    cells: tuple[Cell, ...]


@dataclass(frozen=True)
class Distribution:
    """A feature's reference vs current shares per bin or category."""

    name: str
    kind: str
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...]
    note: str = ""

    def chart(self) -> dict:
        return {
            "labels": list(self.labels),
            "reference": list(self.reference),
            "current": list(self.current),
        }


@dataclass(frozen=True)
class HistoryPoint:
    run_id: int
    created: dt.datetime
    feature: FeatureDrift | None  # None: the run's report lacks the feature


@dataclass(frozen=True)
class DriftPage:
    version: object
    runs: tuple[RunReport, ...]  # oldest first, as the charts read
    heatmap: tuple[HeatRow, ...]
    chosen: RunReport | None
    feature: FeatureDrift | None
    distribution: Distribution | None
    history: tuple[HistoryPoint, ...]

    def share_chart(self) -> dict:
        """Dataset drift share per run; null where the run was not checked."""
        return {
            "labels": [_run_label(run) for run in self.runs],
            "share": [run.drift_share if run.checked else None for run in self.runs],
            "threshold": [run.report.drift_share_threshold for run in self.runs],
        }

    def history_chart(self) -> dict:
        return {
            "labels": [f"#{point.run_id}" for point in self.history],
            "score": [_score(point.feature) for point in self.history],
            "threshold": [
                point.feature.threshold if point.feature else None
                for point in self.history
            ],
            "method": self.feature.method if self.feature else "",
        }


def drift_page(
    version, *, runs: int = DEFAULT_RUNS, run_id: int | None = None, feature: str = ""
) -> DriftPage:
    """Everything the Drift page shows; DriftPageError for a run or feature
    the version's recent reports do not have."""
    found = list(RunDrift.objects.filter(version=version)[:runs])
    reports = tuple(RunReport.of(row) for row in reversed(found))
    if not reports:
        if run_id is not None:
            version_report(version, run_id)  # raises: no run has this version
        return DriftPage(version, (), (), None, None, None, ())
    chosen = _chosen(version, reports, run_id)
    names = _feature_order(chosen, reports)
    picked = None
    if feature:
        picked = chosen.report.get(feature)
        if picked is None:
            raise DriftPageError(
                "feature",
                _("Run %(run)s has no feature named %(feature)s.")
                % {"run": chosen.run_id, "feature": feature},
            )
    else:
        picked = next((f for f in chosen.report.features if f.checked), None) or next(
            iter(chosen.report.features), None
        )
    history = (
        tuple(
            HistoryPoint(run.run_id, run.created, run.report.get(picked.name))
            for run in reports
        )
        if picked
        else ()
    )
    return DriftPage(
        version=version,
        runs=reports,
        heatmap=tuple(_heat_row(name, reports) for name in names),
        chosen=chosen,
        feature=picked,
        distribution=distribution(picked) if picked else None,
        history=history,
    )


def _chosen(version, reports: tuple[RunReport, ...], run_id: int | None) -> RunReport:
    if run_id is None:
        checked = [run for run in reports if run.checked]
        return (checked or list(reports))[-1]
    for run in reports:
        if run.run_id == run_id:
            return run
    # An older run than the heatmap covers is still a fine choice.
    return version_report(version, run_id)


def _feature_order(chosen: RunReport, reports) -> list[str]:
    """The chosen run's order (permutation importance), then the features
    only older reports had."""
    names = [f.name for f in chosen.report.features]
    seen = set(names)
    for run in reversed(reports):
        for item in run.report.features:
            if item.name not in seen:
                seen.add(item.name)
                names.append(item.name)
    return names


def _heat_row(name: str, reports) -> HeatRow:
    cells, importance = [], None
    for run in reports:
        item = run.report.get(name)
        if item is not None and item.importance is not None:
            importance = item.importance
        cells.append(_cell(run, item))
    return HeatRow(name, importance, tuple(cells))


def _cell(run: RunReport, item: FeatureDrift | None) -> Cell:
    if not run.checked:
        return Cell(run.run_id, "none", "", _not_checked(run.reason))
    if item is None:
        return Cell(run.run_id, "none", "", _("not in this run's report"))
    if not item.checked or item.score is None:
        return Cell(run.run_id, "none", "", _not_checked(item.state or _("no score")))
    strength = _strength(item)
    if item.drifted:
        level = "strong" if strength >= 2 else "drift"
    else:
        level = "near" if strength >= 0.5 else "calm"
    what = _("p-value") if item.method in methods.P_VALUE_METHODS else _("distance")
    limit = (
        ""
        if item.threshold is None
        else _(" (threshold %(threshold)s)") % {"threshold": f"{item.threshold:.4g}"}
    )
    title = _("run %(run)s: %(method)s %(what)s %(score)s%(limit)s: %(verdict)s") % {
        "run": run.run_id,
        "method": item.method,
        "what": what,
        "score": f"{item.score:.4g}",
        "limit": limit,
        "verdict": _("drifted") if item.drifted else _("no drift"),
    }
    return Cell(run.run_id, level, f"{item.score:.2g}", title)


def _not_checked(why: str) -> str:
    return _("not checked: %(why)s") % {"why": why}


def _strength(item: FeatureDrift) -> float:
    """How far the score is toward (1) or past (>1) the threshold."""
    threshold = item.threshold or 0.0
    if item.method in methods.P_VALUE_METHODS:
        return threshold / max(item.score, 1e-300)
    return item.score / threshold if threshold > 0 else (2.0 if item.score else 0.0)


def distribution(item: FeatureDrift) -> Distribution | None:
    """Shares per bin (numeric, from the reference's quantile edges) or per
    category; None when the report kept no counts for the feature."""
    bins = item.bins or {}
    reference = [float(c) for c in bins.get("reference", ())]
    current = [float(c) for c in bins.get("current", ())]
    if not reference or len(reference) != len(current):
        return None
    if "edges" in bins:
        labels = _bin_labels([float(e) for e in bins["edges"]], len(reference))
    else:
        labels = [str(label) for label in bins.get("labels", ())]
    if len(labels) != len(reference):
        return None
    return Distribution(
        name=item.name,
        kind=item.kind,
        labels=tuple(labels),
        reference=_shares(reference),
        current=_shares(current),
        note=str(bins.get("note", "")),
    )


def _bin_labels(edges: list[float], count: int) -> list[str]:
    if len(edges) == count + 1:
        return [
            _("%(low)s to %(high)s") % {"low": f"{low:.4g}", "high": f"{high:.4g}"}
            for low, high in itertools.pairwise(edges)
        ]
    return [f"{edge:.4g}" for edge in edges[:count]]


def _shares(counts: list[float]) -> tuple[float, ...]:
    total = sum(counts)
    return tuple(round(c / total, 6) if total else 0.0 for c in counts)


def _score(item: FeatureDrift | None) -> float | None:
    return item.score if item is not None and item.checked else None


def _run_label(run: DriftSummary) -> str:
    return f"#{run.run_id} {timezone.localtime(run.created):%m-%d %H:%M}"
