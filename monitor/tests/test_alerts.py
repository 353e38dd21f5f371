"""Alert rules on probes, with frozen time, delivered by mail and webhook."""

import datetime as dt

import pytest
import time_machine
from django.core import mail

from mlframework.config import AlertsConfig, HostConfig
from mlframework.events.models import Event
from monitor import alerts, probes
from monitor.models import AlertState, AlertStatus, Rule

pytestmark = pytest.mark.django_db(databases=["default", "events"])

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def alert_config(use_config, settings):
    def configure(**changes):
        values = {"email_to": ["ops@example.com"], "down_grace_minutes": 5}
        values.update(changes)
        return use_config(alerts=AlertsConfig(**values), hosts=[], datasources={})

    return configure


def host_findings(port):
    result = probes.probe_host("api", "127.0.0.1", port, timeout=1)
    return alerts.probe_findings([result])


def alert_events():
    return list(
        Event.objects.using("events")
        .filter(source="monitor", kind__startswith="alert.")
        .order_by("created")
    )


def test_a_host_down_alerts_only_after_its_grace_time(
    alert_config, closed_port, webhook
):
    alert_config(webhook_url=webhook.url)
    with time_machine.travel(T0, tick=False):
        assert alerts.evaluate(host_findings(closed_port)) == []
    state = AlertState.objects.get(key="host:api")
    assert state.status == AlertStatus.PENDING
    assert state.failing_since == T0
    assert "connection refused" in state.detail

    with time_machine.travel(T0 + dt.timedelta(minutes=4, seconds=59), tick=False):
        assert alerts.evaluate(host_findings(closed_port)) == []
    assert mail.outbox == [] and webhook.received == []

    with time_machine.travel(T0 + dt.timedelta(minutes=5), tick=False):
        [notice] = alerts.evaluate(host_findings(closed_port))
    assert notice.state == "fired" and notice.rule == Rule.HOST_DOWN
    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert (
        message.subject
        == f"[mlframework] ALERT Host down: host api (127.0.0.1:{closed_port})"
    )
    assert "connection refused" in message.body
    [posted] = webhook.received
    assert posted["json"]["state"] == "fired"
    assert posted["json"]["key"] == "host:api"
    assert posted["headers"]["Content-Type"] == "application/json"
    [event] = alert_events()
    assert event.kind == "alert.fired" and event.level == "error"
    assert event.data["key"] == "host:api"


def test_an_alert_is_not_repeated_until_recovery(
    alert_config, closed_port, listening_port
):
    alert_config(down_grace_minutes=0)
    with time_machine.travel(T0, tick=False):
        assert len(alerts.evaluate(host_findings(closed_port))) == 1
    for minutes in (1, 30, 600):
        with time_machine.travel(T0 + dt.timedelta(minutes=minutes), tick=False):
            assert alerts.evaluate(host_findings(closed_port)) == []
    assert len(mail.outbox) == 1

    # Recovery: one notice, then quiet while it stays up.
    with time_machine.travel(T0 + dt.timedelta(hours=11), tick=False):
        [notice] = alerts.evaluate(host_findings(listening_port))
        assert alerts.evaluate(host_findings(listening_port)) == []
    assert notice.state == "recovered"
    assert mail.outbox[1].subject.startswith("[mlframework] recovered Host down")
    state = AlertState.objects.get(key="host:api")
    assert state.status == AlertStatus.OK and state.failing_since is None
    assert state.recovered_at == T0 + dt.timedelta(hours=11)
    assert state.times_fired == 1

    # A new outage alerts again.
    with time_machine.travel(T0 + dt.timedelta(hours=12), tick=False):
        assert len(alerts.evaluate(host_findings(closed_port))) == 1
    assert AlertState.objects.get(key="host:api").times_fired == 2
    assert [e.kind for e in alert_events()] == [
        "alert.fired",
        "alert.recovered",
        "alert.fired",
    ]


def test_a_blip_shorter_than_the_grace_time_sends_nothing(
    alert_config, closed_port, listening_port
):
    alert_config(down_grace_minutes=5)
    with time_machine.travel(T0, tick=False):
        alerts.evaluate(host_findings(closed_port))
    with time_machine.travel(T0 + dt.timedelta(minutes=3), tick=False):
        alerts.evaluate(host_findings(listening_port))
    with time_machine.travel(T0 + dt.timedelta(minutes=6), tick=False):
        assert alerts.evaluate(host_findings(closed_port)) == []  # grace restarts
    assert mail.outbox == [] and alert_events() == []


def test_a_database_down_uses_the_database_rule(alert_config):
    alert_config(down_grace_minutes=0)
    down = probes.Result("database", "events", "mysql x", "down", 0.1, "refused")
    [finding] = alerts.probe_findings([down])
    assert finding.rule == Rule.DATABASE_DOWN
    assert finding.key == "database:events"
    [notice] = alerts.evaluate([finding])
    assert "Database down" in notice.title


def test_a_failing_webhook_is_an_event_and_mail_still_goes(
    alert_config, closed_port, webhook
):
    webhook.status = 500
    alert_config(down_grace_minutes=0, webhook_url=webhook.url)
    assert len(alerts.evaluate(host_findings(closed_port))) == 1
    assert len(mail.outbox) == 1
    failed = [e for e in alert_events() if e.kind == "alert.delivery_failed"]
    assert len(failed) == 1
    assert "the webhook answered HTTP 500" in failed[0].message
    state = AlertState.objects.get(key="host:api")
    assert "HTTP 500" in state.delivery_error
    assert state.status == AlertStatus.FIRING  # not re-sent on the next pass
    assert alerts.evaluate(host_findings(closed_port)) == []


def test_an_unreachable_webhook_never_repeats_its_url(alert_config, closed_port):
    url = f"http://127.0.0.1:{closed_port}/T0K3N-in-the-path"
    alert_config(down_grace_minutes=0, webhook_url=url)
    alerts.evaluate(host_findings(closed_port))
    [failed] = [e for e in alert_events() if e.kind == "alert.delivery_failed"]
    assert "the webhook is unreachable" in failed.message
    assert "T0K3N" not in failed.message


def test_alerts_go_over_real_smtp_when_configured(
    alert_config, closed_port, smtp_server, settings
):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", smtp_server.port
    alert_config(down_grace_minutes=0, email_to=["ops@example.com", "dev@example.com"])
    alerts.evaluate(host_findings(closed_port))
    [envelope] = smtp_server.received
    assert envelope["to"] == ["<ops@example.com>", "<dev@example.com>"]
    assert "Subject: [mlframework] ALERT Host down" in envelope["data"]


def test_without_recipients_or_webhook_the_alert_is_still_an_event(
    alert_config, closed_port
):
    alert_config(down_grace_minutes=0, email_to=[])
    assert len(alerts.evaluate(host_findings(closed_port))) == 1
    assert mail.outbox == []
    [event] = alert_events()
    assert event.message.startswith("ALERT Host down: host api")


def test_two_overlapping_passes_alert_once(alert_config, closed_port):
    alert_config(down_grace_minutes=0)
    findings = host_findings(closed_port)
    first = alerts.evaluate(findings)
    second = alerts.evaluate(findings)
    assert len(first) == 1 and second == []
    assert len(mail.outbox) == 1


def test_probe_findings_cover_hosts_from_the_config(
    alert_config, use_config, closed_port
):
    alert_config()
    use_config(
        hosts=[HostConfig(name="gone", host="127.0.0.1", port=closed_port, timeout=1)]
    )
    keys = {f.key for f in alerts.probe_findings(probes.run_all())}
    assert {"host:gone", "database:default", "database:events"} <= keys
