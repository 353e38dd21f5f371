"""The API usage page: login, the VIEW role, GET only, its form's checks, and
its figures, charts' data and link from the Monitor."""

import datetime as dt
import json

import pytest
from django.utils import timezone

from mlframework.usage.models import ApiRequest

pytestmark = pytest.mark.django_db(databases=["default", "events"])

URL = "/monitor/api-usage/"


@pytest.fixture
def recent():
    now = timezone.now()
    ApiRequest.objects.bulk_create(
        ApiRequest(
            at=now - dt.timedelta(minutes=i),
            username=user,
            endpoint="showroom-api:predict",
            model_name="penguins",
            method="POST",
            status=status,
            duration_ms=ms,
        )
        for i, (user, status, ms) in enumerate(
            [
                ("ana", 200, 10.0),
                ("ana", 200, 30.0),
                ("ana", 400, 20.0),
                ("bob", 503, 5.0),
            ]
        )
    )
    # Older than the default period of a day: not shown.
    ApiRequest.objects.create(
        at=now - dt.timedelta(days=3),
        username="carl",
        endpoint="e",
        method="GET",
        status=200,
        duration_ms=1.0,
    )


def test_it_shows_the_figures_per_user(viewer_client, recent):
    response = viewer_client.get(URL)
    assert response.status_code == 200
    totals = response.context["usage"].totals
    assert list(totals) == ["ana", "bob"]
    assert (totals["ana"].requests, totals["ana"].errors) == (3, 1)
    assert totals["ana"].p50_ms == 20.0
    assert totals["bob"].server_errors == 1
    html = response.content.decode()
    assert 'data-key="ana"' in html and "carl" not in html
    assert 'id="usage-data"' in html and "usage/usage.js" in html
    assert "<script>" not in html  # CSP: data only, no inline code


def test_the_chart_data_is_in_a_json_block(viewer_client, recent):
    response = viewer_client.get(URL, {"period": "1d", "grouping": "hour"})
    chart = response.context["chart"]
    assert len(chart["labels"]) in (24, 25)
    assert sum(chart["series"][0]["requests"]) == 3
    html = response.content.decode()
    block = html.split('id="usage-data" type="application/json">', 1)[1].split(
        "</script>", 1
    )[0]
    assert json.loads(block) == chart


def test_per_model_per_day_over_a_month(viewer_client, recent):
    response = viewer_client.get(
        URL, {"period": "30d", "grouping": "day", "by": "model"}
    )
    assert response.status_code == 200
    totals = response.context["usage"].totals
    assert totals["penguins"].requests == 4
    assert totals["(no model)"].requests == 1  # carl's, three days ago


def test_an_empty_period_says_so(viewer_client):
    response = viewer_client.get(URL)
    assert response.status_code == 200
    assert b'data-testid="usage-empty"' in response.content
    assert b"chart.umd.min.js" not in response.content


def test_it_needs_a_login(client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_needs_the_view_role(client, nobody):
    client.force_login(nobody)
    assert client.get(URL).status_code == 403


def test_it_answers_only_get(viewer_client):
    assert viewer_client.post(URL).status_code == 405


@pytest.mark.parametrize(
    ("params", "field", "words"),
    [
        ({"period": "99d"}, "period", "Select a valid choice"),
        ({"by": "ip"}, "by", "Select a valid choice"),
        ({"grouping": "week"}, "grouping", "Select a valid choice"),
        ({"period": "30d", "grouping": "hour"}, "grouping", "at most 7 days"),
    ],
)
def test_bad_choices_get_400_naming_the_field(viewer_client, params, field, words):
    response = viewer_client.get(URL, params)
    assert response.status_code == 400
    assert words in " ".join(response.context["form"].errors[field])
    assert words in response.content.decode()
    assert "usage" not in response.context or response.context.get("usage") is None


def test_the_monitor_links_to_it(viewer_client):
    html = viewer_client.get("/monitor/").content.decode()
    assert f'href="{URL}"' in html
