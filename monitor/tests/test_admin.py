"""The Monitor's dispatch actions in the admin, and the alert states there."""

import pytest
from django.contrib import admin
from django.urls import reverse

from dispatch import crontab
from dispatch import services as dispatch_services
from dispatch.models import Dispatch
from monitor.admin import DISPATCH_ACTIONS
from monitor.models import AlertState

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def changelist():
    return reverse("admin:dispatch_dispatch_changelist")


def act(client, action, *dispatches):
    return client.post(
        changelist(),
        {"action": action, "_selected_action": [d.pk for d in dispatches]},
        follow=True,
    )


@pytest.fixture
def dispatch_admin():
    model_admin = admin.site._registry.get(Dispatch)
    names = {a.__name__ for a in DISPATCH_ACTIONS}
    if model_admin is None or not names <= {
        getattr(a, "__name__", a) for a in model_admin.actions
    }:
        pytest.skip("the Dispatch admin is the dispatch app's own, without these")
    return model_admin


def test_a_superuser_pauses_and_enables_selected(
    admin_client_, dispatch_admin, make_dispatch, superuser
):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, superuser)
    response = act(admin_client_, "pause_selected", dispatch)
    assert "1 dispatch paused." in response.content.decode()
    dispatch.refresh_from_db()
    assert not dispatch.enabled and dispatch.pause_reason == "from the admin"
    assert dispatch.pk not in crontab.managed_entries()
    paused_at = dispatch.paused_at
    act(admin_client_, "enable_selected", dispatch)
    dispatch.refresh_from_db()
    assert dispatch.enabled and dispatch.pk in crontab.managed_entries()
    assert dispatch.enabled_at > paused_at


def test_pause_every_and_resume_every(
    admin_client_, dispatch_admin, make_dispatch, superuser
):
    first, second = make_dispatch(), make_dispatch()
    for dispatch in (first, second):
        dispatch_services.enable(dispatch, superuser)
    response = act(admin_client_, "pause_every", first)
    assert "2 dispatches paused." in response.content.decode()
    assert Dispatch.objects.filter(enabled=True).count() == 0
    paused_at = Dispatch.objects.get(pk=first.pk).paused_at
    response = act(admin_client_, "resume_every", first)
    assert "2 dispatches resumed." in response.content.decode()
    assert Dispatch.objects.filter(enabled=True).count() == 2
    assert Dispatch.objects.filter(enabled_at__gt=paused_at).count() == 2


def test_sync_from_the_admin(admin_client_, dispatch_admin, make_dispatch, superuser):
    dispatch = make_dispatch()
    dispatch_services.enable(dispatch, superuser)
    crontab.remove(dispatch.pk)
    response = act(admin_client_, "sync_with_crontab", dispatch)
    assert "Crontab synchronised: 1 added" in response.content.decode()
    assert dispatch.pk in crontab.managed_entries()


def test_a_staff_operator_gets_only_the_per_dispatch_actions(
    client, operator, dispatch_admin, rf
):
    from django.contrib.auth.models import Permission

    operator.is_staff = True
    operator.save()
    operator.user_permissions.add(Permission.objects.get(codename="view_dispatch"))
    request = rf.get(changelist())
    request.user = type(operator).objects.get(pk=operator.pk)
    actions = set(dispatch_admin.get_actions(request))
    assert {"enable_selected", "pause_selected", "sync_with_crontab"} <= actions
    assert "pause_every" not in actions and "resume_every" not in actions


def test_alert_states_are_read_only_in_the_admin(admin_client_):
    state = AlertState.objects.create(key="host:a", rule="host_down", subject="a")
    url = reverse("admin:monitor_alertstate_change", args=[state.pk])
    response = admin_client_.get(url)
    assert response.status_code == 200
    assert b'name="detail"' not in response.content  # shown, not editable
    assert admin_client_.get(reverse("admin:monitor_alertstate_add")).status_code == 403


def test_monitoring_settings_are_edited_with_the_page_checks(
    admin_client_, tiny_classifier
):
    from monitor.models import ModelMonitoring

    url = "/admin/monitor/modelmonitoring/add/"
    assert admin_client_.get(url).status_code == 200
    data = {
        "model": tiny_classifier.model.pk,
        "drift_enabled": "on",
        "p_value_threshold": "0.05",
        "distance_threshold": "0.1",
        "drift_share": "0.5",
        "important_features": "3",
        "important_runs": "3",
        "actuals_label_column": "actual",
        "actuals_days": "30",
        "metric_tolerance": "0.05",
        "actuals_datasource": "demo",
        "actuals_query": "DROP TABLE penguins",
    }
    refused = admin_client_.post(url, data)
    assert (
        refused.status_code == 200
        and "The query is refused" in refused.content.decode()
    )
    assert not ModelMonitoring.objects.exists()
    data["actuals_query"] = "SELECT id, species AS actual FROM penguins"
    data["overrides"] = "island = psi"
    assert admin_client_.post(url, data).status_code == 302
    saved = ModelMonitoring.objects.get()
    assert saved.drift_settings["methods"] == {"island": "psi"}
    change = f"/admin/monitor/modelmonitoring/{saved.pk}/change/"
    page = admin_client_.get(change)
    assert page.status_code == 200 and "island = psi" in page.content.decode()
    data["ignored"] = "wingspan"
    refused = admin_client_.post(change, data)
    assert "wingspan: not a feature of the model" in refused.content.decode()


def test_drift_reports_are_read_only_in_the_admin(admin_client_, db):
    assert admin_client_.get("/admin/monitor/rundrift/").status_code == 200
    assert admin_client_.get("/admin/monitor/rundrift/add/").status_code == 403
