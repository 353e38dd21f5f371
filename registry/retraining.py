"""Retraining policies: fire, snapshot the data, train, compare, promote.

A RetrainRun is the lineage of one firing: policy -> trigger -> data -> job
-> version -> comparison. Triggers only create a queued run (cron through
``manage.py retrain run``, the monitor's drift and metric alerts through
``monitor.alerts.alert_fired``, a "Retrain now" button); the work happens in
the task queue: ``run_retrain`` reads the data and submits the TrainingJob,
``training_finished`` moves the run on, ``compare_retrain`` proposes the new
version against the champion (registry.challengers). Every failure is a run
state with its reason; the champion's alias is only ever moved by propose.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, fields

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from dispatch.models import Dispatch
from dispatch.schedule import ScheduleError, validate, validate_timezone
from mlframework.events.log import log_event
from mlframework.lib import odbc
from monitor.alerts import Notice
from monitor.models import Rule
from registry import challengers, jobs, snapshots
from registry.errors import RegistryError
from registry.models import (
    Dataset,
    ModelVersion,
    RetrainPolicy,
    RetrainRun,
    TrainingJob,
)
from registry.training import AUTO, TrainOptions

SOURCE = "registry"
QUEUE = jobs.QUEUE
Trigger = RetrainPolicy.Trigger
State = RetrainRun.State
# Which alert rules start which policies.
ALERT_TRIGGERS = {
    Rule.DATASET_DRIFT: Trigger.DRIFT,
    Rule.FEATURE_DRIFT: Trigger.DRIFT,
    Rule.METRIC_DECLINE: Trigger.METRIC,
}
# The TrainOptions a policy may override (the label stays the champion's).
OVERRIDABLE = ("eval_metric", "preset", "time_limit", "excluded", "seed", "fast")
AS_OF = re.compile(r":as_of\b")
logger = logging.getLogger(__name__)


class RetrainError(RegistryError):
    """A policy that cannot be saved or run as it is; str() says why and
    ``field`` names the policy field to blame ("" = none)."""

    def __init__(self, message: str, *, field: str = "") -> None:
        super().__init__(message)
        self.field = field


# --- Policies -----------------------------------------------------------------


def check_policy(policy: RetrainPolicy) -> None:
    """RetrainError naming the field when the policy cannot work as set."""
    if policy.trigger == Trigger.SCHEDULE:
        try:
            policy.timezone = validate_timezone(policy.timezone or "UTC")
        except ScheduleError as exc:
            raise RetrainError(str(exc), field="timezone") from None
        try:
            policy.cron = validate(policy.cron)
        except ScheduleError as exc:
            raise RetrainError(str(exc), field="cron") from None
    unknown = sorted(set(policy.overrides or {}) - set(OVERRIDABLE))
    if unknown:
        raise RetrainError(
            _("%(keys)s cannot be overridden (only %(allowed)s)")
            % {"keys": ", ".join(unknown), "allowed": ", ".join(OVERRIDABLE)},
            field="overrides",
        )


def options_for(policy: RetrainPolicy, champion: ModelVersion) -> TrainOptions:
    """The champion's training settings with the policy's overrides on top."""
    job = champion.jobs.order_by("-pk").first()
    if job is not None and job.options:
        known = {f.name for f in fields(TrainOptions)}
        base = TrainOptions(**{k: v for k, v in job.options.items() if k in known})
    else:
        lineage = champion.lineage
        base = TrainOptions(
            label=champion.label,
            problem_type=champion.problem_type or AUTO,
            eval_metric=champion.eval_metric,
            preset=lineage.preset,
            time_limit=int(lineage.time_limit or 0),
            excluded=list(lineage.excluded),
            seed=lineage.seed,
        )
    values = {**base.as_dict(), **(policy.overrides or {}), "alias": None}
    values["label"] = champion.label
    values["excluded"] = list(values.get("excluded") or [])
    return TrainOptions(**values)


# --- Triggers -----------------------------------------------------------------


@dataclass(frozen=True)
class Fired:
    """What a trigger asked for, and the run it gave (queued or skipped)."""

    run: RetrainRun
    queued: bool


def trigger(
    policy: RetrainPolicy,
    kind: str,
    *,
    scheduled_for: dt.datetime | None = None,
    detail: str = "",
    user=None,
) -> Fired:
    """Record a firing of `policy`: a queued run, or a skipped one saying why.

    One active run per model: the run holds the model's id in a unique
    column, so two triggers at once give one retrain whatever the backend.
    """
    when = scheduled_for or timezone.now()
    user = user if getattr(user, "pk", None) else None
    common = {
        "policy": policy,
        "model_id": policy.model_id,
        "trigger": kind,
        "detail": detail[:300],
        "scheduled_for": when,
        "created_by": user,
    }
    reason = _skip_reason(policy, kind, when)
    if not reason:
        try:
            with transaction.atomic():
                run = RetrainRun.objects.create(
                    **common, state=State.QUEUED, active_model=policy.model_id
                )
                transaction.on_commit(lambda: run_retrain.enqueue(run.pk))
        except IntegrityError:
            busy = RetrainRun.objects.filter(active_model=policy.model_id).first()
            reason = _("model %(model)s is already being retrained (run %(run)s)") % {
                "model": policy.model.name,
                "run": busy.pk if busy else "?",
            }
        else:
            _event(
                run,
                "retrain.queued",
                f"queued ({kind}{': ' + detail if detail else ''})",
            )
            return Fired(run, True)
    run = RetrainRun.objects.create(
        **common, state=State.SKIPPED, reason=reason, finished=timezone.now()
    )
    _event(run, "retrain.skipped", f"skipped: {reason}")
    return Fired(run, False)


def _skip_reason(policy: RetrainPolicy, kind: str, when: dt.datetime) -> str:
    if not policy.enabled and kind != Trigger.MANUAL:
        return _("the policy is disabled")
    if kind == Trigger.MANUAL or not policy.min_interval_minutes:
        return ""  # by hand is deliberate: only an active run stops it
    last = policy.runs.exclude(state=State.SKIPPED).order_by("-scheduled_for").first()
    if last is None:
        return ""
    gap = dt.timedelta(minutes=policy.min_interval_minutes)
    if when - last.scheduled_for >= gap:
        return ""
    return _(
        "the minimum interval of %(minutes)s minutes since run %(run)s "
        "(%(at)s) has not passed"
    ) % {
        "minutes": policy.min_interval_minutes,
        "run": last.pk,
        "at": timezone.localtime(last.scheduled_for).strftime("%Y-%m-%d %H:%M"),
    }


def run_scheduled(policy_id: int, now: dt.datetime | None = None) -> Fired:
    """What cron calls: fire a schedule policy for this minute."""
    policy = RetrainPolicy.objects.select_related("model").filter(pk=policy_id).first()
    if policy is None:
        raise RetrainError(_("There is no retrain policy %(id)s.") % {"id": policy_id})
    minute = (now or timezone.now()).replace(second=0, microsecond=0)
    return trigger(policy, Trigger.SCHEDULE, scheduled_for=minute, detail="cron")


def on_alert_fired(sender, notice: Notice, **kwargs) -> list[Fired]:
    """Receiver of monitor.alerts.alert_fired: drift and metric triggers."""
    kind = ALERT_TRIGGERS.get(notice.rule)
    model_id = _alerted_model(notice)
    if kind is None or model_id is None:
        return []
    policies = RetrainPolicy.objects.select_related("model").filter(
        model_id=model_id, trigger=kind, enabled=True
    )
    return [
        trigger(policy, kind, detail=f"{notice.rule}: {notice.subject}")
        for policy in policies
    ]


def _alerted_model(notice: Notice) -> int | None:
    if notice.dispatch_id is not None:
        return (
            Dispatch.objects.filter(pk=notice.dispatch_id)
            .values_list("model_id", flat=True)
            .first()
        )
    found = re.match(r"model:(\d+):", notice.key)  # realised.py's finding key
    return int(found.group(1)) if found else None


# --- The run, in the task queue ---------------------------------------------------


def run(run_id: int) -> str:
    """Read the data and submit the training job; the run's state after."""
    claimed = RetrainRun.objects.filter(pk=run_id, state=State.QUEUED).update(
        state=State.SNAPSHOTTING
    )
    if not claimed:
        return "skipped"  # cancelled while queued, or already run
    retrain = RetrainRun.objects.select_related("policy", "model", "created_by").get(
        pk=run_id
    )
    policy = retrain.policy
    try:
        champion = retrain.model.version_for(policy.alias)
        RetrainRun.objects.filter(pk=run_id).update(champion=champion)
        options = options_for(policy, champion)
        dataset = data_for(policy, champion, retrain)
        RetrainRun.objects.filter(pk=run_id).update(dataset=dataset)
        check_data(dataset, champion, options)
        job = jobs.submit(dataset, retrain.model.name, options, user=retrain.created_by)
    except (RegistryError, odbc.OdbcError) as exc:
        return _fail(run_id, str(exc))
    except Exception as exc:  # the run page must say something, whatever broke
        logger.exception("retrain run %s failed", run_id)
        return _fail(run_id, f"Unexpected error: {type(exc).__name__}: {exc}")
    moved = RetrainRun.objects.filter(pk=run_id, state=State.SNAPSHOTTING).update(
        state=State.TRAINING, job=job
    )
    if not moved:  # cancelled while reading the data
        jobs.cancel(job, user=retrain.created_by)
        return State.CANCELLED
    _event(retrain, "retrain.training", f"training job {job.pk} on {dataset.name}")
    return State.TRAINING


@task(queue_name=QUEUE)
def run_retrain(run_id: int) -> str:
    return run(run_id)


def data_for(policy: RetrainPolicy, champion: ModelVersion, retrain) -> Dataset:
    """The rows to retrain on: the champion's query again (`:as_of` bound to
    the scheduled date) or the newest upload of the champion's dataset."""
    source = champion.dataset
    if source is None:
        raise RetrainError(
            _("%(version)s has no stored dataset to retrain from.")
            % {"version": champion}
        )
    if policy.data == RetrainPolicy.Data.UPLOAD:
        latest = (
            Dataset.objects.filter(name=source.name)
            .exclude(source=Dataset.Source.QUERY)
            .order_by("-created", "-pk")
            .first()
        )
        return latest or source
    if source.source != Dataset.Source.QUERY:
        raise RetrainError(
            _(
                "%(version)s was trained on the upload %(dataset)s, not a query: "
                "choose the latest upload as the policy's data."
            )
            % {"version": champion, "dataset": source.name}
        )
    params = dict(source.params or {})
    if AS_OF.search(source.query):
        params["as_of"] = timezone.localtime(retrain.scheduled_for).date().isoformat()
    dataset, _created = snapshots.snapshot_query(
        source.datasource,
        source.query,
        params=params or None,
        name=f"{retrain.model.name} retrain {params.get('as_of', '')}".strip(),
        user=retrain.created_by,
    )
    return dataset


def check_data(dataset: Dataset, champion: ModelVersion, options: TrainOptions) -> None:
    """RetrainError for data the champion's settings cannot retrain on."""
    where = _("dataset %(name)s (%(rows)s rows)") % {
        "name": dataset.name,
        "rows": dataset.rows,
    }
    if dataset.rows == 0:
        raise RetrainError(_("%(where)s has no rows.") % {"where": where})
    if champion.label not in (dataset.columns or []):
        raise RetrainError(
            _("%(where)s has no column %(label)s, the label of %(version)s.")
            % {"where": where, "label": champion.label, "version": champion}
        )
    was, now = (
        _label_kind(champion.dataset, champion.label),
        _label_kind(dataset, champion.label),
    )
    if was and now and was != now:
        raise RetrainError(
            _(
                "In %(where)s the label %(label)s is %(now)s; %(version)s was "
                "trained on a %(was)s label."
            )
            % {
                "where": where,
                "label": champion.label,
                "now": now,
                "was": was,
                "version": champion,
            }
        )
    the_plan = jobs.check(dataset, options)
    if champion.problem_type and the_plan.problem_type != champion.problem_type:
        raise RetrainError(
            _(
                "In %(where)s the label %(label)s makes a %(now)s problem; "
                "%(version)s is %(was)s."
            )
            % {
                "where": where,
                "label": champion.label,
                "now": the_plan.problem_type,
                "was": champion.problem_type,
                "version": champion,
            }
        )


def _label_kind(dataset: Dataset | None, label: str) -> str:
    if dataset is None:
        return ""
    for column in (dataset.profile or {}).get("columns", []):
        if column.get("name") == label:
            return str(column.get("kind") or "")
    return ""


# --- After training -------------------------------------------------------------


def on_training_finished(
    sender, job: TrainingJob, status: str, error: str, version, **kwargs
):
    """Receiver of registry.jobs.training_finished: the run moves on."""
    retrain = RetrainRun.objects.filter(job_id=job.pk, state=State.TRAINING).first()
    if retrain is None:
        return
    if status == TrainingJob.Status.SUCCEEDED:
        moved = RetrainRun.objects.filter(pk=retrain.pk, state=State.TRAINING).update(
            state=State.COMPARING, version=version
        )
        if moved:
            transaction.on_commit(lambda: compare_retrain.enqueue(retrain.pk))
        return
    if status == TrainingJob.Status.CANCELLED:
        _end(
            retrain.pk,
            State.CANCELLED,
            error=_("training job %(job)s was cancelled") % {"job": job.pk},
        )
        return
    _fail(
        retrain.pk,
        _("training job %(job)s failed: %(error)s") % {"job": job.pk, "error": error},
    )


def compare(run_id: int) -> str:
    """Propose the new version against the champion, by the policy's rule."""
    retrain = RetrainRun.objects.select_related("policy", "version__model").get(
        pk=run_id
    )
    if retrain.state != State.COMPARING or retrain.version is None:
        return "skipped"
    policy = retrain.policy
    try:
        challenge = challengers.propose(
            retrain.version,
            alias=policy.alias,
            rule=rule_for(policy),
            origin=f"retrain run {retrain.pk} ({policy.name}, {retrain.trigger})",
            user=retrain.created_by,
        )
    except Exception as exc:  # the version stands; the comparison failed
        logger.exception("comparison of retrain run %s failed", run_id)
        return _fail(run_id, _("comparison failed: %(error)s") % {"error": exc})
    outcome = str(getattr(challenge, "state", "") or "")
    RetrainRun.objects.filter(pk=run_id).update(
        challenge_id=challenge.pk, outcome=outcome[:300]
    )
    _end(run_id, State.DONE)
    return State.DONE


@task(queue_name=QUEUE)
def compare_retrain(run_id: int) -> str:
    return compare(run_id)


def rule_for(policy: RetrainPolicy) -> challengers.PromotionRule:
    return challengers.PromotionRule(
        min_improvement=policy.min_improvement,
        max_fairness_gap_increase=policy.max_fairness_gap_increase,
        needs_approval=policy.action == RetrainPolicy.Action.CHALLENGER,
    )


def cancel(retrain: RetrainRun, *, user=None) -> RetrainRun:
    """Stop an active run: queued or reading at once, training via its job."""
    if not retrain.is_active:
        raise RetrainError(
            _("Retrain run %(run)s has already ended (%(state)s).")
            % {"run": retrain.pk, "state": retrain.get_state_display()}
        )
    if retrain.job_id and retrain.state == State.TRAINING:
        with_job = TrainingJob.objects.get(pk=retrain.job_id)
        if not with_job.is_finished:
            jobs.cancel(with_job, user=user)  # training_finished ends the run
    else:
        _end(
            retrain.pk,
            State.CANCELLED,
            error=_("cancelled by %(user)s") % {"user": user or "-"},
            only_from=(State.QUEUED, State.SNAPSHOTTING),
        )
    retrain.refresh_from_db()
    return retrain


# --- States -------------------------------------------------------------------


def _fail(run_id: int, error: str) -> str:
    _end(run_id, State.FAILED, error=error)
    return State.FAILED


def _end(run_id: int, state: str, *, error: str = "", only_from=RetrainRun.ACTIVE):
    ended = RetrainRun.objects.filter(pk=run_id, state__in=only_from).update(
        state=state, error=error, finished=timezone.now(), active_model=None
    )
    if ended:
        retrain = RetrainRun.objects.select_related("policy__model").get(pk=run_id)
        level = "error" if state == State.FAILED else "info"
        text = f"{state}" + (f": {error}" if error else "")
        _event(retrain, f"retrain.{state}", text, level=level)


def _event(retrain: RetrainRun, kind: str, text: str, *, level: str = "info") -> None:
    log_event(
        SOURCE,
        kind,
        f"Retrain run {retrain.pk} of {retrain.policy}: {text}",
        level=level,
        user=retrain.created_by,
        model_version=retrain.version,
        data={
            "retrain_run": retrain.pk,
            "policy": retrain.policy_id,
            "trigger": retrain.trigger,
            "job": retrain.job_id,
        },
    )
