"""Retrain policies' crontab lines: one tagged line per enabled schedule policy.

As dispatch/crontab.py: the database is the source of truth, lines are
marked ``<tag>:retrain:<policy id>`` through mlframework.lib.crontab, carry
only ids and run ``scripts/retrain.py <policy id>``; other lines are never
touched.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dispatch.schedule import ScheduleError, for_cron_daemon
from mlframework.lib import crontab as cron_adapter
from mlframework.lib.crontab import CrontabError, create_log
from registry.models import RetrainPolicy

PREFIX = "retrain"


@dataclass
class SyncResult:
    added: list[int] = field(default_factory=list)
    removed: list[int] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)

    def __str__(self) -> str:
        text = f"{len(self.added)} added, {len(self.removed)} removed"
        return text + (f", {len(self.errors)} failed" if self.errors else "")


LINES = cron_adapter.OwnedLines(PREFIX, "scripts/retrain.py")
mark = LINES.mark
log_for = LINES.log_for
managed_entries = LINES.entries
remove = LINES.remove


def wanted(policy: RetrainPolicy) -> bool:
    return policy.enabled and policy.trigger == RetrainPolicy.Trigger.SCHEDULE


def line_for(policy: RetrainPolicy) -> str:
    """The exact line the platform writes for this policy."""
    try:
        schedule = for_cron_daemon(policy.cron, policy.timezone)
        return LINES.line(schedule, policy.pk)
    except (ScheduleError, CrontabError) as exc:
        raise CrontabError(f"retrain policy {policy}: {exc}") from None


def _write(cron, policy: RetrainPolicy) -> None:
    line_for(policy)  # the policy's own error first
    LINES.put(cron, for_cron_daemon(policy.cron, policy.timezone), policy.pk)


def apply(policy: RetrainPolicy) -> bool:
    """Make the policy's line match it (written, rewritten or removed)."""
    if wanted(policy):
        create_log(log_for(policy.pk))
    with cron_adapter.edit() as cron:
        existing = LINES.managed(cron).get(policy.pk, [])
        if wanted(policy):
            line = line_for(policy)
            if len(existing) == 1 and existing[0].render() == line:
                return False
        for job in existing:
            cron.remove(job)
        if wanted(policy):
            _write(cron, policy)
            return True
        return bool(existing)


def sync() -> SyncResult:
    """Make this installation's retrain lines match the database."""
    result = SyncResult()
    policies = {
        p.pk: p
        for p in RetrainPolicy.objects.select_related("model").filter(
            enabled=True, trigger=RetrainPolicy.Trigger.SCHEDULE
        )
    }
    with cron_adapter.edit() as cron:
        installed = LINES.managed(cron)
        for pk, jobs in installed.items():
            if pk not in policies:
                for job in jobs:
                    cron.remove(job)
                result.removed.append(pk)
        for pk, policy in policies.items():
            jobs = installed.get(pk, [])
            try:
                if len(jobs) == 1 and jobs[0].render() == line_for(policy):
                    continue
                for job in jobs:
                    cron.remove(job)
                _write(cron, policy)
            except CrontabError as exc:
                result.errors[pk] = str(exc)
                continue
            result.added.append(pk)
    return result
