"""Fairness reports of stored versions: chosen later on the version page or
the API, computed in the task queue on the version's held-out rows.

In the queue, not the web request: rebuilding the held-out rows reads the
whole dataset and predicts them, seconds to minutes on big files.
"""

from __future__ import annotations

import logging

import pandas as pd
from django.db import transaction
from django.utils.translation import gettext as _
from django_tasks import task

from mlframework.events.log import log_event
from registry import datasets, fairness, training
from registry.errors import FairnessError, RegistryError
from registry.jobs import QUEUE
from registry.models import ModelVersion, VersionFairness

SOURCE = "registry"
logger = logging.getLogger(__name__)


def candidate_columns(version: ModelVersion) -> list[str]:
    """The columns of the version's dataset that can be sensitive ones."""
    columns = version.lineage.dataset.columns or []
    return [str(c) for c in columns if str(c) != version.label]


def request(
    version: ModelVersion, sensitive: list[str], *, user=None
) -> VersionFairness:
    """Queue the fairness of `version` on `sensitive`; FairnessError, with
    nothing saved, when it cannot be computed."""
    if not version.is_ready:
        raise FairnessError(
            _("%(version)s is %(status)s; its fairness cannot be computed.")
            % {"version": version, "status": version.get_status_display().lower()}
        )
    if version.dataset is None:
        raise FairnessError(
            _(
                "The held-out rows of %(version)s cannot be rebuilt: it was not "
                "trained from a stored dataset, or the dataset was deleted."
            )
            % {"version": version}
        )
    fairness.check_columns(
        version, [*candidate_columns(version), version.label], list(sensitive)
    )
    row = fairness.stored(version)
    if row is not None and row.is_busy:
        raise FairnessError(
            _("The fairness of %(version)s is already being computed.")
            % {"version": version}
        )
    with transaction.atomic():
        row, _created = VersionFairness.objects.update_or_create(
            version=version,
            defaults={
                "sensitive": list(sensitive),
                "status": VersionFairness.Status.QUEUED,
                "error": "",
                "requested_by": user if getattr(user, "pk", None) else None,
            },
        )
        transaction.on_commit(lambda: compute_version_fairness.enqueue(version.pk))
    log_event(
        SOURCE,
        "version.fairness_queued",
        f"{version}: fairness per group on {', '.join(sensitive)} queued",
        user=user,
        model_version=version,
        data={"sensitive": list(sensitive)},
    )
    return row


def holdout_rows(version: ModelVersion, sensitive: list[str]) -> pd.DataFrame:
    """The version's held-out rows with its sensitive columns, which the
    model may not use (excluded at training), joined back by row."""
    if version.dataset is None:
        raise FairnessError(
            _("%(version)s has no stored dataset to rebuild its held-out rows from.")
            % {"version": version}
        )
    frame = datasets.read_frame(version.dataset)
    for name in sensitive:
        if name not in frame.columns:
            raise FairnessError(
                _(
                    "The sensitive column %(column)s is not in the dataset of "
                    "%(version)s."
                )
                % {"column": name, "version": version},
                column=name,
            )
    _train, test = training.stored_split(version, frame=frame)
    extra = [name for name in sensitive if name not in test.columns]
    return test.join(frame.loc[test.index, extra]) if extra else test


def compute(
    version: ModelVersion, sensitive: list[str], *, user=None
) -> VersionFairness:
    """Compute and store now; a failure is stored (and logged) as such."""
    VersionFairness.objects.update_or_create(
        version=version,
        defaults={
            "sensitive": list(sensitive),
            "status": VersionFairness.Status.RUNNING,
        },
    )
    try:
        rows = holdout_rows(version, sensitive)
        report = fairness.evaluate(version, rows, sensitive, seed=version.lineage.seed)
    except RegistryError as exc:
        return _failed(version, sensitive, str(exc), user)
    except Exception as exc:  # the page must say something, whatever broke
        logger.exception("fairness of %s failed", version)
        return _failed(
            version, sensitive, f"Unexpected error: {type(exc).__name__}: {exc}", user
        )
    row = fairness.save(version, report, user=user)
    log_event(
        SOURCE,
        "version.fairness_measured",
        f"{version}: fairness per group on {', '.join(sensitive)} measured "
        f"on {report.rows} held-out rows (worst gap {report.worst_gap()})",
        user=user,
        model_version=version,
        data={"sensitive": list(sensitive), "worst_gap": report.worst_gap()},
    )
    return row


def _failed(version, sensitive, error: str, user) -> VersionFairness:
    row = fairness.save_failure(version, sensitive, error, user=user)
    log_event(
        SOURCE,
        "version.fairness_failed",
        f"{version}: fairness per group could not be measured: {error}",
        level="error",
        user=user,
        model_version=version,
    )
    return row


@task(queue_name=QUEUE)
def compute_version_fairness(version_id: int) -> str:
    version = ModelVersion.objects.select_related("model", "dataset").get(pk=version_id)
    row = fairness.stored(version)
    sensitive = list(row.sensitive) if row is not None else []
    user = row.requested_by if row is not None else None
    return compute(version, sensitive, user=user).status
