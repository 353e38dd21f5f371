import datetime as dt
import uuid

import pytest
from django.urls import reverse
from django.utils import timezone

from mlframework.events.log import log_event
from mlframework.events.models import Event

pytestmark = pytest.mark.django_db(databases=["default", "events"])
URL = reverse("events:list")


def make(n, **fields):
    now = timezone.now()
    Event.objects.using("events").bulk_create(
        Event(
            id=uuid.uuid4(),
            created=now - dt.timedelta(seconds=i),
            source=fields.get("source", "core"),
            kind=fields.get("kind", "k"),
            level=fields.get("level", "info"),
            message=fields.get("message", f"event {i}"),
        )
        for i in range(n)
    )


def test_it_lists_events_newest_first(viewer_client):
    log_event("core", "first", "the older one")
    log_event("dispatch", "second", "the newer one")
    response = viewer_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    assert html.index("the newer one") < html.index("the older one")


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"source": "dispatch"}, {"run failed"}),
        ({"kind": "login"}, {"user logged in"}),
        ({"level": "error"}, {"run failed"}),
        ({"q": "LOGGED"}, {"user logged in"}),
    ],
)
def test_it_filters(viewer_client, query, expected):
    log_event("dispatch", "run.failed", "run failed", level="error")
    log_event("core", "login", "user logged in")
    events = viewer_client.get(URL, query).context["result"].events
    assert {e.message for e in events} == expected


def test_it_filters_by_date_range(viewer_client):
    log_event("core", "k", "today")
    Event.objects.using("events").create(
        source="core",
        kind="k",
        message="long ago",
        created=timezone.now() - dt.timedelta(days=30),
    )
    today = timezone.localdate()
    response = viewer_client.get(URL, {"since": today.isoformat()})
    assert [e.message for e in response.context["result"].events] == ["today"]
    old = (today - dt.timedelta(days=29)).isoformat()
    response = viewer_client.get(URL, {"until": old})
    assert [e.message for e in response.context["result"].events] == ["long ago"]


def test_it_pages_without_counting(
    viewer_client, settings, django_assert_max_num_queries
):
    make(120)
    with django_assert_max_num_queries(6):
        first = viewer_client.get(URL).context["result"]
    assert len(first.events) == 50 and first.next_marker
    second = viewer_client.get(URL, {"before": first.next_marker}).context["result"]
    third = viewer_client.get(URL, {"before": second.next_marker}).context["result"]
    assert len(second.events) == 50 and len(third.events) == 20
    assert third.next_marker is None
    seen = [e.id for e in first.events + second.events + third.events]
    assert len(set(seen)) == 120


def test_the_query_count_does_not_grow_with_the_log(
    viewer_client, django_assert_max_num_queries
):
    make(2000)
    with django_assert_max_num_queries(6):
        viewer_client.get(URL, {"source": "core", "q": "event"})


def test_htmx_requests_get_only_the_table(viewer_client):
    log_event("core", "k", "partial")
    response = viewer_client.get(URL, HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "partial" in html and "<html" not in html


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"level": "loud"}, "level", "Select a valid choice"),
        ({"since": "yesterday"}, "since", "Enter a valid date"),
        ({"since": "2026-02-02", "until": "2026-02-01"}, "until", "must not be before"),
        ({"before": "garbage"}, "before", "not a valid page marker"),
    ],
)
def test_bad_filters_get_a_clear_message(viewer_client, query, field, message):
    response = viewer_client.get(URL, query)
    assert response.status_code == 400
    assert message in " ".join(response.context["form"].errors[field])


def test_it_requires_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_it_refuses_users_without_a_role(client, nobody):
    client.force_login(nobody)
    assert client.get(URL).status_code == 403


def test_it_refuses_post(viewer_client):
    assert viewer_client.post(URL).status_code == 405
