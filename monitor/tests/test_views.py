import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db(databases=["default", "events"])


def test_the_monitor_page_lists_databases_and_datasources(viewer_client):
    response = viewer_client.get(reverse("monitor:index"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "default" in html and "events" in html and "demo" in html


def test_it_needs_a_role(client, nobody):
    client.force_login(nobody)
    assert client.get(reverse("monitor:index")).status_code == 403
