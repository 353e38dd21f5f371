"""Alert rules and their delivery.

Each watched condition is a Finding (failing or not). `evaluate` keeps one
AlertState per condition: an alert is sent once the condition has failed for
longer than its grace time, never again while it keeps failing, and a
recovery notice is sent once it is over. Every alert and recovery is also an
event. Mail goes through Django's mail backend (console by default, SMTP by
config.yaml); a webhook, when configured, receives the same alert as JSON.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import models
from django.db.models import F, Q
from django.dispatch import Signal
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from mlframework.events.log import log_event
from mlframework.lib.redact import redact
from monitor.models import AlertState, AlertStatus, Rule
from monitor.probes import Result, Status

SOURCE = "monitor"
# Sent with each Notice that fired (after delivery); registry.retraining
# starts drift- and metric-triggered retrains from it.
alert_fired = Signal()


@dataclass(frozen=True)
class Finding:
    key: str  # stable identity of the condition, e.g. "host:web"
    rule: str  # a Rule value
    subject: str  # what it is about, in words: "host web (10.0.0.5:22)"
    failing: bool
    detail: str = ""  # what is wrong (or, when not failing, what is right)
    grace: timedelta = timedelta(0)
    dispatch_id: int | None = None
    data: dict = field(default_factory=dict)


class NoticeState(models.TextChoices):
    FIRED = "fired", gettext_lazy("Fired")
    RECOVERED = "recovered", gettext_lazy("Recovered")


@dataclass(frozen=True)
class Notice:
    state: NoticeState
    key: str
    rule: str
    subject: str
    detail: str
    at: datetime
    dispatch_id: int | None = None

    @property
    def title(self) -> str:
        """The mail subject, in the active language (the detail and the
        subject are as the monitor wrote them, in web.language)."""
        rule = Rule(self.rule).label if self.rule in Rule.values else self.rule
        words = {"rule": rule, "subject": self.subject}
        if self.state == NoticeState.FIRED:
            return "[mlframework] " + _("ALERT %(rule)s: %(subject)s") % words
        return "[mlframework] " + _("recovered %(rule)s: %(subject)s") % words

    def body(self) -> str:
        lines = [
            self.title.removeprefix("[mlframework] "),
            "",
            self.detail or _("(no detail)"),
            "",
            _("Condition: %(key)s") % {"key": self.key},
            _("At: %(at)s") % {"at": self.at.isoformat(timespec="seconds")},
        ]
        if self.state == NoticeState.FIRED:
            lines.append(_("You will not be alerted again until it recovers."))
        return "\n".join(lines)

    def payload(self) -> dict:
        return {
            "source": "mlframework",
            "state": self.state,
            "key": self.key,
            "rule": self.rule,
            "subject": self.subject,
            "detail": self.detail,
            "dispatch_id": self.dispatch_id,
            "at": self.at.isoformat(),
        }


# --------------------------------------------------------------------------
# Findings from the probes
# --------------------------------------------------------------------------


def probe_findings(results: list[Result]) -> list[Finding]:
    grace = timedelta(minutes=settings.CONFIG.alerts.down_grace_minutes)
    findings = []
    for result in results:
        rule = {"host": Rule.HOST_DOWN, "service": Rule.SERVICE_DOWN}.get(
            result.kind, Rule.DATABASE_DOWN
        )
        if result.ok:
            detail = _("up, answered in %(ms)s ms") % {"ms": result.ms}
        else:
            detail = f"{Status(result.status).label}: {result.error}"
        findings.append(
            Finding(
                key=result.key,
                rule=rule,
                subject=_("%(kind)s %(name)s (%(target)s)")
                % {
                    "kind": _kind_words(result.kind),
                    "name": result.name,
                    "target": result.target,
                },
                failing=not result.ok and result.alerts,
                detail=detail,
                grace=grace,
            )
        )
    return findings


def _kind_words(kind: str) -> str:
    return {
        "host": _("host"),
        "database": _("database"),
        "datasource": _("datasource"),
        "service": _("service"),
    }.get(kind, kind)


# --------------------------------------------------------------------------
# The state machine
# --------------------------------------------------------------------------


def evaluate(findings: list[Finding], now: datetime | None = None) -> list[Notice]:
    """Update the alert states and send what is due. Returns what was sent."""
    now = now or timezone.now()
    notices = []
    for finding in findings:
        notice = _step(finding, now)
        if notice:
            deliver(notice)
            notices.append(notice)
            if notice.state == NoticeState.FIRED:
                alert_fired.send_robust(sender=Notice, notice=notice)
    return notices


def forget_unwatched(findings: list[Finding], now: datetime | None = None) -> int:
    """Close the states of conditions no longer watched (a host taken out of
    config.yaml, a deleted dispatch), so they do not stay open forever."""
    keys = [finding.key for finding in findings]
    return (
        AlertState.objects.exclude(key__in=keys)
        .exclude(status=AlertStatus.OK)
        .update(
            status=AlertStatus.OK,
            failing_since=None,
            checked_at=now or timezone.now(),
            detail=_("no longer watched"),
        )
    )


def _step(finding: Finding, now: datetime) -> Notice | None:
    state, _ = AlertState.objects.get_or_create(
        key=finding.key,
        defaults={
            "rule": finding.rule,
            "subject": finding.subject[:200],
            "dispatch_id": finding.dispatch_id,
            "checked_at": now,
        },
    )
    common = {
        "rule": finding.rule,
        "subject": finding.subject[:200],
        "dispatch_id": finding.dispatch_id,
        "checked_at": now,
        "detail": finding.detail,
    }
    mine = AlertState.objects.filter(pk=state.pk)
    if not finding.failing:
        # Claiming the transition with a conditional UPDATE makes overlapping
        # monitor runs harmless: only the one that flips the row notifies.
        recovered = mine.filter(status=AlertStatus.FIRING).update(
            status=AlertStatus.OK, failing_since=None, recovered_at=now, **common
        )
        mine.update(status=AlertStatus.OK, failing_since=None, **common)
        return _notice(NoticeState.RECOVERED, finding, now) if recovered else None
    mine.filter(failing_since__isnull=True).update(failing_since=now)
    state.refresh_from_db()
    if state.status == AlertStatus.FIRING:
        mine.update(**common)
        return None
    if now - state.failing_since < finding.grace:
        mine.update(status=AlertStatus.PENDING, **common)
        return None
    fired = mine.filter(~Q(status=AlertStatus.FIRING)).update(
        status=AlertStatus.FIRING,
        fired_at=now,
        times_fired=F("times_fired") + 1,
        **common,
    )
    if not fired:
        return None
    return _notice(NoticeState.FIRED, finding, now)


def _notice(state: NoticeState, finding: Finding, now: datetime) -> Notice:
    return Notice(
        state=state,
        key=finding.key,
        rule=finding.rule,
        subject=finding.subject,
        detail=finding.detail,
        at=now,
        dispatch_id=finding.dispatch_id,
    )


# --------------------------------------------------------------------------
# Delivery
# --------------------------------------------------------------------------


def deliver(notice: Notice) -> list[str]:
    """Log the alert as an event, mail it and post it. Returns delivery errors."""
    config = settings.CONFIG.alerts
    log_event(
        SOURCE,
        f"alert.{notice.state}",
        notice.title.removeprefix("[mlframework] ") + f": {notice.detail}",
        level="error" if notice.state == NoticeState.FIRED else "info",
        data=notice.payload(),
    )
    errors = []
    for language, addresses in recipients_by_language(config.email_to).items():
        # One mail per language: each reader gets the alert in their own.
        with translation.override(language):
            subject, body = notice.title, notice.body()
        try:
            send_mail(subject, body, config.email_from, addresses, fail_silently=False)
        except Exception as exc:
            errors.append(f"mail: {redact(exc)}")
    if config.webhook_url:
        try:
            post_webhook(config.webhook_url, notice.payload(), config.webhook_timeout)
        except WebhookError as exc:
            errors.append(f"webhook: {exc}")
    for error in errors:
        log_event(
            SOURCE,
            "alert.delivery_failed",
            f"Alert {notice.key} could not be delivered by {error}",
            level="error",
            data={"key": notice.key, "state": notice.state},
        )
    AlertState.objects.filter(key=notice.key).update(delivery_error="\n".join(errors))
    return errors


def recipient_language(address: str) -> str:
    """The language of the user with this e-mail address: their own choice
    (their profile's language, once they made one), else web.language."""
    user = get_user_model().objects.filter(email__iexact=address).first()
    # A user without a profile has none: the related accessor raises
    # AttributeError's subclass, which getattr turns into None.
    profile = getattr(user, "profile", None) if user else None
    chosen = getattr(profile, "language", "") or ""
    codes = {code for code, _name in settings.LANGUAGES}
    return chosen if chosen in codes else settings.LANGUAGE_CODE


def recipients_by_language(addresses) -> dict[str, list[str]]:
    """The alert addresses grouped by the language each reads, in order."""
    grouped: dict[str, list[str]] = {}
    for address in addresses:
        grouped.setdefault(recipient_language(address), []).append(address)
    return grouped


class WebhookError(Exception):
    """The webhook did not accept an alert."""


def post_webhook(url: str, payload: dict, timeout: float) -> None:
    if not url.lower().startswith(("http://", "https://")):
        raise WebhookError("the webhook URL must start with http:// or https://")
    request = urllib.request.Request(  # noqa: S310 (scheme checked above)
        url,
        data=json.dumps(payload).encode(),
        headers={
            "Content-Type": "application/json",
            "User-Agent": "mlframework-monitor",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read(1024)
    except urllib.error.HTTPError as exc:
        raise WebhookError(f"the webhook answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        # The URL itself may hold a token: never repeat it.
        raise WebhookError(f"the webhook is unreachable ({redact(reason)})") from None
