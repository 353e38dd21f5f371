"""The Monitor page, its live parts and its actions."""

import pytest
from django.test import Client
from django.urls import reverse

from dispatch import crontab
from dispatch import services as dispatch_services
from mlframework.config import HostConfig
from mlframework.events.models import Event
from monitor.models import AlertState, AlertStatus

pytestmark = pytest.mark.django_db(databases=["default", "events"])

HTMX = {"HTTP_HX_REQUEST": "true"}


def dispatch_events(kind):
    return list(Event.objects.using("events").filter(source="dispatch", kind=kind))


# -- the page and its parts ---------------------------------------------------


def test_the_page_lists_checks_schedules_and_alerts(
    viewer_client, make_dispatch, use_config, listening_port
):
    use_config(hosts=[HostConfig(name="api", host="127.0.0.1", port=listening_port)])
    dispatch = make_dispatch(cron="30 6 * * *", timezone="America/Sao_Paulo")
    AlertState.objects.create(
        key="host:old",
        rule="host_down",
        subject="host old",
        status="firing",
        detail="connection refused",
    )
    response = viewer_client.get(reverse("monitor:index"))
    assert response.status_code == 200
    html = response.content.decode()
    for text in ("default", "events", "demo", "api", f"127.0.0.1:{listening_port}"):
        assert text in html
    assert dispatch.name in html and "America/Sao_Paulo" in html
    assert 'data-state="paused"' in html
    assert "connection refused" in html  # the open alert
    assert "Every critical check passes." in html
    assert "Every schedule is on time and matches the crontab." in html
    assert 'hx-get="/monitor/checks/"' in html
    assert 'hx-trigger="mlf-refresh"' in html  # polled by static/monitor/monitor.js
    assert "Pause all" not in html  # superusers only
    assert 'name="enable"' not in html  # viewers get no buttons


def test_ten_unreachable_hosts_cost_the_page_about_one_timeout(
    viewer_client, use_config, full_backlog_port
):
    import time

    timeout = 0.6
    use_config(
        hosts=[
            HostConfig(
                name=f"h{i}", host="127.0.0.1", port=full_backlog_port, timeout=timeout
            )
            for i in range(10)
        ]
    )
    started = time.perf_counter()
    response = viewer_client.get(reverse("monitor:index"))
    elapsed = time.perf_counter() - started
    assert response.content.decode().count("no answer within 0.6 s") == 10
    assert elapsed < 3 * timeout  # one after another: 10 x 0.6 = 6 s


@pytest.mark.parametrize("name", ["checks", "schedules", "alerts"])
def test_each_part_refreshes_alone(viewer_client, name, make_dispatch):
    make_dispatch()
    response = viewer_client.get(reverse(f"monitor:{name}"))
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<section")
    assert f'id="{name}"' in html
    assert "<html" not in html


@pytest.mark.parametrize("name", ["index", "checks", "schedules", "alerts"])
def test_reading_needs_login_and_a_role(client, nobody, name):
    url = reverse(f"monitor:{name}")
    assert client.get(url).status_code == 302
    client.force_login(nobody)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("name", ["index", "checks", "schedules", "alerts"])
def test_reading_refuses_post(viewer_client, name):
    assert viewer_client.post(reverse(f"monitor:{name}")).status_code == 405


def test_an_operator_sees_the_buttons(operator_client, make_dispatch):
    make_dispatch()
    html = operator_client.get(reverse("monitor:index")).content.decode()
    assert 'name="enable"' in html and "reason (optional)" in html


# -- enable / disable ----------------------------------------------------------


def test_an_operator_pauses_a_dispatch_with_a_reason(
    operator_client, make_dispatch, operator
):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, operator)
    assert dispatch.pk in crontab.managed_entries()
    response = operator_client.post(
        reverse("monitor:disable", args=[dispatch.pk]), {"reason": "source DB upgrade"}
    )
    assert response.status_code == 302 and response.url == reverse("monitor:index")
    dispatch.refresh_from_db()
    assert not dispatch.enabled
    assert dispatch.paused_by == operator and dispatch.paused_at
    assert dispatch.pause_reason == "source DB upgrade"
    assert dispatch.pk not in crontab.managed_entries()
    [event] = dispatch_events("disabled")
    assert "source DB upgrade" in event.message and event.username == "otto"
    page = operator_client.get(reverse("monitor:index")).content.decode()
    assert "paused: its crontab line is removed" in page
    assert "by otto" in page and "source DB upgrade" in page


def test_an_operator_enables_a_dispatch_over_htmx(operator_client, make_dispatch):
    dispatch = make_dispatch()
    response = operator_client.post(
        reverse("monitor:enable", args=[dispatch.pk]), {"reason": ""}, **HTMX
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert html.lstrip().startswith("<section") and 'id="schedules"' in html
    assert f"Dispatch {dispatch.name} enabled" in html
    assert 'data-state="enabled"' in html
    dispatch.refresh_from_db()
    assert dispatch.enabled and dispatch.paused_at is None
    assert crontab.managed_entries()[dispatch.pk] == crontab.line_for(dispatch)
    assert len(dispatch_events("enabled")) == 1


def test_a_viewer_cannot_pause(viewer_client, make_dispatch, operator):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, operator)
    response = viewer_client.post(reverse("monitor:disable", args=[dispatch.pk]))
    assert response.status_code == 403
    dispatch.refresh_from_db()
    assert dispatch.enabled and dispatch.pk in crontab.managed_entries()


@pytest.mark.parametrize("name", ["enable", "disable"])
def test_actions_refuse_get(operator_client, make_dispatch, name):
    dispatch = make_dispatch()
    response = operator_client.get(reverse(f"monitor:{name}", args=[dispatch.pk]))
    assert response.status_code == 405


def test_an_unknown_dispatch_is_404(operator_client):
    assert (
        operator_client.post(reverse("monitor:enable", args=[999999])).status_code
        == 404
    )


def test_a_too_long_reason_is_refused_and_changes_nothing(
    operator_client, make_dispatch, operator
):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, operator)
    url = reverse("monitor:disable", args=[dispatch.pk])
    response = operator_client.post(url, {"reason": "x" * 501}, **HTMX)
    assert response.status_code == 400
    assert (
        "Nothing changed: the reason Ensure this value has at most 500 characters"
        in response.content.decode()
    )
    dispatch.refresh_from_db()
    assert dispatch.enabled and dispatch.pk in crontab.managed_entries()
    assert dispatch_events("disabled") == []
    response = operator_client.post(url, {"reason": "two\nlines"}, follow=True)
    assert "the reason must be one line of text" in response.content.decode()
    dispatch.refresh_from_db()
    assert dispatch.enabled


def test_actions_need_the_csrf_token(operator, make_dispatch):
    dispatch = make_dispatch()
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(reverse("monitor:enable", args=[dispatch.pk]))
    assert response.status_code == 403
    dispatch.refresh_from_db()
    assert not dispatch.enabled


def test_a_crontab_refusal_is_shown_and_rolled_back(operator_client, make_dispatch):
    # 4:30 in Kathmandu is not a whole number of hours from UTC: cron
    # cannot express it, so enabling must fail without enabling.
    dispatch = make_dispatch(cron="30 4 * * *", timezone="Asia/Kathmandu")
    response = operator_client.post(
        reverse("monitor:enable", args=[dispatch.pk]), **HTMX
    )
    assert response.status_code == 409
    assert "Nothing changed:" in response.content.decode()
    dispatch.refresh_from_db()
    assert not dispatch.enabled
    assert dispatch.pk not in crontab.managed_entries()


# -- pause all / resume all ------------------------------------------------------


def test_a_superuser_pauses_and_resumes_everything(
    admin_client_, make_dispatch, superuser
):
    first, second = make_dispatch(), make_dispatch()
    for dispatch in (first, second):
        dispatch_services.enable(dispatch, superuser)
    html = admin_client_.get(reverse("monitor:index")).content.decode()
    assert "Pause all" in html
    response = admin_client_.post(
        reverse("monitor:pause_all"), {"reason": "DB failover"}, **HTMX
    )
    assert "2 dispatches paused." in response.content.decode()
    first.refresh_from_db()
    assert not first.enabled and first.pause_reason == "DB failover"
    entries = crontab.managed_entries()
    assert first.pk not in entries and second.pk not in entries
    response = admin_client_.post(reverse("monitor:resume_all"), **HTMX)
    assert "2 dispatches resumed." in response.content.decode()
    assert {first.pk, second.pk} <= set(crontab.managed_entries())


@pytest.mark.parametrize("name", ["pause_all", "resume_all"])
def test_an_operator_cannot_pause_everything(
    operator_client, make_dispatch, operator, name
):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, operator)
    assert operator_client.post(reverse(f"monitor:{name}")).status_code == 403
    dispatch.refresh_from_db()
    assert dispatch.enabled
    assert operator_client.get(reverse(f"monitor:{name}")).status_code == 405


# -- crontab sync ---------------------------------------------------------------


def test_a_mismatch_is_flagged_and_synced_in_one_click(
    operator_client, make_dispatch, operator
):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, operator)
    crontab.remove(dispatch.pk)
    html = operator_client.get(reverse("monitor:index")).content.decode()
    assert 'id="crontab-mismatch"' in html and "Sync the crontab" in html
    assert "line missing: cron will not run it" in html
    assert f"1 dispatch flagged: {dispatch.name} (crontab line missing" in html
    response = operator_client.post(reverse("monitor:sync"), **HTMX)
    html = response.content.decode()
    assert "Crontab synchronised with the database: 1 added" in html
    assert 'id="crontab-mismatch"' not in html
    assert "Every schedule is on time and matches the crontab." in html
    assert crontab.managed_entries()[dispatch.pk] == crontab.line_for(dispatch)
    [event] = Event.objects.using("events").filter(kind="crontab.synced")
    assert event.username == "otto"


def test_a_viewer_cannot_sync(viewer_client, make_dispatch, operator):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, operator)
    crontab.remove(dispatch.pk)
    assert viewer_client.post(reverse("monitor:sync")).status_code == 403
    assert dispatch.pk not in crontab.managed_entries()


def test_open_alerts_are_listed_and_ok_ones_are_not(viewer_client):
    AlertState.objects.create(
        key="host:a",
        rule="host_down",
        subject="host a",
        status=AlertStatus.PENDING,
        detail="timeout",
    )
    AlertState.objects.create(
        key="host:b", rule="host_down", subject="host b", status=AlertStatus.OK
    )
    html = viewer_client.get(reverse("monitor:alerts")).content.decode()
    assert 'data-alert="host:a"' in html and 'data-alert="host:b"' not in html


def test_a_critical_check_failing_is_said_first(viewer_client, use_config, closed_port):
    host = HostConfig(
        name="api", host="127.0.0.1", port=closed_port, timeout=1, critical=True
    )
    use_config(hosts=[host])
    html = viewer_client.get(reverse("monitor:checks")).content.decode()
    assert "1 critical check failing: host api" in html
