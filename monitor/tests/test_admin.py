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
    assert "1 dispatch(es) paused." in response.content.decode()
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
    assert "2 dispatch(es) paused." in response.content.decode()
    assert Dispatch.objects.filter(enabled=True).count() == 0
    paused_at = Dispatch.objects.get(pk=first.pk).paused_at
    response = act(admin_client_, "resume_every", first)
    assert "2 dispatch(es) resumed." in response.content.decode()
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
