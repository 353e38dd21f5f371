import pytest
from django.contrib.auth.models import Group, User
from django.core.management import call_command
from django.urls import reverse

from mlframework.events.models import Event

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_ensure_admin_generates_and_prints_a_password_once(capsys, monkeypatch):
    monkeypatch.delenv("MLFRAMEWORK_ADMIN_PASSWORD", raising=False)
    call_command("ensure_admin")
    out = capsys.readouterr().out
    password = out.split("with password ")[1].split()[0]
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password(password)
    call_command("ensure_admin")
    assert "already exists" in capsys.readouterr().out
    event = Event.objects.using("events").get(kind="admin.created")
    assert password not in event.message


def test_ensure_admin_takes_the_password_from_the_environment(capsys, monkeypatch):
    monkeypatch.setenv("MLFRAMEWORK_ADMIN_PASSWORD", "s3cret-enough")
    call_command("ensure_admin", username="boss")
    assert "s3cret-enough" not in capsys.readouterr().out
    assert User.objects.get(username="boss").check_password("s3cret-enough")


def test_an_admin_creates_a_user_and_puts_them_in_a_role(admin_client_):
    response = admin_client_.post(
        reverse("admin:auth_user_add"),
        {
            "username": "newbie",
            "password1": "a-long-enough-pass-123",
            "password2": "a-long-enough-pass-123",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(username="newbie")
    response = admin_client_.post(
        reverse("admin:auth_user_change", args=[user.pk]),
        {
            "username": "newbie",
            "is_active": "on",
            "groups": [Group.objects.get(name="analyst").pk],
            "date_joined_0": "2026-01-01",
            "date_joined_1": "00:00:00",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    assert user.groups.filter(name="analyst").exists()


def test_non_staff_cannot_use_the_admin(viewer_client):
    response = viewer_client.get(reverse("admin:auth_user_changelist"))
    assert response.status_code == 302
    assert "/admin/login/" in response.url


def test_the_event_log_is_read_only_in_the_admin(admin_client_):
    assert (
        admin_client_.get(reverse("admin:events_event_changelist")).status_code == 200
    )
    assert admin_client_.get(reverse("admin:events_event_add")).status_code == 403
