"""Alert mails in the reader's language: the recipient's own choice when a
user with that address made one, else config.yaml's web.language; the
webhook's JSON keeps its English keys."""

import datetime as dt

import pytest
import time_machine
from django.core import mail
from django.utils import translation

from mlframework.config import AlertsConfig
from mlframework.core.models import Profile
from monitor import alerts
from monitor.models import Rule

pytestmark = pytest.mark.django_db(databases=["default", "events"])

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
def alert_config(use_config):
    def configure(**changes):
        values = {"email_to": ["ops@example.com"], "down_grace_minutes": 0}
        values.update(changes)
        return use_config(alerts=AlertsConfig(**values), hosts=[], datasources={})

    return configure


def fire(port, language: str):
    """A host found down and alerted, by a monitor pass in `language`
    (the cron process runs in web.language)."""
    from monitor import probes

    with translation.override(language), time_machine.travel(T0, tick=False):
        result = probes.probe_host("api", "127.0.0.1", port, timeout=1)
        return alerts.evaluate(alerts.probe_findings([result]))


def test_the_alert_mail_is_in_portuguese_when_web_language_is(
    alert_config, closed_port, settings
):
    settings.LANGUAGE_CODE = "pt-br"
    alert_config()
    [notice] = fire(closed_port, "pt-br")
    assert notice.rule == Rule.HOST_DOWN
    [message] = mail.outbox
    assert message.to == ["ops@example.com"]
    assert message.subject == (
        f"[mlframework] ALERTA Host fora do ar: host api (127.0.0.1:{closed_port})"
    )
    body = message.body.splitlines()
    assert body[0] == message.subject.removeprefix("[mlframework] ")
    assert body[2].startswith("fora do ar: ")  # the probe's status, translated
    assert "Condição: host:api" in body
    assert "Em: 2026-03-02T09:00:00+00:00" in body
    assert body[-1] == "Você não receberá novo alerta até que a situação se normalize."


def test_the_recovery_mail_is_in_portuguese(
    alert_config, closed_port, listening_port, settings
):
    settings.LANGUAGE_CODE = "pt-br"
    alert_config()
    fire(closed_port, "pt-br")
    fire(listening_port, "pt-br")
    recovered = mail.outbox[-1]
    assert recovered.subject.startswith("[mlframework] normalizado Host fora do ar:")
    assert "no ar, respondeu em" in recovered.body
    assert "Você não receberá" not in recovered.body


def test_an_english_installation_mails_in_english(alert_config, closed_port, settings):
    settings.LANGUAGE_CODE = "en"
    alert_config()
    fire(closed_port, "en")
    [message] = mail.outbox
    assert message.subject.startswith("[mlframework] ALERT Host down: host api")
    assert "You will not be alerted again until it recovers." in message.body


def test_each_recipient_reads_the_alert_in_their_own_language(
    alert_config, closed_port, settings, django_user_model
):
    settings.LANGUAGE_CODE = "en"
    reader = django_user_model.objects.create_user("lia", email="Lia@Example.com")
    Profile.objects.create(user=reader, language="pt-br")
    alert_config(email_to=["ops@example.com", "lia@example.com"])
    fire(closed_port, "en")
    by_address = {tuple(m.to): m for m in mail.outbox}
    assert set(by_address) == {("ops@example.com",), ("lia@example.com",)}
    assert by_address["ops@example.com",].subject.startswith("[mlframework] ALERT ")
    assert by_address["lia@example.com",].subject.startswith("[mlframework] ALERTA ")


def test_recipients_without_a_choice_read_web_language(settings, django_user_model):
    settings.LANGUAGE_CODE = "pt-br"
    django_user_model.objects.create_user("bia", email="bia@example.com")
    assert alerts.recipient_language("bia@example.com") == "pt-br"
    assert alerts.recipient_language("nobody@example.com") == "pt-br"
    assert alerts.recipients_by_language(["a@x.org", "b@x.org"]) == {
        "pt-br": ["a@x.org", "b@x.org"]
    }


def test_the_webhook_keeps_english_keys(alert_config, closed_port, webhook, settings):
    settings.LANGUAGE_CODE = "pt-br"
    alert_config(email_to=[], webhook_url=webhook.url)
    fire(closed_port, "pt-br")
    [posted] = webhook.received
    payload = posted["json"]
    assert set(payload) == {
        "source",
        "state",
        "key",
        "rule",
        "subject",
        "detail",
        "dispatch_id",
        "at",
    }
    assert payload["state"] == "fired" and payload["rule"] == "host_down"
    assert payload["subject"] == f"host api (127.0.0.1:{closed_port})"
